"""Prompt editor: rewrites the roles' prompts, versioned and reversible.

The prompt editor's tools: view_prompt, edit_prompt, add_rule and rollback_prompt. Edits
pass the prompt book's guardrails and take effect from the next turn.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Literal

from roles.base import Kit, RoleSpec
from society.toolcalls.grounding import Grounding, request_sentences
from society.tools import as_tool

if TYPE_CHECKING:
    from society.prompt_book import PromptBook
    from society.tools.toolbox import Toolbox

Role = Literal[
    "planner", "researcher", "executor", "memory_keeper", "prompt_editor", "data_curator", "evolution_breeder", "judge"
]


def prompt_tools(book: PromptBook) -> list:
    async def view_prompt(role: Annotated[Role, "whose prompt"] = "planner") -> str:
        """Show a role's current prompt and its version. Example: "show the planner's prompt" -> {"role": "planner"}"""
        version = await asyncio.to_thread(book.current, role)
        return f"{role} prompt, version {version.version} ({version.author}: {version.reason}):\n{version.text}"

    async def add_rule(
        rule: Annotated[str, "the instruction, as the user gave it"],
        role: Annotated[Role, "who must follow it; planner answers the user"] = "planner",
        reason: Annotated[str, "why"] = "the user asked",
    ) -> str:
        """Add a standing instruction to a role's prompt, for how to answer from now on.
        Example: "from now on answer in Japanese" -> {"rule": "Answer in Japanese."} (これから, 今後)
        """
        version = await asyncio.to_thread(book.edit, role, reason, "prompt_editor", None, None, None, rule)
        return f"{role} prompt is now version {version.version}; from the next turn it says:\n{version.text}"

    async def edit_prompt(
        role: Annotated[Role, "whose prompt"],
        reason: Annotated[str, "why the edit is needed"],
        new_text: Annotated[str, "the whole new prompt (leave empty to replace a part)"] = "",
        old_text: Annotated[str, "exact text of the prompt to replace"] = "",
        replacement: Annotated[str, "what replaces old_text"] = "",
    ) -> str:
        """Rewrite a role's prompt, whole or one exact part. Example: "make the researcher cite links" ->
        {"role": "researcher", "reason": "...", "old_text": "report briefly", "replacement": "report with links"}
        """
        version = await asyncio.to_thread(
            book.edit, role, reason, "prompt_editor", new_text or None, old_text or None, replacement
        )
        return f"{role} prompt is now version {version.version}; it takes effect from the next turn"

    async def rollback_prompt(
        role: Annotated[Role, "whose prompt"],
        version: Annotated[int, "the version to return to"],
    ) -> str:
        """Return a role's prompt to an earlier version.
        Example: "undo the planner edit" -> {"role": "planner", "version": 1} (元に戻す)
        """
        made = await asyncio.to_thread(book.rollback, role, version, "prompt_editor")
        return f"{role} prompt is now version {made.version}, the text of version {version}"

    return [as_tool(fn) for fn in (view_prompt, add_rule, edit_prompt, rollback_prompt)]


def ground_rule(arguments: dict, request: str) -> Grounding | None:
    """A rule is the user's own words: when the model's rule is not one of the request's
    sentences, it chooses among them (see society/toolcalls/client.py, Grounding)."""
    sentences = request_sentences(request)
    if not sentences or arguments.get("rule") in sentences:
        return None
    return Grounding(properties={"rule": {"enum": sentences}}, note=f"The user said: {sentences[0]}")


def toolbox(kit: Kit) -> Toolbox:
    from society.tools.toolbox import Toolbox

    return Toolbox(prompt_tools(kit.book), {}, kit.guard, kit.notify, grounders={"add_rule": ground_rule})


ROLE = RoleSpec(
    name="prompt_editor",
    description="Proposes and applies versioned, reversible edits to the roles' prompts.",
    ready=True,
    must_act=True,
    toolbox=toolbox,
    triggers=(
        r"\b(system prompt|your prompt|prompts?)\b|\bfrom now on\b|\b(always|never) (answer|reply|respond)\b",
        r"プロンプト|これからは|今後は",
    ),
    required=("keep every edit reversible",),
)
