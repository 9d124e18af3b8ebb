"""Planner/reasoner: the team's voice. Answers directly, thinks step by step when asked,
and hands work to a specialist with a `NEXT: role` line."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="planner",
    description="Plans and reasons; answers the user directly or hands a step to a specialist.",
    ready=True,
)
