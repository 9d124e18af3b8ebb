"""Tools as text, for models without native function calling: which tools a request is
shown, how they are written into the prompt, the JSON schema a reply is held to
(`{"tool": NAME, "arguments": {...}}`, or the pseudo-tool `answer`), and how a reply is read
back into calls, repaired when loose. ToolCallClient (client.py) puts this in front of
whichever backend client the gate picked."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from autogen_core import FunctionCall
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import ToolSchema

from society.text import cjk
from society.toolcalls.grounding import Grounding, request_numbers
from society.toolcalls.schema import PASSED_TEXT, parameters, valid_arguments, with_message_bounds

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


WORD = re.compile(f"[a-z0-9]+|[{cjk.KANA}{cjk.KANJI}]+", re.IGNORECASE)
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
    from society.text.embeddings import embedder

    return embedder().encode(list(texts))


def _request_vector(request: str) -> Any:
    from society.text.embeddings import embedder

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
