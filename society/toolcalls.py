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

import functools
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema

from society.grounding import (
    Grounder,
    Grounding,
    directed,
    distinct,
    grounded_arguments,
    kept_as_chosen,
    request_numbers,
    settled,
    span_grounding,
    with_stated_numbers,
    with_unused_number,
)
from society.tool_schema import PASSED_TEXT, parameters, schemas, valid_arguments, with_message_bounds

if TYPE_CHECKING:
    from society.config import ModelEntry

ANSWER = "answer"
TOOL_KEY = "tool"  # measured: SmolLM2-135M picks the right tool more often with "tool" than "name"
MAX_RESULT_CHARS = 2000  # of one tool result, as the model reads it back
# Room for a call with a file's content in it, and for the longest call the schema bounds allow
# in Japanese (two or three tokens a character): a reply that repeats itself ends at a bound.
MIN_TOOL_TOKENS = 512
MAX_REGROUNDINGS = 3  # retries of a first call whose names are not the request's


def call_schema(tools: Sequence[ToolSchema], allow_answer: bool = True, request: str = "") -> dict[str, Any]:
    """The JSON schema every reply must satisfy: one of the tools, or the answer. With the
    `request`, text the tools pass on is bounded by its length (with_message_bounds)."""
    options = [
        {
            "type": "object",
            "properties": {
                TOOL_KEY: {"const": tool["name"]},
                "arguments": with_message_bounds(parameters(tool), request) if request else parameters(tool),
            },
            "required": [TOOL_KEY, "arguments"],
        }
        for tool in tools
    ]
    if allow_answer or not options:
        options.append(
            {
                "type": "object",
                "properties": {
                    TOOL_KEY: {"const": ANSWER},
                    "arguments": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
                },
                "required": [TOOL_KEY, "arguments"],
            }
        )
    return {"anyOf": options}


PARAMETER_NOTE_CHARS = 60  # of a parameter's description, in the tool list


def _argument(name: str, spec: dict[str, Any], required: bool) -> str:
    """One parameter as the model reads it: `unit: "celsius"|"fahrenheit" (optional; default
    "celsius"; the temperature unit)`: its choices, whether it may be left out, its default
    and what it is, briefly."""
    if "enum" in spec:
        shown = "|".join(json.dumps(value, ensure_ascii=False) for value in spec["enum"])
    else:
        kind = spec.get("type", "any")
        shown = "|".join(kind) if isinstance(kind, list) else str(kind)
        if kind == "array" and isinstance(spec.get("items"), dict):
            shown = f"array of {spec['items'].get('type', 'any')}"
    notes = [] if required else ["optional"]
    if "default" in spec:
        notes.append(f"default {json.dumps(spec['default'], ensure_ascii=False)}")
    about = " ".join(str(spec.get("description", "")).split())
    if about:
        notes.append(about if len(about) <= PARAMETER_NOTE_CHARS else about[: PARAMETER_NOTE_CHARS - 1] + "…")
    return f"{name}: {shown}" + (f" ({'; '.join(notes)})" if notes else "")


def _signature(tool: ToolSchema) -> str:
    params = parameters(tool)
    required = set(params.get("required", []))
    args = [_argument(name, spec, name in required) for name, spec in params["properties"].items()]
    return f"- {tool['name']}({', '.join(args)}): {tool.get('description', '').strip()}"


def instructions(tools: Sequence[ToolSchema]) -> str:
    """How the model is told about tools it cannot call natively."""
    lines = "\n".join(_signature(tool) for tool in tools)
    return (
        "You have these tools:\n"
        f"{lines}\n"
        f"- {ANSWER}(text: string): reply to the user when no tool is needed or the results are enough.\n"
        f'Reply with one JSON object: {{"{TOOL_KEY}": "<tool name>", "arguments": {{...}}}}.\n'
        "Use a tool when the user asks for something it does; use the exact file names and text the user gave."
    )


def as_text(messages: Sequence[LLMMessage]) -> list[LLMMessage]:
    """Earlier tool calls and results written as plain messages, for clients that only take
    text (a native-calling history would be refused by them)."""
    plain: list[LLMMessage] = []
    for message in messages:
        if isinstance(message, AssistantMessage) and isinstance(message.content, list):
            calls = [
                json.dumps({TOOL_KEY: c.name, "arguments": _loads(c.arguments)}, ensure_ascii=False)
                for c in message.content
            ]
            plain.append(AssistantMessage(content="\n".join(calls), source=message.source))
        elif isinstance(message, FunctionExecutionResultMessage):
            for result in message.content:
                body = result.content if len(result.content) <= MAX_RESULT_CHARS else result.content[:MAX_RESULT_CHARS]
                status = "error" if result.is_error else "result"
                plain.append(UserMessage(content=f"Tool {result.name} {status}:\n{body}", source="tool"))
        else:
            plain.append(message)
    return plain


def _loads(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except json.JSONDecodeError:
        return arguments


WORD = re.compile(r"[a-z0-9]+|[\u3040-\u30ff\u4e00-\u9fff]+", re.IGNORECASE)
# Words every request and description share; they say nothing about which tool is meant.
COMMON = frozenset("a an the to in of on for and or with is it me my this that what txt md file example".split())


def relevance(tool: ToolSchema, request: str) -> int:
    """Words (Japanese: runs of characters) the request shares with the tool's name and description."""
    text = f"{tool['name'].replace('_', ' ')} {tool.get('description', '')}".lower()
    words = {w for w in WORD.findall(text) if w not in COMMON}
    asked = {w.lower() for w in WORD.findall(request)} - COMMON
    japanese = sum(1 for w in words if not w.isascii() and w in request)
    return len(asked & words) + japanese


# A request's meaning (multilingual sentence vectors) picks a tool its words do not name ("東京の
# 天気は？" for get_weather, 0.46) only when it is this close to one and clearly closer than to
# any other; chat ("Explain recursion simply.") came within 0.25 of a tool, so it stays a chat.
MEANING_AT = 0.3
MEANING_MARGIN = 0.1


# Nearer than MEANING_AT, a tool is still meant when the request gives the values it takes
# (「4時間後に「会議の準備」と知らせて」: a number for `hours`, a quoted text for `message`, 0.28
# from set_reminder); chat came no nearer than 0.05 to the same tools.
VALUES_MEANING_AT = 0.15
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
LINK = re.compile(r"https?://\S+")
QUOTED_TEXT = re.compile(r"「[^」]+」|\"[^\"]+\"|“[^”]+”")


def narrowed(tools: Sequence[ToolSchema], request: str) -> tuple[list[ToolSchema], bool]:
    """The tools that match the request best, most relevant last (small models lean towards
    what they read last), and True; all of them and False when none matches. A match is by
    shared words, else by meaning (a Japanese request for an English tool), nearer when the
    request gives the values the tool takes. Fewer choices, fewer wrong ones: the same tool
    retrieval agents with many MCP tools use."""
    scored = sorted(((relevance(tool, request), index, tool) for index, tool in enumerate(tools)), key=lambda x: x[:2])
    best = scored[-1][0] if scored else 0
    if best > 0:
        return [tool for score, _, tool in scored if score >= best], True
    closest = by_meaning(tools, request)
    return ([closest], True) if closest is not None else (list(tools), False)


def by_meaning(tools: Sequence[ToolSchema], request: str) -> ToolSchema | None:
    """The one tool whose name and description mean what the request asks, or None."""
    if not tools or not request.strip():
        return None
    similarity = _tool_vectors(tuple(_about(tool) for tool in tools)) @ _request_vector(request)
    order = sorted(range(len(tools)), key=lambda i: -similarity[i])
    first = similarity[order[0]]
    second = similarity[order[1]] if len(order) > 1 else 0.0
    if first - second < MEANING_MARGIN:
        return None
    tool = tools[order[0]]
    return tool if first >= MEANING_AT or (first >= VALUES_MEANING_AT and gives_values(tool, request)) else None


def gives_values(tool: ToolSchema, request: str) -> bool:
    """Whether the request holds values of the kinds the tool's required parameters take: at
    least one that only a tool would take (a number for a number, an email address, a link,
    a quoted text to pass on) and none missing (a number parameter, no number stated)."""
    params = parameters(tool)
    found = [_holds(name, params["properties"].get(name, {}), request) for name in params.get("required", [])]
    return any(kind is True for kind in found) and not any(kind is False for kind in found)


def _holds(name: str, spec: dict[str, Any], request: str) -> bool | None:
    """True: the request holds a value of this parameter's kind; False: it holds none of a
    kind it would have to state; None: anything may fill it (a name, a title)."""
    if spec.get("type") == "array":
        spec = spec.get("items") or {}
    kinds = spec.get("type") if isinstance(spec.get("type"), list) else [spec.get("type")]
    about = f"{name} {spec.get('description', '')}".lower()
    if {"number", "integer"} & set(kinds) and "string" not in kinds:
        return bool(request_numbers(request))
    if "mail" in about:
        return bool(EMAIL.search(request))
    if "url" in about or "link" in about:
        return bool(LINK.search(request))
    if name in PASSED_TEXT and QUOTED_TEXT.search(request):
        return True
    return None


def _about(tool: ToolSchema) -> str:
    return f"{tool['name'].replace('_', ' ')}: {tool.get('description', '')}"


@functools.lru_cache(maxsize=64)
def _tool_vectors(texts: tuple[str, ...]) -> Any:
    from society.memory.embed import embedder

    return embedder().encode(list(texts))


def _request_vector(request: str) -> Any:
    from society.memory.embed import embedder

    return embedder().encode([request])[0]


def last_request(messages: Sequence[LLMMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, UserMessage) and isinstance(message.content, str) and message.source != "tool":
            return message.content
    return ""


def acted(messages: Sequence[LLMMessage]) -> bool:
    """Whether a tool has run since the request (this turn's tool results are in `messages`)."""
    for message in reversed(messages):
        if isinstance(message, FunctionExecutionResultMessage):
            return True
        if isinstance(message, UserMessage) and message.source != "tool":
            return False
    return False


def prompt_with_tools(messages: Sequence[LLMMessage], tools: Sequence[ToolSchema]) -> list[LLMMessage]:
    """`messages` in text form with the tool instructions just before the last message,
    where small models follow an instruction best."""
    prompt = as_text(messages)
    prompt.insert(max(0, len(prompt) - 1), SystemMessage(content=instructions(tools)))
    return prompt


JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def parse(text: str, tools: Sequence[ToolSchema], repair: bool) -> tuple[list[FunctionCall] | str, bool]:
    """A reply as tool calls or an answer, and whether it was a valid call or answer.

    `repair` closes JSON cut off by the token limit (only safe for constrained output, whose
    prefix is valid by construction). An invalid reply comes back as text, unchanged.
    """
    data = _decode(text, repair)
    if isinstance(data, dict) and TOOL_KEY not in data:  # other spellings models print
        for key in ("tool", "name", "function"):
            if isinstance(data.get(key), str):
                data = {TOOL_KEY: data[key], "arguments": data.get("arguments", data.get("parameters", {}))}
                break
    if not isinstance(data, dict) or not isinstance(data.get(TOOL_KEY), str):
        return text, False
    name, arguments = data[TOOL_KEY], data.get("arguments", {})
    if name == ANSWER:
        answer = arguments.get("text") if isinstance(arguments, dict) else None
        return (answer, True) if isinstance(answer, str) else (text, False)
    by_name = {tool["name"]: tool for tool in tools}
    if name not in by_name or not isinstance(arguments, dict) or not valid_arguments(arguments, by_name[name]):
        return text, False
    call = FunctionCall(id=f"call_{uuid.uuid4().hex[:12]}", name=name, arguments=json.dumps(arguments))
    return [call], True


def _decode(text: str, repair: bool) -> Any:
    found = JSON_OBJECT.search(text)
    candidate = found.group(0) if found else text.strip()
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        if not repair:
            return None
    from json_repair import repair_json

    try:
        return json.loads(repair_json(text.strip(), ensure_ascii=False))
    except (json.JSONDecodeError, ValueError):
        return None


def _made_calls(messages: Sequence[LLMMessage]) -> list[tuple[FunctionCall, FunctionExecutionResult]]:
    """Each call made in `messages` with the result it got, in order."""
    pending: dict[str, FunctionCall] = {}
    made = []
    for message in messages:
        if isinstance(message, AssistantMessage) and isinstance(message.content, list):
            pending.update((call.id, call) for call in message.content)
        elif isinstance(message, FunctionExecutionResultMessage):
            made += [(pending[r.call_id], r) for r in message.content if r.call_id in pending]
    return made


def repeated_result(messages: Sequence[LLMMessage], calls: list[FunctionCall]) -> str | None:
    """When every call in `calls` was already made this turn with the same arguments, the
    results it got then; small models otherwise repeat a finished call until the limit."""
    made = {(call.name, _canonical(call.arguments)): result.content for call, result in _made_calls(messages)}
    found = [made.get((call.name, _canonical(call.arguments))) for call in calls]
    if not found or any(result is None for result in found):
        return None
    return "\n".join(r for r in found if r is not None)


def undone_result(messages: Sequence[LLMMessage], calls: list[FunctionCall]) -> str | None:
    """When a call would undo one made this turn (the same tool, two of its values swapped:
    an edit of "hello" to "goodbye" followed by "goodbye" to "hello"), the earlier call's
    result: small models ping-pong an edit they just made, so the outcome hung on whether
    they stopped after an odd or an even number of calls."""
    made = [(earlier, result) for earlier, result in _made_calls(messages) if not result.is_error]
    for call in calls:
        new = call_arguments(call)
        for earlier, result in made:
            old = call_arguments(earlier)
            changed = [k for k in new if new.get(k) != old.get(k)]
            swapped = len(changed) == 2 and [new[k] for k in changed] == [old.get(k) for k in reversed(changed)]
            if earlier.name == call.name and set(new) == set(old) and swapped:
                return result.content
    return None


def _canonical(arguments: str) -> str:
    loaded = _loads(arguments)
    return json.dumps(loaded, sort_keys=True) if not isinstance(loaded, str) else loaded


def grounded_schema(tool: ToolSchema, grounding: Grounding) -> dict[str, Any]:
    """The call schema for `tool` alone, with the grounded parameters' schemas replaced."""
    params = parameters(tool)
    narrowed_tool: ToolSchema = {
        **tool,
        "parameters": {**params, "properties": {**params["properties"], **grounding.properties}},
    }  # type: ignore[typeddict-item]
    return call_schema([narrowed_tool], allow_answer=False)


def call_arguments(call: FunctionCall) -> dict[str, Any]:
    loaded = _loads(call.arguments)
    return loaded if isinstance(loaded, dict) else {}


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
        from society.clients import OUTPUT_SCHEMA, request_args

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
            if must_act and self.entry.backend == "ollama" and isinstance(result.content, str):
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
        from society.clients import OUTPUT_SCHEMA

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
        from society.clients import CHOICES, request_args

        self.last_prompt = self.prepare(as_text(messages))
        if (options := extra.pop(CHOICES, None)) is not None:
            if self.entry.backend == "llama_cpp":  # read from its token probabilities, nothing generated
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
        from society.clients import request_args

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
        from society.clients import output_schema_args

        if (known := settled(grounding.properties)) is not None:  # nothing for the model to choose
            return self._merged(call, tool, known, grounding, messages), result
        prompt = as_text(messages)
        prompt.insert(max(0, len(prompt) - 1), SystemMessage(content=grounding.note))
        # The same request, held to the grounded schema instead; every argument but the loose
        # ones is fixed there, so the embedded model writes only those (society/json_fill.py).
        retry_args = {**args, **output_schema_args(self.entry.backend, grounded_schema(tool, grounding), fill=True)}
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
