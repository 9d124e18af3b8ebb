"""Prompt editor: rewrites the roles' prompts, versioned and reversible (arrives with its issue)."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="prompt_editor",
    description="Proposes and applies versioned, reversible edits to the roles' prompts.",
    ready=False,
    triggers=(r"\b(system prompt|your prompt|prompts?)\b", r"プロンプト"),
)
