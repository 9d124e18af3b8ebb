"""The one place every model call goes through.

For each call the gate (a) takes the machine-wide model lock, so one call runs at a time
across every process of the society, (b) asks the ladder for the role's models given a fresh
hardware reading, (c) tries them in order, falling down the ladder on connection errors,
timeouts and out-of-memory errors and recording each fallback, and (d) splits reasoning from
the answer so that `<think>` text is stored apart and never reaches a model again.

Each role talks to the gate through a `RoleClient`, an autogen `ChatCompletionClient`, so the
AutoGen agents and the selector need no special knowledge of any of this.

What the gate needs to know of a turn (its id for the records, which roles reason) comes in a
`Turn` (turns.py); the clients it built and the deployments they follow are in clients.py,
the prompt each model reads is prepared in window.py.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, RequestUsage

from society.errors import UnavailableError
from society.models import ladder
from society.models.backends.base import OUTPUT_SCHEMA, final_result
from society.models.backends.ollama.api import described
from society.models.clients import Clients
from society.models.config import ModelEntry
from society.models.ladder import fallback_reason
from society.models.machine.hardware import Readings, read_machine
from society.models.machine.model_queue import ModelQueue
from society.models.machine.model_servers import slot_for
from society.models.reachability import Reachability
from society.models.reasoning import ReasoningFilter, split_result
from society.models.role_client import RoleClient, Wrap
from society.models.speeds import ReadSpeeds
from society.models.turns import Turn, call_record, current_turn, in_turn, store_call
from society.models.window import prepared, scrub
from society.paths import model_lock_path

if TYPE_CHECKING:
    from society.models.turns import CallRecord
    from society.storage.store import Store


class NoModelAvailable(UnavailableError):
    """No rung of the ladder could answer; the message says what was tried."""


class TurnStopped(UnavailableError):
    """The user stopped the turn: no further model call of it is made."""


@dataclass
class _Call:
    """One model's try at a call: whose, on what, since when, and what it has shown."""

    role: str
    entry: ModelEntry
    started: float
    first_chunk: float | None = None  # when its first text chunk came
    client: Any = None
    wrapped: Any = None  # the client as wrapped for the call (tool calls, held output)


class ModelGate:
    """Serialized, VRAM-aware, falling-back access to the model ladder."""

    def __init__(
        self,
        entries: list[ModelEntry],
        store: Store | None = None,
        *,
        clients: Mapping[str, ChatCompletionClient] | None = None,
        read: Callable[[], Readings] | None = None,
        reachable: set[str] | None = None,
        notify: Callable[[str], None] | None = None,
        wrap: Wrap | None = None,
    ):
        """`clients`, `read` and `reachable` replace the real ones in tests (scripted models,
        recorded readings); left out, clients are built from the entries and probed. `wrap`
        is how a call's backend client is wrapped when the caller names none (a RoleClient
        names its role's: see society/toolcalls/client.py, tool_calls)."""
        self.clients = Clients(list(entries), dict(clients or {}))
        self.store = store
        # self.entries, not the list given: follow_deployments moves rungs to new tags.
        self._read = read or (lambda: read_machine(self.entries))
        self._readings = Readings()  # the last reading a plan was made on
        self.notify = notify or (lambda line: print(f"society: {line}", file=sys.stderr))
        self.reachability = Reachability(lambda: self.entries, self.notify, reachable)
        self._reported: set[str] = set()  # notices said once (a GPU claim, an offloaded model)
        self.queue = ModelQueue(model_lock_path(), store.engine if store is not None and store.url else None)
        self._halting = False  # the user pressed Stop: the turn's calls end, none start
        self.speeds = ReadSpeeds()  # what each role's next call may send (history, memories)
        self._running: CancellationToken | None = None  # the user's model call now running
        if wrap is None:
            from society.toolcalls.client import tool_calls

            wrap = tool_calls()
        self._wrap = wrap

    @property
    def entries(self) -> list[ModelEntry]:
        return self.clients.entries

    @entries.setter
    def entries(self, entries: list[ModelEntry]) -> None:
        self.clients.entries = list(entries)

    def follow_deployments(self) -> list[str]:
        """Deployments and rollbacks since the last turn, taken up now (clients.py)."""
        return self.clients.follow(self.notify)

    @property
    def last_readings(self) -> Readings:
        """The machine and Ollama as the last plan saw them."""
        return self._readings

    def plan(self, role: str, needs: tuple[str, ...] = ()) -> list[ladder.Choice]:
        readings = self._readings = self._read()
        entries = [described(e, readings.ollama_facts.get(e.model)) for e in self.entries]
        return ladder.plan(role, entries, readings, self.reachability.now(), needs)

    # -- the call -------------------------------------------------------------------------

    async def create(self, role: str, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
        """Answer `messages` for `role` on the best model that works now."""
        return await final_result(self.create_stream(role, messages, stream=False, **kwargs))

    async def create_stream(
        self, role: str, messages: Sequence[LLMMessage], stream: bool = True, **kwargs: Any
    ) -> AsyncIterator[str | CreateResult]:
        """The answer's text as the model writes it (reasoning held back: it comes whole in
        the result's thought), then the CreateResult. Calls with tools or an output schema
        come whole. Background work (outside the user's turn) waits for the conversation to
        be idle and yields the model to the user (society/models/machine/model_queue.py)."""
        prompt = scrub(messages)
        if current_turn().background:
            yield await self.queue.background(lambda: final_result(self._attempts(role, prompt, False, kwargs)))
            return
        if self._halting:
            raise TurnStopped("the turn was stopped")
        token = CancellationToken()
        self._running = token
        try:
            async for item in self._attempts(role, prompt, stream, dict(kwargs, cancellation_token=token)):
                yield item
        finally:
            self._running = None

    def halt(self) -> None:
        """Stop: the user's model call now running ends at once with what it has said so far
        (llama.cpp between two tokens, an HTTP backend by closing the request), and no other
        call of the turn starts, until `resume`."""
        self._halting = True
        if self._running is not None:
            self._running.cancel()

    def resume(self) -> None:
        self._halting = False

    async def create_recorded(
        self, role: str, messages: Sequence[LLMMessage], **kwargs: Any
    ) -> tuple[CreateResult, CallRecord | None]:
        """`create` as background work, and what the call used (summary, judge)."""
        with in_turn(Turn(turn_id=current_turn().turn_id, background=True)) as turn:
            result = await self.create(role, messages, **kwargs)
        return result, turn.calls.get(role)

    async def _attempts(
        self, role: str, messages: list[LLMMessage], stream: bool, kwargs: dict[str, Any]
    ) -> AsyncIterator[str | CreateResult]:
        """Down the ladder until a model answers: its text chunks (when `stream`), then its
        result. A model that fails before it says anything hands over to the next; once it
        has spoken, its failure is the call's."""
        turn = current_turn()
        kwargs = dict(kwargs)
        needs = tuple(kwargs.pop("needs", ()))  # abilities the caller requires of the model
        if role in turn.reasoning_roles:
            needs += ("reasoning",)  # /think: a reasoning model first, even if another is loaded
        choices = await asyncio.to_thread(self.plan, role, needs)
        claim = self._readings.gpu_claim
        if claim and choices and f"claim:{claim}" not in self._reported:
            self._reported.add(f"claim:{claim}")  # said once per claim
            self.notify(f"{claim} is training on the GPU: answering on {choices[0].entry.model} until it is done")
        if not choices:
            turn.failure = f"no model on the ladder can serve the {role} role right now (see: society status)"
            raise NoModelAvailable(turn.failure)
        fallbacks: list[str] = []
        for index, choice in enumerate(choices):
            entry = choice.entry
            next_model = choices[index + 1].entry.model if index + 1 < len(choices) else None
            # The model's slot (this machine's, or room on its server) is held for the call;
            # the plan above was made without it, so a slow call elsewhere never holds it up.
            async with self.queue.model(slot_for(entry, self.entries)):
                if self._halting and not turn.background:  # stopped while waiting for the model
                    raise TurnStopped("the turn was stopped")
                call = _Call(role, entry, time.perf_counter())  # its own time, not the slot's wait
                try:
                    # A timeout exists to fall down the ladder (a model that does not start);
                    # on the last rung the turn's own time limit applies.
                    timeout = entry.timeout_s if next_model else None
                    async with aclosing(self._one(call, messages, kwargs, stream, timeout)) as items:
                        async for item in items:
                            if isinstance(item, CreateResult):
                                yield await self._answered(call, item, messages, fallbacks)
                                return
                            yield item
                except Exception as err:  # noqa: BLE001 - classified below; bugs are re-raised
                    reason = fallback_reason(err)
                    if reason is None or call.first_chunk is not None:
                        raise  # once it has spoken, its failure is the call's
                    self._fell_back(call, next_model, reason, fallbacks)
        turn.failure = f"every model failed for the {role} role: " + "; ".join(fallbacks)
        raise NoModelAvailable(turn.failure)

    async def _one(
        self, call: _Call, messages: list[LLMMessage], kwargs: dict[str, Any], stream: bool, timeout: float | None
    ) -> AsyncIterator[str | CreateResult]:
        """One model's answer: its visible text chunks, then its result. Once the first token
        is out, the model is working: no ladder timeout after it."""
        hidden, written = ReasoningFilter(), []
        call.client = await asyncio.to_thread(self.clients.client_for, call.entry)
        call.wrapped, items = self._ask(call.role, call.entry, call.client, messages, kwargs, stream)
        async with aclosing(items):
            try:
                item = await asyncio.wait_for(anext(items), timeout)
                while not isinstance(item, CreateResult):
                    call.first_chunk = call.first_chunk or time.perf_counter()
                    written.append(item)
                    if visible := hidden.feed(item):
                        yield visible
                    item = await anext(items)
                async for _ in items:  # let the client finish its own bookkeeping
                    pass
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not self._halting or (task is not None and task.cancelling()):
                    raise
                # Stopped by the user (an HTTP client's request closed): what was said.
                item = CreateResult(
                    content="".join(written), usage=RequestUsage(0, len(written)), finish_reason="unknown", cached=False
                )
        yield item

    async def _answered(
        self, call: _Call, result: CreateResult, messages: list[LLMMessage], fallbacks: list[str]
    ) -> CreateResult:
        """The result of the call that answered, recorded (the store's calls, the turn's
        record of the role, the model's reading speed), its reasoning split off."""
        latency = int((time.perf_counter() - call.started) * 1000)
        notice = await asyncio.to_thread(call.entry.kind.after_call, call.entry)
        if notice and f"after:{call.entry.model}" not in self._reported:  # said once per model
            self._reported.add(f"after:{call.entry.model}")
            self.notify(notice)
        result = split_result(result)
        if self.store:
            store_call(
                self.store, call.role, call.entry.model, result, latency, getattr(call.wrapped, "last_prompt", messages)
            )
        timing = getattr(call.client, "last_timing", None)
        self.speeds.learn(call.role, call.entry.model, timing)
        first_ms = (call.first_chunk - call.started) * 1000 if call.first_chunk is not None else None
        record = call_record(call.entry.model, result, latency, first_ms, timing, call.wrapped, fallbacks)
        current_turn().calls[call.role] = record
        return result

    def _fell_back(self, call: _Call, next_model: str | None, reason: str, fallbacks: list[str]) -> None:
        """A model that failed before it said anything: recorded, said, and the next one tried."""
        role, model = call.role, call.entry.model
        latency = int((time.perf_counter() - call.started) * 1000)
        if self.store:
            store_call(self.store, role, model, None, latency, None, error=reason)
            self.store.record_fallback(current_turn().turn_id, role, model, next_model, reason)
        fallbacks.append(f"{model}: {reason}")
        self.notify(f"{role}: {model} failed ({reason}); trying {next_model or 'nothing else'}")
        if reason.startswith("connection"):
            self.reachability.lost(model)

    def _ask(
        self,
        role: str,
        entry: ModelEntry,
        client: Any,
        messages: list[LLMMessage],
        kwargs: dict[str, Any],
        stream: bool,
    ) -> tuple[Any, AsyncIterator[str | CreateResult]]:
        """One call on one model, through the wrapper that shapes requests for it (tool
        calls, output schemas, each backend's arguments); the prompt is fitted to the model
        by `_prepare` once the wrapper has built it. The wrapper, and its items."""
        kwargs = dict(kwargs)
        wrap = kwargs.pop("wrap", None) or self._wrap
        extra = dict(kwargs.pop("extra_create_args", None) or {})
        if (schema := kwargs.pop("json_schema", None)) is not None:
            extra[OUTPUT_SCHEMA] = schema  # structured output
        turn = current_turn()
        shaped_elsewhere = kwargs.get("tools") or kwargs.get("json_output") is not None or OUTPUT_SCHEMA in extra
        loaded = self._readings.loaded_of(entry) is not None
        extra.update(entry.kind.call_args(entry, role in turn.reasoning_roles, turn.background, loaded))
        if turn.sampling and not turn.background and not shaped_elsewhere:
            extra.update(entry.kind.sampled(turn.sampling, entry, extra))
        wrapped = wrap(client, entry, lambda prompt: prepared(role, entry, client, prompt))
        if stream and hasattr(wrapped, "create_stream"):
            return wrapped, wrapped.create_stream(messages, extra_create_args=extra, **kwargs)

        async def whole() -> AsyncIterator[CreateResult]:
            yield await wrapped.create(messages, extra_create_args=extra, **kwargs)

        return wrapped, whole()

    def client(self, role: str, wrap: Wrap | None = None) -> RoleClient:
        return RoleClient(self, role, wrap)
