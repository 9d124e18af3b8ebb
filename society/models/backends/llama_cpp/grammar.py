"""JSON schemas as llama.cpp grammars (GBNF), once per distinct schema."""

from __future__ import annotations

import json
from functools import cache
from typing import Any


def grammar_problem(schema: dict[str, Any]) -> str | None:
    """Why llama.cpp cannot build a grammar from `schema`, or None. llama-cpp-python then
    falls back to any JSON for the whole call without a word; the cause is said instead."""
    return _grammar(json.dumps(schema))[1]


def grammar_of(schema: dict[str, Any]) -> str | None:
    """llama.cpp's grammar (GBNF) for `schema`, or None when it cannot build one."""
    return _grammar(json.dumps(schema))[0]  # key order kept: it is the order of the reply


@cache
def _grammar(schema: str) -> tuple[str | None, str | None]:
    """(grammar, why not), once per distinct schema: a role offers the same tools turn after turn."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(schema), None
    except Exception as err:  # noqa: BLE001 - its converter raises assertions and key errors alike
        return None, f"{type(err).__name__}: {err}"[:200]
