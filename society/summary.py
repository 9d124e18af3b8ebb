"""The rolling summary of what has fallen out of the verbatim window.

Older turns are folded into one bounded summary (by a model when one answers, extractively
when none does), so the context stays bounded; the turns themselves stay in the database.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from society.listeners import TurnEvent, TurnListener
from society.storage.store import Message, Store

if TYPE_CHECKING:
    from society.models.gate import ModelGate

VERBATIM_MESSAGES = 24  # newest messages never summarized: the context shows them verbatim
BATCH_MESSAGES = 16  # fold once this many messages have left the verbatim window
MAX_BATCH_MESSAGES = 64  # at most this many per update, so a backlog never blocks for long
MAX_SUMMARY_CHARS = 1600
SNIPPET_CHARS = 160

# (previous summary, new messages) -> (new summary, model that wrote it)
Summarize = Callable[[str, list[Message]], Awaitable[tuple[str, str | None]]]


def pending(store: Store, latest: tuple[int, str] | None) -> list[Message]:
    """Messages older than the verbatim window that the `latest` summary does not cover yet."""
    newest = store.last_messages(VERBATIM_MESSAGES + 1)
    if len(newest) <= VERBATIM_MESSAGES:
        return []
    after = latest[0] if latest else 0
    return store.messages_between(after, newest[0].id)[:MAX_BATCH_MESSAGES]


def transcript(messages: list[Message]) -> str:
    return "\n".join(f"{m.role}: {m.content}" for m in messages)


def clip(text: str) -> str:
    """Keep a summary within bounds, dropping its oldest sentences first."""
    text = text.strip()
    if len(text) <= MAX_SUMMARY_CHARS:
        return text
    return "…" + text[-(MAX_SUMMARY_CHARS - 1) :]


async def extractive(previous: str, messages: list[Message]) -> str:
    """A model-free summary: the first sentence of each message, appended to the previous one."""
    lines = []
    for m in messages:
        first = re.split(r"(?<=[.!?。！？])\s*", m.content.strip(), maxsplit=1)[0]
        lines.append(f"{m.role}: {first[:SNIPPET_CHARS]}")
    return clip("\n".join(filter(None, [previous, *lines])))


async def update(store: Store, summarize: Summarize | None = None) -> bool:
    """Fold pending messages into a new summary row; True if one was written."""
    latest = store.latest_summary()
    batch = pending(store, latest)
    if len(batch) < BATCH_MESSAGES:
        return False
    previous = latest[1] if latest else ""
    text, model = "", None
    if summarize is not None:
        try:
            text, model = await summarize(previous, batch)
            text = clip(text)
        except Exception:  # noqa: BLE001 - no model answered: fall back to extraction
            text = ""
    if not text:
        text, model = await extractive(previous, batch), "extractive"
    store.add_summary(batch[-1].id, text, model)
    return True


class SummaryListener(TurnListener):
    """After each turn, fold what left the verbatim window into the rolling summary, with the
    summarizer role's model when the ladder has one that may summarize, else extractively."""

    def __init__(self, store: Store, gate: ModelGate):
        self.store = store
        self.gate = gate

    async def turn_ended(self, event: TurnEvent) -> None:
        await update(self.store, self.summarize)

    async def summarize(self, previous: str, messages: list[Message]) -> tuple[str, str | None]:
        import asyncio

        from autogen_core.models import SystemMessage, UserMessage

        from roles.base import read_prompt
        from society.storage.store import USER

        if not await asyncio.to_thread(self.gate.plan, "summarizer"):
            return "", None  # no rung may summarize (the 135M model writes junk): extract instead
        instructions = read_prompt("society", "summarize")
        body = (f"Previous summary:\n{previous}\n\n" if previous else "") + "New messages:\n" + transcript(messages)
        result, call = await self.gate.create_recorded(
            "summarizer", [SystemMessage(content=instructions), UserMessage(content=body, source=USER)]
        )
        return str(result.content), call.model if call else None
