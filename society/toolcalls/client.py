"""Tool calls for models without native function calling.

Such models (the embedded SmolLM2, many small Ollama models) are shown the tools as text and
must answer with one JSON object: `{"name": TOOL, "arguments": {...}}`, where the pseudo-tool
`answer` carries a reply to the user. The reply is constrained by a JSON schema (a llama.cpp
grammar, Ollama's `format`, OpenAI structured output), so every reply is valid JSON naming a
real tool with arguments of the right shape: a tool call printed as text cannot happen.

The same module parses replies without constraint, which is what the tool-use benchmark
compares against, and rescues tool calls that native-calling models print as text anyway.
All of it reaches a model through `ToolCallClient`, which wraps whichever backend client the
gate picked; the gate itself knows nothing of tools.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelInfo,
    RequestUsage,
    SystemMessage,
)
from autogen_core.tools import Tool, ToolSchema

from society.toolcalls.grounding import (
    Grounder,
    Grounding,
    directed,
    distinct,
    grounded_arguments,
    kept_as_chosen,
    settled,
    span_grounding,
    with_stated_numbers,
    with_unused_number,
)
from society.toolcalls.protocol import (
    MAX_REGROUNDINGS,
    MIN_TOOL_TOKENS,
    acted,
    as_text,
    call_arguments,
    call_schema,
    grounded_schema,
    last_request,
    narrowed,
    parse,
    prompt_with_tools,
    repeated_result,
    undone_result,
)
from society.toolcalls.schema import parameters, schemas, valid_arguments

if TYPE_CHECKING:
    from society.models.config import ModelEntry

# -- the client wrapper ------------------------------------------------------------------------

Prepare = Callable[[list[LLMMessage]], list[LLMMessage]]


class ToolCallClient(ChatCompletionClient):
    """Tool calls made right for one backend client, whatever it can do, wrapping it the way
    autogen-ext's `ChatCompletionCache` wraps a client (callers see a ChatCompletionClient).

    A model with native function calling gets the tools as they are, `tool_choice` required
    when its role must act, and a call it printed as text anyway turned into the call. Any
    other model gets the text protocol of this module: the tools narrowed to the request and
    shown as text, the reply constrained to a valid call or an answer, parsed into
    FunctionCalls, asked once more within a grounding when a call cannot land, and a call
    already made this turn answered by the result it got.

    `prepare` fits the final prompt to the model (the gate's window and reasoning
    instruction); after each call, `last_prompt` is what was sent, `valid` whether a text
    reply was a valid call or answer and `cut_off` whether it reached the token limit (None
    when the backend validates its own calls)."""

    def __init__(
        self,
        client: ChatCompletionClient,
        entry: ModelEntry,
        *,
        prepare: Prepare | None = None,
        grounders: Mapping[str, Grounder] | None = None,
        must_act: bool = False,
        constrain: bool = True,
    ):
        self.inner = client
        self.entry = entry
        self.prepare: Prepare = prepare or list
        self.grounders = dict(grounders or {})
        self.must_act = must_act
        self.constrain = constrain
        self.last_prompt: list[LLMMessage] = []
        self.valid: bool | None = None
        self.cut_off: bool | None = None
        self.first_calls: list[FunctionCall] | None = None  # the model's own calls, before any holding

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: Any = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006 - the interface's own default, never mutated
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        from society.models.backends.base import OUTPUT_SCHEMA
        from society.models.backends.registry import request_args

        messages = list(messages)
        extra = dict(extra_create_args)
        output_schema = extra.pop(OUTPUT_SCHEMA, None)
        max_tokens = int(extra.pop("max_tokens", self.entry.max_tokens))
        offered = schemas(tools)
        must_act = self.must_act and bool(offered) and not acted(messages)
        if self.entry.has("tools"):
            self.last_prompt = self.prepare(messages)
            args = request_args(self.entry, max_tokens=max_tokens, schema=output_schema, extra=extra)
            result = await self.inner.create(
                self.last_prompt,
                tools=tools,
                tool_choice="required" if must_act else tool_choice if offered else "auto",
                json_output=json_output,
                extra_create_args=args,
                cancellation_token=cancellation_token,
            )
            if offered and isinstance(result.content, str):
                calls, valid = parse(result.content, offered, repair=False)
                if valid and isinstance(calls, list):
                    result = result.model_copy(update={"content": calls, "finish_reason": "function_calls"})
            self.first_calls = result.content if isinstance(result.content, list) else None
            if isinstance(result.content, list) and not acted(messages):
                # A 7B copies the request better than a 135M model, not perfectly: the same
                # holding of the first call to the request's numbers and words.
                request = last_request(messages)
                held = [self._as_stated(call, offered, request) for call in result.content]
                result = result.model_copy(update={"content": self._kept(result.content, held, offered, request)})
            if must_act and not self.entry.kind.honours_tool_choice and isinstance(result.content, str):
                # Ollama has no tool_choice: "required" is dropped and the model may answer
                # in prose. Ask once more with the output held to a call (Ollama `format`).
                return await self._by_text(messages, offered, False, max_tokens, extra, cancellation_token)
            return result
        if offered:
            allow_answer = tool_choice != "required" and not must_act
            return await self._by_text(messages, offered, allow_answer, max_tokens, extra, cancellation_token)
        args = self._plain(messages, max_tokens, output_schema, extra)
        return await self.inner.create(
            self.last_prompt, json_output=json_output, extra_create_args=args, cancellation_token=cancellation_token
        )

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: Any = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006 - the interface's own default, never mutated
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncIterator[str | CreateResult]:
        """A plain answer streams from the model as it is written; a call offering tools or
        holding the reply to a schema comes whole (a half-written call means nothing)."""
        from society.models.backends.base import OUTPUT_SCHEMA

        extra = dict(extra_create_args)
        if (
            schemas(tools)
            or OUTPUT_SCHEMA in extra
            or json_output is not None
            or not hasattr(self.inner, "create_stream")
        ):
            yield await self.create(
                messages,
                tools=tools,
                tool_choice=tool_choice,
                json_output=json_output,
                extra_create_args=extra,
                cancellation_token=cancellation_token,
            )
            return
        max_tokens = int(extra.pop("max_tokens", self.entry.max_tokens))
        args = self._plain(list(messages), max_tokens, None, extra)
        async for item in self.inner.create_stream(
            self.last_prompt, extra_create_args=args, cancellation_token=cancellation_token
        ):
            yield item

    def _plain(
        self, messages: list[LLMMessage], max_tokens: int, output_schema: Any, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """A call without tools: the prompt as text (kept in `last_prompt`) and its arguments,
        held to `output_schema` when there is one, else free text."""
        from society.models.backends.base import CHOICES
        from society.models.backends.registry import request_args

        self.last_prompt = self.prepare(as_text(messages))
        if (options := extra.pop(CHOICES, None)) is not None:
            if self.entry.kind.choices_from_logprobs:  # nothing generated
                return {CHOICES: list(options), "max_tokens": 1}
            # Other backends answer with one option held by the output schema (probability 1
            # each); an object, as OpenAI's structured output requires at the top.
            output_schema = {
                "type": "object",
                "properties": {"choice": {"type": "string", "enum": list(options)}},
                "required": ["choice"],
            }
        return request_args(
            self.entry,
            max_tokens=max_tokens,
            schema=output_schema,
            temperature=0.0 if output_schema is not None else None,
            free_text=output_schema is None,
            extra=extra,
        )

    async def _by_text(
        self,
        messages: list[LLMMessage],
        offered: list[ToolSchema],
        allow_answer: bool,
        max_tokens: int,
        extra: dict[str, Any],
        cancellation_token: CancellationToken | None,
    ) -> CreateResult:
        """Tools by the text protocol: shown as text, the reply held to a valid call (or an
        answer, when `allow_answer`) by the backend's output schema, parsed into calls."""
        from society.models.backends.registry import request_args

        offered, matched = narrowed(offered, last_request(messages))
        if matched and not acted(messages):
            # A tool matches the request and none has run: the first reply calls one. Offered
            # `answer`, the 135M model made up a tool's result instead in 16 % of such requests.
            allow_answer = False
        self.last_prompt = self.prepare(prompt_with_tools(messages, offered))
        schema = call_schema(offered, allow_answer, last_request(messages)) if self.constrain else None
        # A tool call wants the likeliest reading, not variety, and room for a file's content.
        args = request_args(
            self.entry, max_tokens=max(max_tokens, MIN_TOOL_TOKENS), schema=schema, temperature=0.0, extra=extra
        )
        result = await self.inner.create(
            self.last_prompt, extra_create_args=args, cancellation_token=cancellation_token
        )
        return await self._as_calls(result, messages, offered, args, cancellation_token)

    async def _as_calls(
        self,
        result: CreateResult,
        messages: list[LLMMessage],
        offered: list[ToolSchema],
        args: dict[str, Any],
        cancellation_token: CancellationToken | None,
    ) -> CreateResult:
        if not isinstance(result.content, str):
            return result
        content, self.valid = parse(result.content, offered, repair=self.constrain)
        self.cut_off = result.finish_reason == "length"  # repaired or not, the model was looping
        self.first_calls = content if isinstance(content, list) else None
        first = isinstance(content, list) and not acted(messages)
        if isinstance(content, list) and first:
            # The first call of a turn takes its values from the request; later ones may take
            # them from tool results, which the request does not contain.
            content = [self._as_stated(call, offered, last_request(messages)) for call in content]
        if isinstance(content, list) and self.constrain:
            content, result = await self._grounded(messages, offered, content, args, result, cancellation_token)
        if isinstance(content, list) and first and self.first_calls and content[0].name not in self.grounders:
            content = self._kept(self.first_calls, content, offered, last_request(messages))
        if isinstance(content, list) and (done := repeated_result(messages, content)) is not None:
            content = done  # the call already ran: its result is the answer
        if isinstance(content, list) and (done := undone_result(messages, content)) is not None:
            content = done  # the call would undo what this turn did: that is the answer
        finish = "function_calls" if isinstance(content, list) else result.finish_reason
        return result.model_copy(update={"content": content, "finish_reason": finish})

    @staticmethod
    def _kept(
        chosen: list[FunctionCall], held: list[FunctionCall], offered: list[ToolSchema], request: str
    ) -> list[FunctionCall]:
        """`held` with what the model chose put back where the holding must not change it
        (kept_as_chosen); a tool's own grounder (an edit held to the file's text) knows more
        than the request and is not second-guessed, nor a call of another tool."""
        kept = []
        for before, after in zip(chosen, held, strict=False):  # a grounded retry keeps only the first
            tool = next((t for t in offered if t["name"] == after.name), None)
            if tool is None or before.name != after.name:
                kept.append(after)
                continue
            arguments = kept_as_chosen(call_arguments(before), call_arguments(after), parameters(tool), request)
            if arguments == call_arguments(after) or not valid_arguments(arguments, tool):
                kept.append(after)
            else:
                kept.append(
                    FunctionCall(id=after.id, name=after.name, arguments=json.dumps(arguments, ensure_ascii=False))
                )
        return kept

    @staticmethod
    def _as_stated(call: FunctionCall, offered: list[ToolSchema], request: str) -> FunctionCall:
        """The call's numbers and strings held to what the request states (see
        with_stated_numbers, with_unused_number and grounded_arguments); still valid for its
        tool, or as it was."""
        tool = next((t for t in offered if t["name"] == call.name), None)
        arguments = call_arguments(call)
        if tool is None or not request:
            return call
        numbers = with_unused_number(with_stated_numbers(arguments, tool, request), tool, request)
        fixed = directed(grounded_arguments(numbers, tool, request), request)
        if fixed == arguments or not valid_arguments(fixed, tool):
            return call
        return FunctionCall(id=call.id, name=call.name, arguments=json.dumps(fixed, ensure_ascii=False))

    async def _grounded(
        self,
        messages: list[LLMMessage],
        offered: list[ToolSchema],
        calls: list[FunctionCall],
        args: dict[str, Any],
        result: CreateResult,
        cancellation_token: CancellationToken | None,
    ) -> tuple[list[FunctionCall], CreateResult]:
        """One more constrained try for a call whose arguments its tool's grounder corrects
        (an edit whose old_text is not in the file: choose it from the file's own text), or,
        on a turn's first call, whose required names are not the request's (span_grounding;
        asked again while names stay loose, at most MAX_REGROUNDINGS times, since two loose
        names may take the same span). The retry's prompt is the conversation and the
        grounding's note, without the tool list, whose examples a small model copies. The
        call stands as it was when nothing better is known or a retry fails."""
        call = calls[0]
        tool = next((t for t in offered if t["name"] == call.name), None)
        grounder = self.grounders.get(call.name)
        request = last_request(messages)
        spans = tool is not None and bool(request) and not acted(messages)
        for _ in range(1 if grounder else MAX_REGROUNDINGS):
            grounding = grounder(call_arguments(call), request) if grounder else None
            if grounding is None and spans:
                grounding = span_grounding(call_arguments(call), tool, request)
            if grounding is None or tool is None:
                break
            again, result = await self._retry(messages, tool, call, grounding, args, result, cancellation_token)
            if again is None or again.arguments == call.arguments:
                break
            call = again
        return [call], result

    async def _retry(
        self,
        messages: list[LLMMessage],
        tool: ToolSchema,
        call: FunctionCall,
        grounding: Grounding,
        args: dict[str, Any],
        result: CreateResult,
        cancellation_token: CancellationToken | None,
    ) -> tuple[FunctionCall | None, CreateResult]:
        """The call made again within `grounding` (None when the reply is no valid call);
        `result` with the retry's tokens added. A grounding that leaves one value for each
        argument it holds ("Manhattan", the one currency the request names) is written in
        without asking the model: a third of the retries on the development cases."""

        if (known := settled(grounding.properties)) is not None:  # nothing for the model to choose
            return self._merged(call, tool, known, grounding, messages), result
        prompt = as_text(messages)
        prompt.insert(max(0, len(prompt) - 1), SystemMessage(content=grounding.note))
        # The same request, held to the grounded schema instead; every argument but the loose
        # ones is fixed there, so the embedded model writes only those (society/models/backends/llama_cpp/json_fill.py).
        retry_args = {**args, **self.entry.kind.output_schema_args(grounded_schema(tool, grounding), fill=True)}
        again = await self.inner.create(
            self.prepare(prompt), extra_create_args=retry_args, cancellation_token=cancellation_token
        )
        usage = RequestUsage(
            prompt_tokens=result.usage.prompt_tokens + again.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens + again.usage.completion_tokens,
        )
        result = result.model_copy(update={"usage": usage})
        if not isinstance(again.content, str):
            return None, result
        content, valid = parse(again.content, [tool], repair=True)
        if not valid or not isinstance(content, list):
            return None, result
        return self._merged(call, tool, call_arguments(content[0]), grounding, messages), result

    @staticmethod
    def _merged(
        call: FunctionCall, tool: ToolSchema, retried: dict[str, Any], grounding: Grounding, messages: list[LLMMessage]
    ) -> FunctionCall | None:
        """The grounded values from the retry, the rest as the call made them; None when that
        is no valid call of `tool`."""
        merged = {**call_arguments(call), **{k: retried[k] for k in grounding.properties if k in retried}}
        merged = directed(distinct(merged), last_request(messages))
        if not valid_arguments(merged, tool):
            return None
        return FunctionCall(id=call.id, name=call.name, arguments=json.dumps(merged, ensure_ascii=False))

    # -- the rest of the ChatCompletionClient interface, from the wrapped client ---------------

    async def close(self) -> None:
        await self.inner.close()

    def actual_usage(self) -> RequestUsage:
        return self.inner.actual_usage()

    def total_usage(self) -> RequestUsage:
        return self.inner.total_usage()

    def count_tokens(self, messages, *, tools=()) -> int:
        return self.inner.count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages, *, tools=()) -> int:
        return self.inner.remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> ModelInfo:  # deprecated in autogen-core, still abstract
        return self.inner.model_info

    @property
    def model_info(self) -> ModelInfo:
        return self.inner.model_info


def tool_calls(
    grounders: Mapping[str, Grounder] | None = None, must_act: bool = False, constrain: bool = True
) -> Callable[[ChatCompletionClient, ModelEntry, Prepare], ToolCallClient]:
    """How the gate should wrap the backend client it picks for a role: with these options.
    A role's own (its tools' grounders, whether it must act) come from its RoleClient."""

    def wrap(client: ChatCompletionClient, entry: ModelEntry, prepare: Prepare) -> ToolCallClient:
        return ToolCallClient(
            client, entry, prepare=prepare, grounders=grounders, must_act=must_act, constrain=constrain
        )

    return wrap
