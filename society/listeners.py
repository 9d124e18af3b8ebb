"""What happens around a turn without being part of it.

`Conversation.turn` checks the input, begins the turn, runs the team, stores each message
and ends the turn; nothing else. Everything that reacts to a turn (the rolling summary,
memory consolidation, rewards and the judge, the learning schedule, metrics) is a listener:
it is told `turn_started` once the user's message is stored and `turn_ended` once the turn's
status is, and runs in the background, off the path to the first model call. A failing
listener is reported in one line and never breaks the conversation.

The shape follows smolagents' step callbacks: the society's own features register through
the same door a user's plug-in would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TurnEvent:
    """One turn as listeners see it."""

    turn_id: int
    text: str  # what the user said
    entry_point: str
    status: str | None = None  # None when started; done, failed or timeout when ended
    seconds: float | None = None  # how long the turn took, when ended


class TurnListener:
    """Override what you need; both run in the background."""

    async def turn_started(self, event: TurnEvent) -> None:
        return None

    async def turn_ended(self, event: TurnEvent) -> None:
        return None


class FeedbackListener(TurnListener):
    """A listener that also takes the user's explicit feedback on an answer (the rewards)."""

    def feedback(self, good: bool, comment: str | None, source: str, message_id: int | None) -> Any:
        return None


class Listeners:
    """The listeners of one conversation and the background tasks they run."""

    def __init__(self, notify: Callable[[str], None]):
        self.notify = notify
        self.items: list[TurnListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, listener: TurnListener) -> TurnListener:
        self.items.append(listener)
        return listener

    def find(self, kind: type) -> Any:
        """The first listener of `kind`, or None."""
        return next((item for item in self.items if isinstance(item, kind)), None)

    def started(self, event: TurnEvent) -> None:
        for listener in self.items:
            self.spawn(listener.turn_started(event), listener)

    def ended(self, event: TurnEvent) -> None:
        for listener in self.items:
            self.spawn(listener.turn_ended(event), listener)

    def spawn(self, work: Any, owner: object = None) -> asyncio.Task[Any]:
        """Run `work` in the background; its failure is one line, never the turn's. Its model
        calls are background calls: they wait while the user's turns play and yield to them
        (society/models/machine/model_queue.py)."""
        from society.models.turns import Turn, current_turn, in_turn

        async def guarded() -> Any:
            try:
                return await work
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - a listener never breaks the conversation
                name = type(owner).__name__ if owner is not None else "background work"
                self.notify(f"{name} failed ({type(err).__name__}: {err}); the conversation goes on")
                return None

        with in_turn(Turn(turn_id=current_turn().turn_id, background=True)):  # the task's own context
            task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for everything started so far (before a process exits)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
