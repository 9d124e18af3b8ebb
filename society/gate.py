"""The one place every model call goes through.

For each call the gate (a) takes the machine-wide model lock, so one call runs at a time
across every process of the society, (b) asks the ladder for the role's models given a fresh
hardware reading, (c) tries them in order, falling down the ladder on connection errors,
timeouts and out-of-memory errors and recording each fallback, and (d) splits reasoning from
the answer so that `<think>` text is stored apart and never reaches a model again.

Each role talks to the gate through a `RoleClient`, an autogen `ChatCompletionClient`, so the
AutoGen agents and the selector need no special knowledge of any of this.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    SystemMessage,
)

from society import ladder, toolcalls
from society.clients import build_client, max_tokens_args, probe
from society.config import ModelEntry
from society.hardware import Readings, generation_threads, read_machine
from society.paths import model_lock_path
from society.reasoning import REASONING_INSTRUCTION, split_reasoning
from society.tokens import estimate_tokens

if TYPE_CHECKING:
    from autogen_core import FunctionCall
    from autogen_core.tools import ToolSchema

    from society.store import Store

LOCK_TIMEOUT_S = 900
TEXT_REPEAT_PENALTY = 1.15
PROBE_TTL_S = 30.0
TRACE_ENV = "SOCIETY_TRACE"

# Failures that mean "this rung cannot serve now": go down the ladder instead of failing.
OOM_PATTERN = re.compile(
    r"out of memory|CUDA error|failed to allocate|requires more system memory|Failed to (load|create)",
    re.IGNORECASE,
)


class NoModelAvailable(RuntimeError):
    """No rung of the ladder could answer; the message says what was tried."""


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


def fallback_reason(err: BaseException) -> str | None:
    """A one-line reason when `err` should send the call down the ladder; None for real bugs."""
    import httpx

    transient: tuple[type[BaseException], ...] = (
        TimeoutError,
        ConnectionError,
        OSError,
        httpx.TransportError,
    )
    try:
        import openai

        transient += (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError)
    except ImportError:
        pass
    text = f"{type(err).__name__}: {err}".strip()
    if isinstance(err, transient):
        return "timeout" if isinstance(err, TimeoutError) else f"connection: {text[:200]}"
    if OOM_PATTERN.search(str(err)):
        return f"out of memory or load failure: {text[:200]}"
    try:
        from ollama import ResponseError

        if isinstance(err, ResponseError):
            return f"ollama: {text[:200]}"
    except ImportError:
        pass
    return None


def scrub(messages: Sequence[LLMMessage]) -> list[LLMMessage]:
    """Drop stored reasoning from assistant messages before they reach any model."""
    clean: list[LLMMessage] = []
    for message in messages:
        if isinstance(message, AssistantMessage):
            content = message.content
            if isinstance(content, str):
                content = split_reasoning(content)[0]
            message = message.model_copy(update={"thought": None, "content": content})
        clean.append(message)
    return clean


def fit_to_window(messages: list[LLMMessage], budget: int, count: Callable[[str], int]) -> list[LLMMessage]:
    """Drop the oldest non-system messages until the prompt fits `budget` tokens.

    The last message (what the model must answer) and system messages are always kept.
    """

    def size(m: LLMMessage) -> int:
        return count(m.content if isinstance(m.content, str) else json.dumps(m.content, default=str)) + 4

    total = sum(size(m) for m in messages)
    kept = list(messages)
    index = 0
    while total > budget and index < len(kept) - 1:
        if isinstance(kept[index], SystemMessage):
            index += 1
            continue
        total -= size(kept.pop(index))
    return kept


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
    ):
        """`clients`, `read` and `reachable` replace the real ones in tests (scripted models,
        recorded readings); left out, clients are built from the entries and probed."""
        self.entries = entries
        self.store = store
        self._clients: dict[str, ChatCompletionClient] = dict(clients or {})
        self._read = read or (lambda: read_machine({e.base_url for e in entries if e.backend == "ollama"}))
        self._fixed_reachable = reachable
        self._probe_at = 0.0
        self._reachable: set[str] = set()
        self._reported: set[str] = set()
        self.notify = notify or (lambda line: print(f"society: {line}", file=sys.stderr))
        self._local = asyncio.Lock()
        from filelock import FileLock

        # thread_local=False: the lock is taken in a worker thread and released in another.
        self._machine = FileLock(str(model_lock_path()), thread_local=False)
        self.turn_id: int | None = None
        self.failure: str | None = None  # why the last call found no model, for a clean error
        self.reasoning_roles: set[str] = set()
        self.last_call: dict[str, CallRecord] = {}
        # Off only to measure what constrained decoding is worth (tests/bench_tools.py).
        self.constrain_tools = True
        self.grounders: dict[str, toolcalls.Grounder] = {}  # set by the conversation's toolboxes
        # Roles that are only ever asked to act (remember, edit a prompt, add an example): their
        # first reply in a turn must be a tool call, not a chat answer (RoleSpec.must_act).
        self.acting_roles: set[str] = set()

    # -- reachability ---------------------------------------------------------------------

    def reachable(self) -> set[str]:
        """Entries that can answer now; unreachable ones are reported once, one line each."""
        if self._fixed_reachable is not None:
            return self._fixed_reachable
        if time.monotonic() - self._probe_at > PROBE_TTL_S:
            found = probe(self.entries)
            self._reachable = {model for model, why in found.items() if why is None}
            for model, why in found.items():
                if why and model not in self._reported:
                    self._reported.add(model)
                    self.notify(f"skipping {model}: {why}")
            self._probe_at = time.monotonic()
        return self._reachable

    def mark_unreachable(self, model: str) -> None:
        self._reachable.discard(model)

    def client_for(self, entry: ModelEntry) -> ChatCompletionClient:
        if entry.model not in self._clients:
            self._clients[entry.model] = build_client(entry, threads=generation_threads())
        return self._clients[entry.model]

    def models_in_process(self) -> list[str]:
        """Embedded models this process has loaded (their weights stay in memory)."""
        backends = {e.model: e.backend for e in self.entries}
        return [model for model in self._clients if backends.get(model) == "llama_cpp"]

    def plan(self, role: str, needs: tuple[str, ...] = ()) -> list[ladder.Choice]:
        return ladder.plan(role, self.entries, self._read(), self.reachable(), needs)

    # -- the call -------------------------------------------------------------------------

    async def create(self, role: str, messages: Sequence[LLMMessage], **kwargs: Any) -> CreateResult:
        """Answer `messages` for `role` on the best model that works now."""
        async with self._local:
            await asyncio.to_thread(self._machine.acquire, timeout=LOCK_TIMEOUT_S)
            try:
                return await self._create_locked(role, scrub(messages), **kwargs)
            finally:
                self._machine.release()

    async def _create_locked(self, role: str, messages: list[LLMMessage], **kwargs: Any) -> CreateResult:
        needs = ("tools",) if kwargs.get("tools") else ()
        choices = await asyncio.to_thread(self.plan, role, needs)
        if not choices:
            self.failure = f"no model on the ladder can serve the {role} role right now (see: society status)"
            raise NoModelAvailable(self.failure)
        fallbacks: list[str] = []
        for index, choice in enumerate(choices):
            entry = choice.entry
            next_model = choices[index + 1].entry.model if index + 1 < len(choices) else None
            # A timeout exists to fall down the ladder; on the last rung there is nowhere to
            # fall, so it may take as long as the turn's own time limit allows.
            timeout = entry.timeout_s if next_model else None
            started = time.perf_counter()
            try:
                client = await asyncio.to_thread(self.client_for, entry)
                prompt, result, valid = await asyncio.wait_for(
                    self._ask(role, entry, client, messages, kwargs), timeout
                )
            except Exception as err:  # noqa: BLE001 - classified below; bugs are re-raised
                reason = fallback_reason(err)
                if reason is None:
                    raise
                latency = int((time.perf_counter() - started) * 1000)
                self._record_call(role, entry, None, latency, None, error=reason)
                if self.store:
                    self.store.record_fallback(self.turn_id, role, entry.model, next_model, reason)
                fallbacks.append(f"{entry.model}: {reason}")
                self.notify(f"{role}: {entry.model} failed ({reason}); trying {next_model or 'nothing else'}")
                if reason.startswith("connection"):
                    self.mark_unreachable(entry.model)
                continue
            latency = int((time.perf_counter() - started) * 1000)
            result = self._split(result)
            self._record_call(role, entry, result, latency, prompt)
            self.last_call[role] = CallRecord(
                model=entry.model,
                prompt_tokens=result.usage.prompt_tokens,
                completion_tokens=result.usage.completion_tokens,
                latency_ms=latency,
                reasoning=result.thought,
                fallbacks=fallbacks,
                valid_tool_reply=valid,
            )
            return result
        self.failure = f"every model failed for the {role} role: " + "; ".join(fallbacks)
        raise NoModelAvailable(self.failure)

    async def _ask(
        self, role: str, entry: ModelEntry, client: Any, messages: list[LLMMessage], kwargs: dict[str, Any]
    ) -> tuple[list[LLMMessage], CreateResult, bool | None]:
        """One call on one model. A model without native tool calling gets the tools as text
        and a reply constrained to a valid call (see society/toolcalls.py); a native one whose
        reply is a tool call printed as text has it turned into the call it meant."""
        kwargs = dict(kwargs)
        if (schema := kwargs.pop("json_schema", None)) is not None:
            # Structured output (the judge's scores): the backend is held to the schema, so
            # even the embedded model returns valid JSON.
            extra = dict(kwargs.get("extra_create_args") or {})
            extra.update(toolcalls.backend_args(entry.backend, schema))
            if entry.backend == "ollama":
                extra["options"] = {"temperature": 0.0, **extra.get("options", {})}
            else:
                extra.setdefault("temperature", 0.0)
            kwargs["extra_create_args"] = extra
        tools = toolcalls.schemas(kwargs.get("tools") or ())
        native = entry.has("tools")
        if native:
            prompt = self._prepare(role, entry, client, messages)
            if role in self.acting_roles and not toolcalls.acted(messages) and tools:
                kwargs = {**kwargs, "tool_choice": "required"}
            result = await client.create(prompt, **self._call_args(entry, kwargs))
            if tools and isinstance(result.content, str):
                calls, valid = toolcalls.parse(result.content, tools, repair=False)
                if valid and isinstance(calls, list):
                    result = result.model_copy(update={"content": calls, "finish_reason": "function_calls"})
            return prompt, result, None  # the backend validated its own calls
        if tools:
            tools = toolcalls.narrowed(tools, toolcalls.last_request(messages))
        text_messages = toolcalls.prompt_with_tools(messages, tools) if tools else toolcalls.as_text(messages)
        prompt = self._prepare(role, entry, client, text_messages)
        args = {k: v for k, v in kwargs.items() if k not in ("tools", "tool_choice")}
        if entry.backend == "llama_cpp" and not tools and schema is None:
            # Free text on the embedded model loops ("I'm ready to help." twenty times) at
            # llama.cpp's neutral 1.0; Ollama already defaults to 1.1. Never on constrained
            # output, where repeated braces and quotes are the point.
            extra = dict(args.get("extra_create_args") or {})
            extra.setdefault("repeat_penalty", TEXT_REPEAT_PENALTY)
            args["extra_create_args"] = extra
        if tools:
            extra = dict(args.get("extra_create_args") or {})
            extra["max_tokens"] = max(int(extra.get("max_tokens", entry.max_tokens)), toolcalls.MIN_TOOL_TOKENS)
            # A tool call wants the likeliest reading, not variety.
            if entry.backend == "ollama":
                extra["options"] = {"temperature": 0.0, **extra.get("options", {})}
            else:
                extra.setdefault("temperature", 0.0)
            if self.constrain_tools:
                must_act = role in self.acting_roles and not toolcalls.acted(messages)
                schema = toolcalls.call_schema(
                    tools, allow_answer=kwargs.get("tool_choice") != "required" and not must_act
                )
                extra.update(toolcalls.backend_args(entry.backend, schema))
            args["extra_create_args"] = extra
            args.pop("json_output", None)
        result = await client.create(prompt, **self._call_args(entry, args))
        valid = None
        if tools and isinstance(result.content, str):
            content, valid = toolcalls.parse(result.content, tools, repair=self.constrain_tools)
            if isinstance(content, list) and self.constrain_tools:
                content, result = await self._grounded(role, entry, client, messages, tools, content, args, result)
            if isinstance(content, list) and (done := toolcalls.repeated_result(messages, content)) is not None:
                content = done  # the call already ran: its result is the answer
            finish = "function_calls" if isinstance(content, list) else result.finish_reason
            result = result.model_copy(update={"content": content, "finish_reason": finish})
        return prompt, result, valid

    async def _grounded(
        self,
        role: str,
        entry: ModelEntry,
        client: Any,
        messages: list[LLMMessage],
        tools: list[ToolSchema],
        calls: list[FunctionCall],
        args: dict[str, Any],
        result: CreateResult,
    ) -> tuple[list[FunctionCall], CreateResult]:
        """One more constrained try for a call whose arguments its tool's grounder corrects
        (an edit whose old_text is not in the file: choose it from the file's own text).
        The retry's prompt is the conversation and the grounding's note, without the tool
        list, whose examples a small model copies. The first call stands when the grounder
        has nothing better or the retry fails."""
        call = calls[0]
        grounder = self.grounders.get(call.name)
        request = toolcalls.last_request(messages)
        grounding = grounder(toolcalls.call_arguments(call), request) if grounder else None
        tool = next((t for t in tools if t["name"] == call.name), None)
        if grounding is None or tool is None:
            return calls, result
        prompt = toolcalls.as_text(messages)
        prompt.insert(max(0, len(prompt) - 1), SystemMessage(content=grounding.note))
        schema = toolcalls.grounded_schema(tool, grounding)
        extra = {**args["extra_create_args"], **toolcalls.backend_args(entry.backend, schema)}
        again = await client.create(
            self._prepare(role, entry, client, prompt), **self._call_args(entry, {**args, "extra_create_args": extra})
        )
        usage = RequestUsage(
            prompt_tokens=result.usage.prompt_tokens + again.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens + again.usage.completion_tokens,
        )
        result = result.model_copy(update={"usage": usage})
        if not isinstance(again.content, str):
            return calls, result
        content, valid = toolcalls.parse(again.content, [tool], repair=True)
        return (content if valid and isinstance(content, list) else calls), result

    def _prepare(self, role: str, entry: ModelEntry, client: Any, messages: list[LLMMessage]) -> list[LLMMessage]:
        prompt = list(messages)
        if role in self.reasoning_roles and not entry.has("reasoning"):
            # Small models follow the latest instruction best: put it just before the question.
            prompt.insert(len(prompt) - 1, SystemMessage(content=REASONING_INSTRUCTION))
        if entry.backend == "llama_cpp" and hasattr(client, "llm"):

            def count(text: str) -> int:
                return len(client.llm.tokenize(text.encode("utf-8"), add_bos=False))
        else:
            count = estimate_tokens
        return fit_to_window(prompt, entry.context_window - entry.max_tokens, count)

    @staticmethod
    def _call_args(entry: ModelEntry, kwargs: dict[str, Any]) -> dict[str, Any]:
        args = dict(kwargs)
        extra = dict(args.pop("extra_create_args", None) or {})
        max_tokens = int(extra.pop("max_tokens", entry.max_tokens))
        for key, value in max_tokens_args(entry, max_tokens).items():
            extra[key] = {**value, **extra.get(key, {})} if isinstance(value, dict) else value
        args["extra_create_args"] = extra
        if not args.get("tools"):
            args.pop("tools", None)
            args.pop("tool_choice", None)
        return args

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
            turn_id=self.turn_id,
            role=role,
            model=entry.model,
            ok=int(error is None),
            error=error,
            prompt_tokens=result.usage.prompt_tokens if result else None,
            completion_tokens=result.usage.completion_tokens if result else None,
            latency_ms=latency,
            prompt=traced,
        )

    def client(self, role: str) -> RoleClient:
        return RoleClient(self, role)


class RoleClient(ChatCompletionClient):
    """A role's view of the gate, usable anywhere AutoGen expects a model client."""

    def __init__(self, gate: ModelGate, role: str):
        self.gate = gate
        self.role = role
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def create(
        self,
        messages,
        *,
        tools=(),
        tool_choice="auto",
        json_output=None,
        extra_create_args=None,
        cancellation_token=None,
    ) -> CreateResult:
        kwargs: dict[str, Any] = {"extra_create_args": dict(extra_create_args or {})}
        if tools:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = tool_choice
        if json_output is not None:
            kwargs["json_output"] = json_output
        result = await self.gate.create(self.role, messages, **kwargs)
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + result.usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + result.usage.completion_tokens,
        )
        return result

    async def create_stream(self, messages, **kwargs):
        # Local backends answer whole messages; the terminal streams message by message.
        yield await self.create(messages, **kwargs)

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(self, messages, *, tools=()) -> int:
        return sum(estimate_tokens(str(m.content)) for m in messages)

    def remaining_tokens(self, messages, *, tools=()) -> int:
        smallest = min(e.context_window for e in self.gate.entries)
        return smallest - self.count_tokens(messages)

    @property
    def capabilities(self) -> ModelInfo:  # deprecated in autogen-core, still abstract
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            vision=False, function_calling=True, json_output=True, structured_output=True, family=ModelFamily.UNKNOWN
        )
