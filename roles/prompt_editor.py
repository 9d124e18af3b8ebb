"""Prompt editor: rewrites the roles' prompts, versioned and reversible."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="prompt_editor",
    description="Proposes and applies versioned, reversible edits to the roles' prompts.",
    ready=True,
    must_act=True,
    triggers=(
        r"\b(system prompt|your prompt|prompts?)\b|\bfrom now on\b|\b(always|never) (answer|reply|respond)\b",
        r"プロンプト|これからは|今後は",
    ),
    required=("keep every edit reversible",),
)
