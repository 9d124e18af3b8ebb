"""The one place every model call goes through.

For each call the gate (a) takes the machine-wide model lock, so one call runs at a time
across every process of the society, (b) asks the ladder for the role's models given a fresh
hardware reading, (c) tries them in order, falling down the ladder on connection errors,
timeouts and out-of-memory errors and recording each fallback, and (d) splits reasoning from
the answer so that `<think>` text is stored apart and never reaches a model again.

Each role talks to the gate through a `RoleClient`, an autogen `ChatCompletionClient`, so the
AutoGen agents and the selector need no special knowledge of any of this.

What the gate needs to know of a turn (its id for the records, which roles reason) comes in a
`Turn` that the conversation sets for the turn's duration as a context variable: background
work started during a turn (the judge) keeps its own turn, and nothing is written back into
the gate. What each call used (model, time) is left in that Turn for whoever stores the message.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    RequestUsage,
    SystemMessage,
)

from society import ladder
from society.clients import OUTPUT_SCHEMA, build_client, deployed_lora, deployed_tags, probe, sampled
from society.config import ModelEntry
from society.errors import UnavailableError
from society.hardware import Readings, generation_threads, read_machine
from society.ladder import fallback_reason
from society.model_queue import ModelQueue
from society.model_servers import slot_for
from society.ollama import call_args, described, offloaded
from society.paths import model_lock_path
from society.reasoning import REASONING_INSTRUCTION, ReasoningFilter, split_reasoning
from society.role_client import RoleClient, Wrap, final_result
from society.tokens import estimate_tokens
from society.window import fit_to_window, one_system_message, scrub

if TYPE_CHECKING:
    from society.store import Store


PROBE_TTL_S = 30.0
HISTORY_READ_S = 4.0  # the longest a model should spend re-reading the history
MIN_HISTORY_TOKENS = 256
MEMORY_READ_S = 0.6  # the recalled memories' share of reading time
MIN_MEMORY_CHARS = 160
MIN_READ_SAMPLE = 24  # prompt tokens read in a call for its speed to count
TRACE_ENV = "SOCIETY_TRACE"
TURN_INSTRUCTIONS = "For this reply, the user's app gives this instruction: "


class NoModelAvailable(UnavailableError):
    """No rung of the ladder could answer; the message says what was tried."""


class TurnStopped(UnavailableError):
    """The user stopped the turn: no further model call of it is made."""


@dataclass
class CallRecord:
    """What the last successful call of a role used; the conversation stores it per message."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    reasoning: str | None
    fallbacks: list[str] = field(default_factory=list)
    valid_tool_reply: bool | None = None  # tools offered: was the reply a valid call or answer?
    cut_off: bool | None = None  # tools offered: did the reply reach the token limit (a loop)?
    first_calls: list | None = None  # tools offered: the model's own calls, before any holding
    first_token_ms: int | None = None  # from the call's start to its first token
    generation_ms: int | None = None  # after the first token: tokens per second is over this
    reused_tokens: int | None = None  # prompt tokens the model already held (llama.cpp's cache)


@dataclass
class Turn:
    """The turn a model call belongs to, and what its calls used."""

    turn_id: int | None = None
    reasoning_roles: frozenset[str] = frozenset()
    background: bool = False  # work outside the conversation (judge, summary): leaves no model loaded
    failure: str | None = None  # why the last call found no model, for a clean error
    calls: dict[str, CallRecord] = field(default_factory=dict)  # the last successful call per role
    # What a client asked of this turn only (an OpenAI client's system message): every role's
    # model is told, just before the request.
    instructions: str | None = None
    # What a client asked of this turn's answer (an OpenAI client's max_tokens, stop,
    # temperature): applied to its calls that write text, not to tool calls or held output.
    sampling: dict[str, Any] = field(default_factory=dict)


CURRENT_TURN: ContextVar[Turn | None] = ContextVar("society_turn", default=None)


def current_turn() -> Turn:
    """The turn of the running task, or a throwaway one outside any turn."""
    return CURRENT_TURN.get() or Turn()


@contextmanager
def in_turn(turn: Turn) -> Iterator[Turn]:
    """Make `turn` the current one for the calls made inside (and the tasks started there)."""
    token = CURRENT_TURN.set(turn)
    try:
        yield turn
    finally:
        try:
            CURRENT_TURN.reset(token)
        except ValueError:  # closed from another context (an abandoned generator): nothing to undo
            pass


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
        names its role's: see society/toolcalls.py, tool_calls)."""
        self.entries = entries
        self.store = store
        self._clients: dict[str, ChatCompletionClient] = dict(clients or {})
        self._loras: dict[str, str | None] = {}  # the deployed LoRA each embedded client was built with
        try:
            self._tags = deployed_tags()  # what load_entries already put in place of each Ollama model
        except Exception:  # noqa: BLE001 - no database yet
            self._tags = {}
        # self.entries, not the list given: follow_deployments moves Ollama rungs to new tags.
        self._read = read or (lambda: read_machine(self.entries))
        self._fixed_reachable = reachable
        self._probe_at = 0.0
        self._reachable: set[str] = set()
        self._reported: set[str] = set()
        self._readings = Readings()  # the last reading a plan was made on
        self.notify = notify or (lambda line: print(f"society: {line}", file=sys.stderr))
        self.queue = ModelQueue(model_lock_path(), store.engine if store is not None and store.url else None)
        self._halting = False  # the user pressed Stop: the turn's calls end, none start
        self._read_speed: dict[str, float] = {}  # prompt tokens read per second, per model
        self._served: dict[str, str] = {}  # the model that last answered each role
        self._running: CancellationToken | None = None  # the user's model call now running
        if wrap is None:
            from society.toolcalls import tool_calls

            wrap = tool_calls()
        self._wrap = wrap

    # -- reachability ---------------------------------------------------------------------

    def reachable(self) -> set[str]:
        """Entries that can answer now; unreachable ones are reported once, one line each."""
        if self._fixed_reachable is not None:
            return self._fixed_reachable
        if time.monotonic() - self._probe_at > PROBE_TTL_S:
            found = probe(self.entries)
            self._reachable = {model for model, why in found.items() if why is None}
            self._report_unreachable(found)
            self._probe_at = time.monotonic()
        return self._reachable

    def _report_unreachable(self, found: dict[str, str | None]) -> None:
        """Each new cause once, in one line with every model it skips ("Ollama at ...
        unreachable" is one cause for all its models), and then which model answers."""
        causes: dict[str, list[str]] = {}
        for model, why in found.items():
            if why and model not in self._reported:
                self._reported.add(model)
                causes.setdefault(why, []).append(model)
        for why, models in causes.items():
            self.notify(f"skipping {', '.join(models)}: {why}")
        if causes:
            answering = next((e for e in self.entries if e.model in self._reachable and e.allows("planner")), None)
            where = "on the CPU, in this process" if answering and answering.backend == "llama_cpp" else ""
            self.notify(
                f"answering with {answering.model}" + (f" ({where})" if where else "")
                if answering
                else "no model can answer: see society status"
            )

    def mark_unreachable(self, model: str) -> None:
        self._reachable.discard(model)

    def client_for(self, entry: ModelEntry) -> ChatCompletionClient:
        if entry.model not in self._clients:
            self._clients[entry.model] = build_client(entry, threads=generation_threads())
            if entry.backend == "llama_cpp":
                self._loras[entry.model] = deployed_lora(entry)
        return self._clients[entry.model]

    def follow_deployments(self) -> list[str]:
        """What the learning cycle deployed or rolled back since the last turn, taken up now
        by this process (every door's, on this data folder): an embedded model built with
        another LoRA is dropped and loads the deployed one at its next call; an Ollama rung
        moves to the adapter's new tag (or back). One line per change, also said."""
        changed = []
        for model, had in list(self._loras.items()):
            entry = next((e for e in self.entries if e.model == model), None)
            now = deployed_lora(entry) if entry else had
            if now != had:
                self._clients.pop(model, None)  # its weights go with it; the next call loads anew
                self._loras.pop(model, None)
                changed.append(f"{model} now answers with {Path(now).stem if now else 'no adapter (rolled back)'}")
        try:
            tags = deployed_tags()
        except Exception:  # noqa: BLE001 - a database being created: nothing deployed yet
            return changed
        if tags != self._tags:
            originals = {tag: base for base, tag in self._tags.items()}
            moved = []
            for entry in self.entries:
                base = originals.get(entry.model, entry.model)
                model = tags.get(base, base) if entry.backend == "ollama" else entry.model
                if model != entry.model:
                    changed.append(f"{base} now answers as {model}")
                moved.append(replace(entry, model=model))
            self.entries, self._tags = moved, tags
        for line in changed:
            self.notify(line)
        return changed

    def models_in_process(self) -> list[str]:
        """Embedded models this process has loaded (their weights stay in memory)."""
        backends = {e.model: e.backend for e in self.entries}
        return [model for model in self._clients if backends.get(model) == "llama_cpp"]

    @property
    def last_readings(self) -> Readings:
        """The machine and Ollama as the last plan saw them."""
        return self._readings

    def plan(self, role: str, needs: tuple[str, ...] = ()) -> list[ladder.Choice]:
        readings = self._readings = self._read()
        entries = [described(e, readings.ollama_facts.get(e.model)) for e in self.entries]
        return ladder.plan(role, entries, readings, self.reachable(), needs)

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
        be idle and yields the model to the user (society/model_queue.py)."""
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
            # A timeout exists to fall down the ladder (a model that does not start); on the
            # last rung there is nowhere to fall, so the turn's own time limit applies. Once
            # the first token is out, the model is working: no ladder timeout after it.
            timeout = entry.timeout_s if next_model else None
            first_chunk: float | None = None
            hidden = ReasoningFilter()
            written: list[str] = []
            # The model's slot (this machine's, or room on its server) is held for the call;
            # the plan above was made without it, so a slow call elsewhere never holds it up.
            async with self.queue.model(slot_for(entry, self.entries)):
                if self._halting and not turn.background:  # stopped while waiting for the model
                    raise TurnStopped("the turn was stopped")
                started = time.perf_counter()  # the call's own time, not the wait for its slot
                try:
                    client = await asyncio.to_thread(self.client_for, entry)
                    wrapped, items = self._ask(role, entry, client, messages, kwargs, stream)
                    async with aclosing(items):
                        try:
                            item = await asyncio.wait_for(anext(items), timeout)
                            while not isinstance(item, CreateResult):
                                first_chunk = first_chunk or time.perf_counter()
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
                                content="".join(written),
                                usage=RequestUsage(0, len(written)),
                                finish_reason="unknown",
                                cached=False,
                            )
                    result = item
                except Exception as err:  # noqa: BLE001 - classified below; bugs are re-raised
                    reason = fallback_reason(err)
                    if reason is None or first_chunk is not None:
                        raise
                    latency = int((time.perf_counter() - started) * 1000)
                    self._record_call(role, entry, None, latency, None, error=reason)
                    if self.store:
                        self.store.record_fallback(turn.turn_id, role, entry.model, next_model, reason)
                    fallbacks.append(f"{entry.model}: {reason}")
                    self.notify(f"{role}: {entry.model} failed ({reason}); trying {next_model or 'nothing else'}")
                    if reason.startswith("connection"):
                        self.mark_unreachable(entry.model)
                    continue
                latency = int((time.perf_counter() - started) * 1000)
                if entry.backend == "ollama":
                    await asyncio.to_thread(self._check_offload, entry)
                result = self._split(result)
                prompt = getattr(wrapped, "last_prompt", messages)
                self._record_call(role, entry, result, latency, prompt)
                timing = getattr(client, "last_timing", None)
                self._learn_speed(role, entry, timing)
                first_ms = (
                    timing.first_token_s * 1000
                    if timing is not None and timing.first_token_s is not None
                    else (first_chunk - started) * 1000
                    if first_chunk is not None
                    else None
                )
                turn.calls[role] = CallRecord(
                    model=entry.model,
                    prompt_tokens=result.usage.prompt_tokens,
                    completion_tokens=result.usage.completion_tokens,
                    latency_ms=latency,
                    reasoning=result.thought,
                    fallbacks=fallbacks,
                    valid_tool_reply=getattr(wrapped, "valid", None),
                    cut_off=getattr(wrapped, "cut_off", None),
                    first_calls=getattr(wrapped, "first_calls", None),
                    first_token_ms=None if first_ms is None else int(first_ms),
                    generation_ms=int(timing.generation_s * 1000) if timing is not None else None,
                    reused_tokens=getattr(timing, "reused_tokens", None),
                )
                yield result
                return
        turn.failure = f"every model failed for the {role} role: " + "; ".join(fallbacks)
        raise NoModelAvailable(turn.failure)

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
        if entry.backend == "ollama":
            loaded = self._readings.loaded_of(entry) is not None
            extra.update(call_args(entry, role in turn.reasoning_roles, turn.background, loaded))
        if turn.sampling and not turn.background and not shaped_elsewhere:
            extra.update(sampled(turn.sampling, entry, extra))
        wrapped = wrap(client, entry, lambda prompt: self._prepare(role, entry, client, prompt))
        if stream and hasattr(wrapped, "create_stream"):
            return wrapped, wrapped.create_stream(messages, extra_create_args=extra, **kwargs)

        async def whole() -> AsyncIterator[CreateResult]:
            yield await wrapped.create(messages, extra_create_args=extra, **kwargs)

        return wrapped, whole()

    def _learn_speed(self, role: str, entry: ModelEntry, timing: Any) -> None:
        self._served[role] = entry.model
        read = (timing.prompt_tokens - timing.reused_tokens) if timing is not None else 0
        if read >= MIN_READ_SAMPLE and timing.first_token_s:
            speed = read / timing.first_token_s
            known = self._read_speed.get(entry.model)
            self._read_speed[entry.model] = speed if known is None else 0.7 * known + 0.3 * speed

    def history_budget(self, role: str, most: int) -> int:
        """Tokens of verbatim history for `role`'s next call: what the model that answers it
        reads in HISTORY_READ_S (a 135M model on 2 cores reads ~130 tokens a second, a 7B on
        a GPU thousands), at most `most`. Most turns read only what is new (llama.cpp keeps
        the rest); this bounds the turns where the window moves and it is read again."""
        speed = self._read_speed.get(self._served.get(role, ""))
        if speed is None:
            return most
        return max(MIN_HISTORY_TOKENS, min(most, int(speed * HISTORY_READ_S)))

    def memory_budget_chars(self, role: str) -> int | None:
        """Characters of recalled memories for `role`'s next call: what its model reads in
        MEMORY_READ_S (about four characters a token); None (no limit) until it was timed."""
        speed = self._read_speed.get(self._served.get(role, ""))
        return None if speed is None else max(MIN_MEMORY_CHARS, int(speed * MEMORY_READ_S * 4))

    def _check_offload(self, entry: ModelEntry) -> None:
        """After an Ollama call: told once when the model runs partly on the CPU (the next
        plan ranks it below a model that fits)."""
        loaded = offloaded(entry)
        if loaded is not None and f"offload:{entry.model}" not in self._reported:
            self._reported.add(f"offload:{entry.model}")
            self.notify(
                f"{entry.model} is {loaded.where()}: it answers slowly; a model that fits is "
                "preferred from now on (see: society status)"
            )

    def _prepare(self, role: str, entry: ModelEntry, client: Any, messages: list[LLMMessage]) -> list[LLMMessage]:
        prompt = list(messages)
        if instructions := current_turn().instructions:
            prompt.insert(max(0, len(prompt) - 1), SystemMessage(content=TURN_INSTRUCTIONS + instructions))
        if role in current_turn().reasoning_roles and not entry.has("reasoning"):
            # A model that thinks by itself is asked to (Ollama `think`); others are told how.
            # Small models follow the latest instruction best: put it just before the question.
            prompt.insert(len(prompt) - 1, SystemMessage(content=REASONING_INSTRUCTION))
        if entry.backend == "llama_cpp" and hasattr(client, "llm"):

            def count(text: str) -> int:
                return len(client.llm.tokenize(text.encode("utf-8"), add_bos=False))
        else:
            count = estimate_tokens
        fitted = fit_to_window(prompt, entry.context_window - entry.max_tokens, count)
        # autogen-ext's OpenAI client (and the servers behind it) take one leading system message.
        openai_client = type(client).__name__ == "OpenAIChatCompletionClient"
        return one_system_message(fitted) if openai_client else fitted

    @staticmethod
    def _split(result: CreateResult) -> CreateResult:
        if not isinstance(result.content, str):
            return result
        answer, reasoning = split_reasoning(result.content)
        thought = "\n\n".join(t for t in (result.thought, reasoning) if t) or None
        return result.model_copy(update={"content": answer, "thought": thought})

    def _record_call(
        self,
        role: str,
        entry: ModelEntry,
        result: CreateResult | None,
        latency: int,
        prompt: list[LLMMessage] | None,
        error: str | None = None,
    ) -> None:
        if not self.store:
            return
        traced = None
        if prompt is not None and os.environ.get(TRACE_ENV):
            traced = json.dumps([m.model_dump(mode="json") for m in prompt], ensure_ascii=False)
        self.store.record_call(
            turn_id=current_turn().turn_id,
            role=role,
            model=entry.model,
            ok=int(error is None),
            error=error,
            prompt_tokens=result.usage.prompt_tokens if result else None,
            completion_tokens=result.usage.completion_tokens if result else None,
            latency_ms=latency,
            prompt=traced,
        )

    def client(self, role: str, wrap: Wrap | None = None) -> RoleClient:
        return RoleClient(self, role, wrap)
