"""Judge: scores answers for the reward and for evaluation runs (arrives with its issue)."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="judge",
    description="Scores answers against the user's engagement and evaluation rubrics.",
    ready=False,
    triggers=(r"\b(judge|score|rate|grade|evaluate)\b", r"評価|採点"),
    required=("Score an answer from 1 to 10",),
)
