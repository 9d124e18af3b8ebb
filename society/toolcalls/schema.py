"""Tool schemas as every backend's constraint takes them and a small model keeps to: what a
tool's parameters are, normalised (society/toolcalls/client.py builds the reply's constraint from
them; society/toolcalls/grounding.py holds arguments to the request by them), and whether arguments fit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from autogen_core.tools import Tool, ToolSchema


def schemas(tools: Sequence[Tool | ToolSchema]) -> list[ToolSchema]:
    return [tool.schema if isinstance(tool, Tool) else tool for tool in tools]


def parameters(schema: ToolSchema) -> dict[str, Any]:
    params = dict(schema.get("parameters") or {})
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    return normalised(params)


# A schema with none of these says nothing about its value's shape: pydantic writes `Any` as
# {"title": "X"}, which llama.cpp's grammar builder rejects ("Unrecognized schema"); it then
# fell back to unconstrained JSON for the whole turn without a word.
SHAPE_KEYS = frozenset({"type", "anyOf", "oneOf", "allOf", "enum", "const", "$ref", "properties", "items"})
ANY_VALUE = ["string", "number", "boolean"]
# Bounds, so a small model that starts repeating itself stops at a valid call instead of
# writing on to the token limit (9-17 % of its replies did, and all of them failed).
# llama.cpp writes a bound as nested optional rules; thousands of them crash its grammar
# engine (a segfault, measured with 4,000), so text meant to be long is left unbounded.
# A name (a city, a title) fits in MAX_STRING; an address a model may write itself (a path, a
# URL, a command) in MAX_ADDRESS; a list item (a tag, a topping) in MAX_ITEM. Japanese runs to
# two or three tokens a character, so these end a loop before the reply's token limit does.
MAX_STRING = 60
MAX_ADDRESS = 200
MAX_ITEM = 30
LONG_TEXT = frozenset({"content", "text", "new_text", "old_text", "body", "code", "script", "data", "message"})
# Values a tool may rightly be given in words the request does not use: a file name to write
# to, a command for "list the files", a search query, an address.
FREE_FORM = frozenset({"path", "file", "filename", "directory", "dir", "command", "query", "url", "pattern"})
MAX_ITEMS = 8
# Text a tool passes on (a message to send, a reminder, text to translate) is mostly the
# request's own words, so its bound follows the request's length (and MAX_MESSAGE at least, for
# a short message the model words itself): a 135M model that looped in a Japanese reminder
# wrote on to the token limit. Text written to files (content, code) stays unbounded.
PASSED_TEXT = frozenset({"text", "message", "body"})
MAX_MESSAGE = 100
MESSAGE_CEILING = 1000  # characters: bounds are nested grammar rules, and 4,000 crashed llama.cpp
# '"Celsius" or "Fahrenheit"', "one of 'asc', 'desc'": the allowed values a description quotes.
QUOTED = re.compile(r"""["'`“‘]([^"'`”’]{1,40})["'`”’]""")
BETWEEN_OPTIONS = re.compile(r"^\s*(,|/|\||or|,\s*or|and)\s*$", re.IGNORECASE)


def quoted_options(description: str) -> list[str] | None:
    """The values a description lists as the only choices, or None: at least two quoted
    values in a row, separated by commas, slashes or "or", with an "or" among them or "one
    of" before them ("e.g. 'Paris'" is an example, not a choice)."""
    run: list[re.Match[str]] = []
    for match in QUOTED.finditer(description):
        if run and not BETWEEN_OPTIONS.match(description[run[-1].end() : match.start()]):
            if len(run) >= 2:
                break
            run = []
        run.append(match)
    if len(run) < 2:
        return None
    gaps = [description[a.end() : b.start()] for a, b in zip(run, run[1:], strict=False)]
    listed = re.search(r"one of|either|のいずれか|のどれか", description[: run[0].start()], re.IGNORECASE)
    if not (listed or any("or" in gap.lower() or "/" in gap or "|" in gap for gap in gaps)):
        return None
    return list(dict.fromkeys(m.group(1) for m in run))


def normalised(schema: dict[str, Any], name: str = "") -> dict[str, Any]:
    """`schema` as every backend's constraint takes it and a small model keeps to: a value
    of no declared shape is a string, number or boolean; short strings and arrays are
    bounded; a string whose description quotes its only choices gets them as an enum; an
    object's required scalars come before its arrays and objects, and optional ones last."""
    if not isinstance(schema, dict):
        return {"type": ANY_VALUE}
    schema = dict(schema)
    if not SHAPE_KEYS & schema.keys():
        schema["type"] = ANY_VALUE
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            schema[key] = [normalised(option, name) for option in schema[key]]
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema and "const" not in schema:
        options = quoted_options(str(schema.get("description", "")))
        if options:
            schema["enum"] = options
        elif "maxLength" not in schema and name not in LONG_TEXT:
            schema["maxLength"] = MAX_ADDRESS if name in FREE_FORM else MAX_STRING
    if kind == "array":
        items = normalised(schema.get("items", {}), name)
        if items.get("type") == "string" and "enum" not in items and name not in LONG_TEXT | FREE_FORM:
            items["maxLength"] = min(items.get("maxLength", MAX_ITEM), MAX_ITEM)
        schema["items"] = items
        schema.setdefault("maxItems", MAX_ITEMS)
    if kind == "object" and isinstance(schema.get("properties"), dict):
        required = set(schema.get("required", []))
        props = {key: normalised(value, key) for key, value in schema["properties"].items()}

        def order(key: str) -> int:
            nested = props[key].get("type") in ("array", "object")
            return (0 if key in required else 2) + nested

        schema["properties"] = {key: props[key] for key in sorted(props, key=order)}
    return schema


def with_message_bounds(schema: dict[str, Any], request: str, name: str = "") -> dict[str, Any]:
    """`schema` (normalised) with every unbounded passed-on text (PASSED_TEXT) limited to twice
    the request's length, at least MAX_MESSAGE and at most MESSAGE_CEILING characters."""
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    if name in PASSED_TEXT and schema.get("type") == "string" and not {"maxLength", "enum", "const"} & schema.keys():
        schema["maxLength"] = min(MESSAGE_CEILING, max(MAX_MESSAGE, 2 * len(request)))
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            schema[key] = [with_message_bounds(option, request, name) for option in schema[key]]
    if isinstance(schema.get("items"), dict):
        schema["items"] = with_message_bounds(schema["items"], request, name)
    if isinstance(schema.get("properties"), dict):
        schema["properties"] = {k: with_message_bounds(v, request, k) for k, v in schema["properties"].items()}
    return schema


def valid_arguments(arguments: dict[str, Any], tool: ToolSchema) -> bool:
    import jsonschema

    try:
        jsonschema.validate(arguments, parameters(tool))
    except jsonschema.ValidationError:
        return False
    return True
