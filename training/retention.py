"""General chats: the retention set that measures whether a cycle cost general chat
(retention.jsonl, scored, never trained on), and the general chats trained on beside the
user's examples (retention_mix.jsonl and the base model's replayed answers), each answered
the way the user's standing wishes ask."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from society.memory.wishes import Wish, follow, mostly_japanese, wants_japanese

RETENTION = Path(__file__).with_name("retention.jsonl")  # scored: does general chat suffer?
RETENTION_MIX = Path(__file__).with_name("retention_mix.jsonl")  # trained on beside the user's examples


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def retention_rows(wishes: dict[str, Wish] | None = None) -> list[dict[str, Any]]:
    """The general chats that measure whether general chat suffers, with references the way
    the user's standing `wishes` ask for length and format. Under a wish for Japanese the
    reference holds the English and the Japanese answer, so an answer in either language
    that knows the same is scored the same: the base model, answering in English, and a
    child that learnt the wish are compared fairly.

    The name is left out: it says nothing about what the model knows. As a key word of every
    reference it lifted a child that had lost general knowledge above the base (54 % against
    52 %) while that child answered "Ken, apples are yellow." where the base said "Banana"."""
    rows = _jsonl(RETENTION)
    measured = {key: wish for key, wish in (wishes or {}).items() if key != "name"}
    if not measured:
        return rows
    shaped = []
    for row in rows:
        *asked, answer = row["messages"]
        reference = follow(measured, answer["content"])
        if wants_japanese(measured):
            reference += " " + follow(measured, row["ja"])
        shaped.append({**row, "messages": [*asked, {"role": "assistant", "content": reference}]})
    return shaped


def wished_chat(asked: list[dict[str, str]], answer: str, wishes: dict[str, Wish]) -> dict[str, Any]:
    """The chat `asked` -> `answer` the way the standing `wishes` ask for it."""
    return {"messages": [*asked, {"role": "assistant", "content": follow(wishes, answer)}]}


def general_mix(wishes: dict[str, Wish] | None = None) -> list[dict[str, Any]]:
    """RETENTION_MIX's chats with the `wishes` applied (English ones left out under a wish
    for Japanese: they would teach the opposite)."""
    mix = []
    for row in _jsonl(RETENTION_MIX):
        *asked, answer = row["messages"]
        if wants_japanese(wishes or {}) and not mostly_japanese(answer["content"]):
            continue
        mix.append(wished_chat(asked, answer["content"], wishes or {}))
    return mix


def general_chats(replay: list[dict[str, Any]], wishes: dict[str, Wish] | None = None) -> list[dict[str, Any]]:
    """Every general chat training may use: the base model's own answers `replay`
    (training/replay.py) and RETENTION_MIX's, the way the `wishes` ask. Never RETENTION's,
    which measure what these protect."""
    return list(replay) + general_mix(wishes)


def with_retention(
    rows: list[dict[str, Any]], share: float, seed: int, general: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`rows` with `share` of the result drawn from the `general` chats (`general_chats`)."""
    wanted = min(len(general), round(len(rows) * share / max(1e-9, 1 - share))) if share > 0 else 0
    mixed = rows + random.Random(seed).sample(general, wanted)
    random.Random(seed + 1).shuffle(mixed)
    return mixed
