"""Memory keeper: long-term memory through remember, recall, update_memory and forget.

The memory keeper's tools: remember, recall, update_memory and forget (soft).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

from roles.base import Kit, RoleSpec
from society.tools import as_tool

if TYPE_CHECKING:
    from society.memory.bank import MemoryBank
    from society.tools.toolbox import Toolbox

WRITABLE_KINDS = ("fact", "preference", "decision", "note")


def memory_tools(bank: MemoryBank) -> list:
    async def remember(
        content: Annotated[str, "what to remember, as one sentence"],
        kind: Annotated[str, "fact, preference, decision or note"] = "fact",
    ) -> str:
        """Save a fact, preference or decision to long-term memory.
        Example: "remember that my sister lives in Osaka" -> {"content": "My sister lives in Osaka"} (覚えて, 記憶)
        """
        if kind not in WRITABLE_KINDS:
            kind = "note"
        item = await asyncio.to_thread(bank.remember, content, kind, None, "memory_keeper")
        return f"remembered #{item.id} ({item.kind}): {item.content}"

    async def recall(
        query: Annotated[str, "what to look for"],
        limit: Annotated[int, "how many memories"] = 5,
    ) -> str:
        """Search long-term memory.
        Example: "what do you know about my cat" -> {"query": "cat"} (思い出して, 覚えてる)
        """
        # Two searches: the second follows the names the first found (who adopted the dog, then her sister).
        found = await asyncio.to_thread(bank.recall_two_step, query, max(1, min(limit, 20)))
        if not found:
            return "nothing remembered about that"
        return "\n".join(f"#{r.item.id} ({r.item.kind}) {' '.join(r.item.content.split())[:300]}" for r in found)

    async def update_memory(
        memory_id: Annotated[int, "the memory's number, as recall shows it"],
        content: Annotated[str, "the corrected memory"],
    ) -> str:
        """Correct a memory by its number. Example: "no, my sister lives in Kyoto now" after recall showed #12 ->
        {"memory_id": 12, "content": "My sister lives in Kyoto"} (訂正, 修正)
        """
        item = await asyncio.to_thread(bank.update, memory_id, content)
        return f"updated #{item.id}: {item.content}"

    async def forget(memory_id: Annotated[int, "the memory's number, as recall shows it"]) -> str:
        """Stop recalling a memory (it stays in the conversation log).
        Example: "forget #12" -> {"memory_id": 12} (忘れて)
        """
        item = await asyncio.to_thread(bank.forget, memory_id)
        return f"forgot #{item.id}: {item.content[:120]}"

    return [as_tool(fn) for fn in (remember, recall, update_memory, forget)]


def toolbox(kit: Kit) -> Toolbox:
    from society.tools.toolbox import Toolbox

    return Toolbox(memory_tools(kit.bank), {}, kit.guard, kit.notify)


ROLE = RoleSpec(
    name="memory_keeper",
    description="Remembers facts, preferences and decisions, and recalls them when they matter.",
    ready=True,
    must_act=True,
    tool_iterations=2,
    toolbox=toolbox,
    triggers=(r"\b(remember|recall|forget|what did (i|we) say)\b", r"覚えて|思い出|忘れ"),
)
