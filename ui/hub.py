"""One conversation served to many clients in one process: the HTTP API, its WebSocket and
the Chainlit page all speak through the same Hub, which runs one turn at a time (the
conversation is one thread). On a server with users (society/storage/users.py) each user has a Hub
of their own, over their own conversation; `Hubs` finds a request's, and keeps the
Prometheus figures and the request budget of the process."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

from society.assemble import open_conversation
from society.conversation import Chunk, Conversation, InputError
from society.listeners import TurnEvent, TurnListener
from society.paths import current_user
from society.storage import users
from society.storage.store import Message, Store
from society.storage.users import as_user
from ui.limits import RATE_PER_MINUTE, Budget, Refusal

WRONG_TOKENS_PER_MINUTE = 10  # per address, before every attempt from it is refused

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # set by `society ui --workers N` for its workers


def shared_metrics_dir() -> Path | None:
    """Where the workers of one server write their figures (prometheus_client's multiprocess
    mode); None for a server of one process."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    return Path(folder) if folder else None


class Metrics:
    """Prometheus figures of this process; with several workers, each writes its own and a
    scrape of any of them adds them up (prometheus_client's multiprocess mode)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.turns = Counter("society_turns", "Turns answered", ["status"], registry=self.registry)
        self.latency = Histogram(
            "society_turn_seconds", "Seconds per turn", registry=self.registry, buckets=(1, 2, 5, 10, 30, 60, 120, 300)
        )
        self.tokens_per_second = Gauge(
            "society_tokens_per_second",
            "Last answer's generation speed",
            ["model"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
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
        last = {"registry": self.registry, "multiprocess_mode": "mostrecent"}
        self.vram_used = Gauge("society_vram_used_mb", "VRAM in use (0 without a GPU)", **last)
        self.vram_total = Gauge("society_vram_total_mb", "VRAM in all (0 without a GPU)", **last)

    def exposition(self) -> bytes:
        """The figures in Prometheus's text format: this process's, or every worker's."""
        from prometheus_client import CollectorRegistry, generate_latest

        if shared_metrics_dir() is None:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        everyone = CollectorRegistry()
        MultiProcessCollector(everyone)
        return generate_latest(everyone)

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
        fallbacks counted before this server started; with several workers, by the first to
        open the conversation only (the others' figures are added to its own)."""
        folder = shared_metrics_dir()
        if folder is not None:
            mark = folder / f"counted-{hashlib.sha256(store.where.encode()).hexdigest()[:16]}"
            try:
                os.close(os.open(mark, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return  # another worker counted this conversation's past
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
    """One user's conversation (None: the default one), opened on first use; `budget` is
    every door's request budget per client."""

    def __init__(
        self,
        conversation_factory: Callable[[], Conversation] | None = None,
        user: str | None = None,
        metrics: Metrics | None = None,
        budget: Budget | None = None,
    ):
        self._factory = conversation_factory or (lambda: open_conversation(entry_point="api"))
        self._conversation: Conversation | None = None
        self.user = user
        self.turn_lock = asyncio.Lock()
        self.metrics = metrics or Metrics()
        self.budget = budget or Budget(RATE_PER_MINUTE)

    def conversation(self) -> Conversation:
        # Every call comes from a request or page event already working for this hub's user;
        # a mismatch would let one user's words into another's conversation: refuse it.
        if current_user() != self.user:
            raise RuntimeError(f"hub of {self.user!r} asked while working for {current_user()!r}")
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
        sampling: dict[str, Any] | None = None,
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
                async with aclosing(current.turn(text, think, stream, instructions, sampling)) as said:
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
        from training.schedule import last_line

        # The conversation only when it is open: the monitoring panel should not open it.
        figures = await asyncio.to_thread(status.live, self._conversation)
        with as_user(self.user):  # the learning cycle of this user's data folder
            figures["learning"] = await asyncio.to_thread(last_line)
        self.metrics.observe_machine(figures)
        return figures

    async def close(self) -> None:
        if self._conversation is not None:
            with as_user(self.user):
                await self._conversation.close()


class Hubs:
    """The hubs of one server process, one per user; the owner's (the default conversation,
    user None) is reached with `token` (SOCIETY_API_TOKEN), or by anyone when there is
    neither a token nor users (one person's machine, loopback only)."""

    def __init__(
        self,
        conversation_factory: Callable[[], Conversation] | None = None,
        token: str | None = None,
        rate_per_minute: int = RATE_PER_MINUTE,
        exposed: bool = False,
    ):
        self._factory = conversation_factory
        self.token = token
        # Bound to an address other machines reach: never open without a login, even after
        # the last user is removed (the check at start saw users or a token).
        self.exposed = exposed
        self.metrics = Metrics()
        self.budget = Budget(rate_per_minute)
        self.wrong_tokens = Budget(WRONG_TOKENS_PER_MINUTE)
        self._hubs: dict[str | None, Hub] = {}

    def of(self, user: str | None) -> Hub:
        if user not in self._hubs:
            self._hubs[user] = Hub(self._factory, user, self.metrics, self.budget)
        return self._hubs[user]

    def current(self) -> Hub:
        """The hub of the user the running request works for."""
        return self.of(current_user())

    @property
    def guarded(self) -> bool:
        """Whether a client must say who it is (exposed, a token, or users to tell apart)."""
        return self.exposed or self.token is not None or bool(users.names())

    def who(self, supplied: str | None) -> tuple[bool, str | None]:
        """(allowed, user) for a client presenting `supplied` as its token; users.json is
        read once per request (users may be added or removed while the server runs)."""
        known = users.table()
        if self.token is None and not known:
            return not self.exposed, None
        given = (supplied or "").encode("utf-8", "surrogateescape")  # compare_digest refuses non-ASCII str
        if self.token is not None and supplied is not None and hmac.compare_digest(given, self.token.encode()):
            return True, None
        user = users.by_token(supplied, known)
        return user is not None, user

    def admit(self, supplied: str | None, address: str) -> tuple[bool, str | None, Refusal | None]:
        """`who`, with wrong tokens counted per address: past WRONG_TOKENS_PER_MINUTE an
        address is refused (even with a right token) until the minute has passed, so a token
        cannot be guessed at the request rate."""
        if supplied is not None and (refused := self.wrong_tokens.refusal("wrong token", address, count=False)):
            return False, None, refused
        allowed, user = self.who(supplied)
        if not allowed and supplied is not None:
            self.wrong_tokens.refusal("wrong token", address)
        return allowed, user, None

    def login_metadata(self, user: str | None, token: str | None) -> dict[str, Any]:
        """What a page login's signed cookie carries to be checked again on every use."""
        if token is None:
            return {"society_user": None, "open": True}
        return {"society_user": user, "token_sha256": users.digest(token)}

    def still_valid(self, metadata: dict[str, Any] | None) -> bool:
        """Whether a page login (its cookie's metadata) still holds: the user is still there
        with the same token, the owner's token is unchanged, an open page's server is still
        open. A removed or re-keyed user's 15-day cookie stops working at once."""
        metadata = metadata or {}
        if metadata.get("open"):
            return not self.guarded
        digest = str(metadata.get("token_sha256") or "")
        user = metadata.get("society_user")
        if user is None:
            return self.token is not None and hmac.compare_digest(digest, users.digest(self.token))
        entry = users.table().get(user)
        return entry is not None and hmac.compare_digest(digest, str(entry.get("token_sha256", "")))

    def opened(self) -> list[Hub]:
        return list(self._hubs.values())

    async def close(self) -> None:
        for hub in self._hubs.values():
            await hub.close()


current: Hubs | None = None  # the hubs the Chainlit page (ui/app.py) talks through
