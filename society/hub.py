"""One conversation served to many clients in one process: the HTTP API, its WebSocket and
the Chainlit page all speak through the same Hub, which runs one turn at a time (the
conversation is one thread) and keeps the Prometheus figures of the process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from society.conversation import Conversation, InputError
from society.store import Message


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
            if message.model and message.completion_tokens and message.latency_ms:
                self.tokens_per_second.labels(message.model).set(
                    message.completion_tokens / (message.latency_ms / 1000)
                )
        for fallback in fallbacks:
            self.fallbacks.labels(fallback["from_model"]).inc()

    def observe_machine(self, figures: dict[str, Any]) -> None:
        gpu = figures.get("gpu") or {}
        self.vram_used.set(gpu.get("vram_used_mb") or 0)
        self.vram_total.set(gpu.get("vram_total_mb") or 0)


class Hub:
    """The process's one conversation, opened on first use; `token` guards non-loopback use."""

    def __init__(self, conversation_factory: Callable[[], Conversation] | None = None, token: str | None = None):
        self._factory = conversation_factory or (lambda: Conversation(entry_point="api"))
        self._conversation: Conversation | None = None
        self.token = token
        self.turn_lock = asyncio.Lock()
        self.metrics = Metrics()

    def conversation(self) -> Conversation:
        if self._conversation is None:
            self._conversation = self._factory()
        return self._conversation

    async def turn(self, text: str, think: bool = False, entry_point: str | None = None) -> AsyncIterator[Message]:
        """The stored messages of one turn as they are produced; the conversation's own
        errors (InputError, NoModelAvailable, TurnFailed) pass through for the caller to word."""
        started = time.perf_counter()
        said: list[Message] = []
        status = "done"
        async with self.turn_lock:
            current = self.conversation()
            if entry_point:
                current.entry_point = entry_point
            try:
                async for message in current.turn(text, think):
                    said.append(message)
                    yield message
            except InputError:
                status = "refused"
                raise
            except BaseException:
                status = "failed"
                raise
            finally:
                turn = said[0].turn_id if said else None
                self.metrics.observe_turn(
                    status, time.perf_counter() - started, said, current.store.fallbacks(turn) if turn else []
                )

    def feedback(self, good: bool, comment: str | None = None, message_id: int | None = None):
        reward = self.conversation().feedback(good, comment, message_id)
        if reward is not None and reward.reward is not None:
            self.metrics.rewards.observe(reward.reward)
        return reward

    async def live(self) -> dict[str, Any]:
        """The monitoring figures (GPU, VRAM, CPU, RAM, model loaded, tokens per second)."""
        from society import status

        # The conversation only when it is open: a scrape of /metrics should not open it.
        figures = await asyncio.to_thread(status.live, self._conversation)
        self.metrics.observe_machine(figures)
        return figures

    async def close(self) -> None:
        if self._conversation is not None:
            await self._conversation.close()


current: Hub | None = None  # the hub the Chainlit page (ui/app.py) talks through
