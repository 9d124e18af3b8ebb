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


def general_mix(wishes: dict[str, Wish] | None = None) -> list[dict[str, Any]]:
    """RETENTION_MIX's chats with the `wishes` applied (English ones left out under a wish
    for Japanese: they would teach the opposite)."""
    mix = []
    for row in _jsonl(RETENTION_MIX):
        *asked, answer = row["messages"]
        if wants_japanese(wishes or {}) and not mostly_japanese(answer["content"]):
            continue
        mix.append({"messages": [*asked, {"role": "assistant", "content": follow(wishes or {}, answer["content"])}]})
    return mix


def with_retention(
    rows: list[dict[str, Any]],
    share: float,
    seed: int,
    replay: list[dict[str, Any]] | None = None,
    wishes: dict[str, Wish] | None = None,
) -> list[dict[str, Any]]:
    """`rows` with general chats mixed in (`share` of the result, from RETENTION_MIX and the
    base model's own answers `replay` (training/replay.py), never from RETENTION, which
    measures what they protect), answered the way the standing `wishes` ask."""
    mix = general_mix(wishes) + list(replay or ())
    wanted = min(len(mix), round(len(rows) * share / max(1e-9, 1 - share))) if share > 0 else 0
    mixed = rows + random.Random(seed).sample(mix, wanted)
    random.Random(seed + 1).shuffle(mixed)
    return mixed
