"""autogen-ext's llama.cpp client, streaming and stoppable (its own `create_stream` raises
NotImplementedError, and a cancelled `create` left llama.cpp generating in its thread for as
long as the answer took, holding the machine's model lock).

Every call generates token by token in a worker thread: `create_stream` hands the text on as
it comes, `create` gathers it. A cancelled call tells the thread to stop, which it does at
the next token, and returns only once the model is free. llama-cpp-python keeps the tokens
of the last prompt and reads only what differs, so a prompt whose beginning does not change
between turns (system prompt, older history) is not read again, and society/kv_reuse.py keeps
what follows a piece that left the prompt (last turn's memories, turns the window dropped);
`last_timing` says how many tokens were reused, when the first token came and how long
generation took.

Imported only when the embedded model is built (llama_cpp is a heavy import).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autogen_core import CancellationToken
from autogen_core.models import (
    AssistantMessage,
    CreateResult,
    LLMMessage,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient

from society import greedy_grammar, json_fill, kv_reuse
from society.hardware import generation_threads
from society.role_client import final_result

STATE_CACHE_BYTES = 256 * 2**20  # model states kept in RAM (a 135M model's is ~25 KB per token)
_LEVELS = {1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def _quiet_llama_cpp() -> Any:
    """llama.cpp's own messages go to the log (society.log), not into the chat: it prints
    some at a level llama-cpp-python lets through whatever `verbose` says."""
    import llama_cpp

    log = logging.getLogger("llama.cpp")

    @llama_cpp.llama_log_callback
    def to_log(level: int, text: bytes, _data: Any) -> None:
        log.log(_LEVELS.get(level, logging.DEBUG), text.decode("utf-8", "replace").rstrip())

    llama_cpp.llama_log_set(to_log, ctypes.c_void_p(0))
    _KEPT.append(to_log)  # C holds a pointer to it
    return to_log


_KEPT: list[Any] = []


@dataclass(frozen=True)
class Timing:
    """One call's figures: prompt tokens read and reused, time to the first token, time
    spent generating after it (tokens per second is completion tokens over this)."""

    prompt_tokens: int
    reused_tokens: int
    completion_tokens: int
    first_token_s: float | None
    generation_s: float


@dataclass(frozen=True)
class _Done:
    text: str
    finish: str
    timing: Timing


def _converted(messages: Sequence[LLMMessage]) -> list[dict[str, str]]:
    converted = []
    for message in messages:
        if not isinstance(message.content, str):
            raise ValueError(f"the embedded model reads text messages only, not {type(message).__name__} parts")
        if isinstance(message, SystemMessage):
            converted.append({"role": "system", "content": message.content})
        elif isinstance(message, UserMessage):
            converted.append({"role": "user", "content": message.content})
        elif isinstance(message, AssistantMessage):
            converted.append({"role": "assistant", "content": message.content})
        else:
            raise ValueError(f"the embedded model cannot read a {type(message).__name__}")
    return converted


class EmbeddedClient(LlamaCppChatCompletionClient):
    """LlamaCppChatCompletionClient that streams, stops within a token, and times itself."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        _quiet_llama_cpp()  # again: loading the model set llama-cpp-python's own printer back
        self.last_timing: Timing | None = None
        self._free = threading.Lock()  # one generation at a time on this model
        self._stop: threading.Event | None = None  # the running call's
        self._keep_states()
        self._abort_reading()
        self._reused: list[int] = []  # per generation, tokens not read again (society/kv_reuse.py)
        kv_reuse.install(self.llm, self._reused)
        greedy_grammar.install(self.llm)

    def _keep_states(self) -> None:
        """Keep the model's state after each call in RAM, keyed by its tokens: when other
        work (the judge, the summary) used the model in between, the chat's next prompt
        starts from its own last state instead of being read again from the start."""
        from llama_cpp import LlamaRAMCache

        self.llm.set_cache(LlamaRAMCache(capacity_bytes=STATE_CACHE_BYTES))

    def _abort_reading(self) -> None:
        """Let a stop interrupt llama.cpp while it reads a prompt (between tokens is not
        enough: a long prompt is read in one uninterruptible batch of up to 512 tokens)."""
        import llama_cpp

        def aborted(_data: Any) -> bool:
            stop = self._stop
            return stop is not None and stop.is_set()

        self._abort_callback = llama_cpp.ggml_abort_callback(aborted)  # kept: C holds a pointer to it
        llama_cpp.llama_set_abort_callback(self.llm._ctx.ctx, self._abort_callback, None)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Any] = (),
        tool_choice: Any = "auto",
        json_output: Any = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006 - the interface's own default, never mutated
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        return await final_result(
            self.create_stream(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra_create_args,
                cancellation_token=cancellation_token,
            )
        )

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Any] = (),
        tool_choice: Any = "auto",
        json_output: Any = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006 - the interface's own default, never mutated
        cancellation_token: CancellationToken | None = None,
        include_usage: bool | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        if tools:
            raise ValueError("the embedded model is given tools as text (society/toolcalls.py), not natively")
        args = dict(extra_create_args)
        if isinstance(json_output, type):
            args["response_format"] = {"type": "json_object", "schema": json_output.model_json_schema()}
        elif json_output is True:
            args["response_format"] = {"type": "json_object"}
        converted = _converted(messages)
        loop = asyncio.get_running_loop()
        said: asyncio.Queue[str | _Done | BaseException] = asyncio.Queue()
        stop = threading.Event()
        if cancellation_token is not None:
            cancellation_token.add_callback(stop.set)

        def put(item: str | _Done | BaseException) -> None:
            loop.call_soon_threadsafe(said.put_nowait, item)

        def generate() -> None:
            with self._free:
                try:
                    put(self._generate(converted, args, stop, put))
                except BaseException as err:  # noqa: BLE001 - handed to the awaiting coroutine
                    put(err)

        worker = loop.run_in_executor(None, generate)
        try:
            while True:
                item = await said.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, str):
                    yield item
                    continue
                self.last_timing = item.timing
                usage = RequestUsage(item.timing.prompt_tokens, item.timing.completion_tokens)
                self._total_usage["prompt_tokens"] += usage.prompt_tokens
                self._total_usage["completion_tokens"] += usage.completion_tokens
                yield CreateResult(content=item.text, usage=usage, finish_reason=item.finish, cached=False)
                return
        finally:
            if not worker.done():
                stop.set()  # cancelled or abandoned: llama.cpp stops at the next token
                await asyncio.shield(worker)

    def _generate(self, messages: list[dict[str, str]], args: dict[str, Any], stop: threading.Event, put) -> _Done:
        llm = self.llm
        threads = generation_threads()  # by what other processes use now, not when the model loaded
        llm._ctx.set_n_threads(threads, threads)
        self._reused.clear()
        started = time.perf_counter()
        schema = (args.get("response_format") or {}).get("schema")
        if args.pop(json_fill.FILL, False) and schema is not None and json_fill.fillable(schema):
            prompt_tokens = json_fill.chat_prompt(llm, messages)
            max_tokens = int(args.get("max_tokens") or 512)
            if prompt_tokens is not None and (done := self._fill(prompt_tokens, schema, max_tokens, stop, started)):
                return done
        first: float | None = None
        parts: list[str] = []
        finish = "stop"
        self._stop = stop
        chunks = llm.create_chat_completion(messages=messages, stream=True, **args)
        try:
            for chunk in chunks:
                if stop.is_set():
                    finish = "unknown"  # stopped by the user; what was said is kept
                    break
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                if text:
                    first = first or time.perf_counter()
                    parts.append(text)
                    put(text)
                if choice.get("finish_reason"):
                    finish = "length" if choice["finish_reason"] == "length" else "stop"
        except RuntimeError:
            if not stop.is_set():
                raise
            finish = "unknown"  # stopped while reading the prompt (llama_decode aborted)
        finally:
            self._stop = None
            chunks.close()
        ended = time.perf_counter()
        held = [int(t) for t in llm._input_ids]
        completion = len(parts)
        prompt = max(len(held) - completion, 0)
        timing = Timing(
            prompt_tokens=prompt,
            reused_tokens=min(self._reused[-1] if self._reused else 0, prompt),
            completion_tokens=completion,
            first_token_s=(first - started) if first else None,
            generation_s=(ended - first) if first else 0.0,
        )
        return _Done("".join(parts), finish, timing)

    def _fill(
        self, prompt: list[int], schema: dict[str, Any], max_tokens: int, stop: threading.Event, started: float
    ) -> _Done | None:
        """A reply held to `schema` with its fixed parts written, not generated (society/json_fill.py);
        None when a piece could not be asked for (a grammar llama.cpp refused): then the reply
        is generated whole."""
        self._stop = stop
        try:
            filled = json_fill.fill(self.llm, prompt, schema, max_tokens, stop)
        except Exception as err:  # noqa: BLE001 - llama.cpp's grammar parser and decode fail alike
            if not stop.is_set():
                logging.getLogger(__name__).warning("filling a reply failed (%s); generating it whole", err)
                return None
            filled = json_fill.Filled("", 0, "unknown", None)  # stopped while reading the prompt
        finally:
            self._stop = None
        timing = Timing(
            prompt_tokens=len(prompt),
            reused_tokens=min(self._reused[0] if self._reused else 0, len(prompt)),
            completion_tokens=filled.completion_tokens,
            first_token_s=(filled.first_at - started) if filled.first_at else None,
            generation_s=(time.perf_counter() - filled.first_at) if filled.first_at else 0.0,
        )
        return _Done(filled.text, filled.finish, timing)
