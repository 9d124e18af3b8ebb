"""Recall before every answer, through AutoGen's `Memory` protocol: each agent, before it
calls its model, gets the memories relevant to the user's request put into its context.

The recall runs once per request and is shared by every agent of the turn. Chat chunks of the
last few turns are left out: the verbatim history already shows them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from autogen_core import CancellationToken
from autogen_core.memory import Memory, MemoryContent, MemoryMimeType, MemoryQueryResult, UpdateContextResult
from autogen_core.model_context import ChatCompletionContext
from autogen_core.models import SystemMessage, UserMessage

from society.context import MEMORY_PREFIX
from society.memory.bank import MemoryBank, Recalled
from society.storage.store import USER

RECENT_TURNS = 3  # their chunks are in the verbatim history
SHOWN_CHARS = 300  # of one memory, in the prompt


def render(recalled: list[Recalled], budget_chars: int | None = None) -> str:
    """The memories as the model reads them, best first, within `budget_chars` (a slow model
    reads a few lines, a fast one all five)."""
    lines, left = [], budget_chars
    for found in recalled:
        # With the day it was said: "what did she say in May?" is answerable from the lines.
        day = f"[{found.item.when[:10]}] " if found.item.when else ""
        text = day + " ".join(found.item.content.split())[:SHOWN_CHARS]
        if left is not None:
            if lines and len(text) > left:
                break
            text, left = text[: max(left, 80)], left - len(text)
        lines.append(f"- {text}")
    return MEMORY_PREFIX + "\n".join(lines)


class SocietyMemory(Memory):
    def __init__(
        self,
        bank: MemoryBank,
        current_turn: Callable[[], int | None],
        budget_chars: Callable[[], int | None] | None = None,
        history_start: Callable[[], int | None] | None = None,
    ):
        """`budget_chars` sizes the recalled block to the model that reads it;
        `history_start` is the first turn the verbatim history shows (chunks of turns from
        there on are left out: the model reads them already)."""
        self.bank = bank
        self._current_turn = current_turn
        self._budget_chars = budget_chars or (lambda: None)
        self.history_start = history_start or (lambda: None)
        self._cache: tuple[tuple[int | None, str], list[Recalled]] | None = None
        self._lock = asyncio.Lock()
        self.failure: str | None = None

    async def recall(self, query: str) -> list[Recalled]:
        turn = self._current_turn()
        key = (turn, query)
        async with self._lock:
            if self._cache is None or self._cache[0] != key:
                skip = turn - RECENT_TURNS if turn is not None else None
                if skip is not None and (start := self.history_start()) is not None:
                    skip = min(skip, start)
                try:
                    found = await asyncio.to_thread(self.bank.recall, query, None, "hybrid", True, skip)
                except Exception as err:  # noqa: BLE001 - memory must never stop the answer
                    self.failure = f"recall failed ({type(err).__name__}: {err}); answering without memories"
                    self.bank.notify(self.failure)
                    found = []
                self._cache = (key, found)
            return self._cache[1]

    async def update_context(self, model_context: ChatCompletionContext) -> UpdateContextResult:
        messages = await model_context.get_messages()
        query = next(
            (m.content for m in reversed(messages) if isinstance(m, UserMessage) and m.source == USER),
            None,
        )
        found = await self.recall(query) if isinstance(query, str) else []
        if found:
            await model_context.add_message(SystemMessage(content=render(found, self._budget_chars())))
        return UpdateContextResult(memories=self._as_result(found))

    async def query(
        self, query: str | MemoryContent, cancellation_token: CancellationToken | None = None, **kwargs: Any
    ) -> MemoryQueryResult:
        text = query if isinstance(query, str) else str(query.content)
        return self._as_result(await asyncio.to_thread(self.bank.recall, text, kwargs.get("limit")))

    async def add(self, content: MemoryContent, cancellation_token: CancellationToken | None = None) -> None:
        await asyncio.to_thread(self.bank.remember, str(content.content), "note", None, "agent")

    async def clear(self) -> None:
        raise NotImplementedError("memories are never cleared; forget them one by one (society memory forget ID)")

    async def close(self) -> None:
        return None

    @staticmethod
    def _as_result(found: list[Recalled]) -> MemoryQueryResult:
        return MemoryQueryResult(
            results=[
                MemoryContent(
                    content=r.item.content,
                    mime_type=MemoryMimeType.TEXT,
                    metadata={"id": r.item.id, "kind": r.item.kind, "score": round(r.score, 5), "via": r.via},
                )
                for r in found
            ]
        )
