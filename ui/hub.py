"""One conversation served to many clients in one process: the HTTP API, its WebSocket and
the Chainlit page all speak through the same Hub, which runs one turn at a time (the
conversation is one thread) and keeps the Prometheus figures of the process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from society.assemble import open_conversation
from society.conversation import Chunk, Conversation, InputError
from society.listeners import TurnEvent, TurnListener
from society.store import Message, Store
from ui.limits import RATE_PER_MINUTE, Budget


class Metrics:
    """Prometheus figures of this process."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.turns = Counter("society_turns", "Turns answered", ["status"], registry=self.registry)
        self.latency = Histogram(
            "society_turn_seconds", "Seconds per turn", registry=self.registry, buckets=(1, 2, 5, 10, 30, 60, 120, 300)
        )
        self.tokens_per_second = Gauge(
            "society_tokens_per_second", "Last answer's generation speed", ["model"], registry=self.registry
        )
        self.first_token = Histogram(
            "society_first_token_seconds",
            "From an answer's model call to its first token",
            registry=self.registry,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
        )
        self.fallbacks = Counter(
            "society_fallbacks", "Fallbacks down the model ladder", ["from_model"], registry=self.registry
        )
        self.rewards = Histogram(
            "society_reward", "Rewards of answers", registry=self.registry, buckets=(-1, -0.5, 0, 0.5, 1)
        )
        self.vram_used = Gauge("society_vram_used_mb", "VRAM in use (0 without a GPU)", registry=self.registry)
        self.vram_total = Gauge("society_vram_total_mb", "VRAM in all (0 without a GPU)", registry=self.registry)

    def observe_turn(self, status: str, seconds: float, messages: list[Message], fallbacks: list[dict]) -> None:
        self.turns.labels(status).inc()
        self.latency.observe(seconds)
        for message in messages:
            if message.model and message.tokens_per_second:
                self.tokens_per_second.labels(message.model).set(message.tokens_per_second)
            if message.model and message.first_token_ms is not None:
                self.first_token.observe(message.first_token_ms / 1000)
        for fallback in fallbacks:
            self.fallbacks.labels(fallback["from_model"]).inc()

    def start_from(self, store: Store) -> None:
        """The counters as the database has them: turns, their seconds, rewards and
        fallbacks counted before this process started."""
        stored = store.stored_figures()
        for status, count in stored["turns"].items():
            if status != "running":
                self.turns.labels(status).inc(count)
        for seconds in stored["turn_seconds"]:
            self.latency.observe(seconds)
        for reward in stored["rewards"]:
            self.rewards.observe(reward)
        for model, count in stored["fallbacks"].items():
            self.fallbacks.labels(model).inc(count)

    def observe_machine(self, figures: dict[str, Any]) -> None:
        gpu = figures.get("gpu") or {}
        self.vram_used.set(gpu.get("vram_used_mb") or 0)
        self.vram_total.set(gpu.get("vram_total_mb") or 0)


class MetricsListener(TurnListener):
    """The turn figures of /metrics, from each turn that ended (in the background)."""

    def __init__(self, metrics: Metrics, store: Store):
        self.metrics = metrics
        self.store = store

    async def turn_ended(self, event: TurnEvent) -> None:
        self.metrics.observe_turn(
            event.status or "failed",
            event.seconds or 0.0,
            self.store.turn_messages(event.turn_id),
            self.store.fallbacks(event.turn_id),
        )


class Hub:
    """The process's one conversation, opened on first use; `token` guards non-loopback use;
    `budget` is every door's request budget per client."""

    def __init__(
        self,
        conversation_factory: Callable[[], Conversation] | None = None,
        token: str | None = None,
        rate_per_minute: int = RATE_PER_MINUTE,
    ):
        self._factory = conversation_factory or (lambda: open_conversation(entry_point="api"))
        self._conversation: Conversation | None = None
        self.token = token
        self.turn_lock = asyncio.Lock()
        self.metrics = Metrics()
        self.budget = Budget(rate_per_minute)

    def conversation(self) -> Conversation:
        if self._conversation is None:
            self._conversation = self._factory()
            self.metrics.start_from(self._conversation.store)
            self._conversation.listeners.add(MetricsListener(self.metrics, self._conversation.store))
        return self._conversation

    async def turn(
        self,
        text: str,
        think: bool = False,
        entry_point: str | None = None,
        stream: bool = False,
        instructions: str | None = None,
    ) -> AsyncIterator[Message | Chunk]:
        """The stored messages of one turn as they are produced (with `stream`, the answer's
        Chunks as it is written too); the conversation's own errors (SocietyError) pass
        through for the caller to word. A consumer that leaves before the end stops the turn.
        The turn's figures come from the metrics listener; a refused message is no turn and
        is counted here."""
        async with self.turn_lock:
            current = self.conversation()
            if entry_point:
                current.entry_point = entry_point
            finished = False
            try:
                async with aclosing(current.turn(text, think, stream, instructions)) as said:
                    async for message in said:
                        yield message
                finished = True
            except InputError:
                self.metrics.turns.labels("refused").inc()
                raise
            finally:
                if not finished:
                    current.stop()  # the client left (a closed socket, Stop): the model stops too

    def stop(self) -> bool:
        """Stop the turn being played, from any door; False when none is."""
        return self._conversation is not None and self._conversation.stop()

    def feedback(self, good: bool, comment: str | None = None, message_id: int | None = None):
        reward = self.conversation().feedback(good, comment, message_id)
        if reward is not None and reward.reward is not None:
            self.metrics.rewards.observe(reward.reward)
        return reward

    async def live(self) -> dict[str, Any]:
        """The monitoring figures (GPU, VRAM, CPU, RAM, model loaded, tokens per second)."""
        from society import status

        # The conversation only when it is open: the monitoring panel should not open it.
        figures = await asyncio.to_thread(status.live, self._conversation)
        self.metrics.observe_machine(figures)
        return figures

    async def close(self) -> None:
        if self._conversation is not None:
            await self._conversation.close()


current: Hub | None = None  # the hub the Chainlit page (ui/app.py) talks through
