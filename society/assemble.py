"""Assembly: the one place a conversation is put together with everything that listens to it.

The terminal, the API and page, headless runs and evaluation runs all open their
conversation here, so each gets the same wings: the rolling summary, memory consolidation,
rewards with the judge and the bandit's prompt choice, and the learning schedule. This is
the only module of `society/` that imports `training/` (with the command line, society/cli.py,
which adds the learning commands and `society ui`): the core runs turns; learning hears
about them.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nothing heavy at import: the commands import this module
    from society.conversation import Conversation
    from society.listeners import TurnListener
    from society.models.gate import ModelGate
    from society.storage.store import Message, Store
    from society.tools.approval import Approver


def open_conversation(
    store: Store | None = None,
    gate: ModelGate | None = None,
    *,
    entry_point: str = "cli",
    enabled: list[str] | None = None,
    approver: Approver | None = None,
    judging: bool | None = None,
    rng: random.Random | None = None,
    extra_listeners: tuple[TurnListener, ...] = (),
) -> Conversation:
    """The conversation over `store` (default: the data folder's), with its listeners.
    `judging` False leaves the judge out (an eval run judges in the open); `rng` seeds the
    prompt bandit (tests)."""
    from society.conversation import Conversation
    from society.memory.consolidate import ConsolidationListener
    from society.models.config import load_entries
    from society.models.gate import ModelGate
    from society.prompt_book import PromptBook
    from society.storage.store import Store
    from society.summary import SummaryListener
    from society.tools.approval import refuse_all
    from training.datasets import Examples
    from training.rewarding import Rewarding
    from training.schedule import LearningListener

    store = store or Store()
    gate = gate or ModelGate(load_entries(), store)
    book = PromptBook(store)
    examples = Examples(store)
    rewarding = Rewarding(store, gate, book, examples, rng=rng, judging=judging)
    conversation = Conversation(
        store,
        gate,
        entry_point,
        enabled,
        approver or refuse_all,
        book=book,
        examples=examples,
        listeners=(rewarding, SummaryListener(store, gate), LearningListener(store, gate.notify), *extra_listeners),
        choose_prompt=rewarding.version_for,
    )
    conversation.listeners.add(ConsolidationListener(conversation.memory_bank, conversation.gate.queue.quiet))
    return conversation


async def ask(
    text: str, reasoning: bool = False, entry_point: str = "run", approver: Approver | None = None
) -> tuple[list[Message], Conversation]:
    """One headless turn: every message of it, in order."""
    conversation = open_conversation(entry_point=entry_point, approver=approver)
    messages = [m async for m in conversation.turn(text, reasoning)]
    await conversation.close()
    return messages, conversation


def status() -> dict:
    """`society status`'s report with the learning side's sections (judge, learning target)."""
    from society import status as report
    from training.status_sections import SECTIONS

    return report.collect(SECTIONS)
