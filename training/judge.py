"""The judge: scores a final answer against a rubric with structured output (a JSON schema
the backend enforces), so even the embedded model returns a valid score."""

from __future__ import annotations

import json
from typing import Any

from autogen_core.models import SystemMessage, UserMessage

RUBRIC = ("helpful", "correct", "honest", "follows_preferences")
SCORE = {"type": "integer", "enum": list(range(1, 11))}
SCHEMA = {
    "type": "object",
    "properties": {**{name: SCORE for name in RUBRIC}, "reason": {"type": "string"}},
    "required": [*RUBRIC, "reason"],
}
INSTRUCTIONS = (
    "Score the answer to the request from 1 (bad) to 10 (excellent) on: helpful, correct, honest "
    "(says what it does not know), follows_preferences (the user's stated preferences). Give a one-sentence reason. "
    'Reply as JSON: {"helpful": n, "correct": n, "honest": n, "follows_preferences": n, "reason": "..."}'
)


class JudgeFailed(RuntimeError):
    """The judge's reply could not be read as scores (`model` wrote it)."""

    model: str | None = None


def parse(reply: str) -> dict[str, Any]:
    from json_repair import repair_json

    try:
        data = json.loads(repair_json(reply, ensure_ascii=False))
    except (json.JSONDecodeError, ValueError) as err:
        raise JudgeFailed(f"the judge's reply is not JSON: {reply[:80]!r}") from err
    if not isinstance(data, dict) or any(not isinstance(data.get(name), int | float) for name in RUBRIC):
        raise JudgeFailed(f"the judge's reply lacks scores: {reply[:80]!r}")
    scores: dict[str, Any] = {name: int(max(1, min(10, data[name]))) for name in RUBRIC}
    scores["reason"] = str(data.get("reason", ""))[:300]
    return scores


def mean(scores: dict[str, Any]) -> float:
    """The mean of the rubric scores (1..10)."""
    return round(sum(scores[name] for name in RUBRIC) / len(RUBRIC), 3)


async def judge(gate: Any, role_prompt: str, request: str, answer: str, preferences: list[str]) -> dict[str, Any]:
    """The rubric scores of `answer` to `request`, by the judge role on the model gate, with
    the reason and the model that judged ("model": its calibration decides what they count)."""
    stated = "\n".join(f"- {p}" for p in preferences) or "- none stated"
    messages = [
        SystemMessage(content=f"{role_prompt}\n{INSTRUCTIONS}"),
        UserMessage(
            content=f"Request:\n{request}\n\nAnswer:\n{answer}\n\nThe user's stated preferences:\n{stated}",
            source="user",
        ),
    ]
    from dataclasses import replace

    from society.gate import current_turn, in_turn

    with in_turn(replace(current_turn(), calls={})) as own:  # to know which model judged
        result = await gate.create("judge", messages, json_schema=SCHEMA)
    call = own.calls.get("judge")
    model = call.model if call else None
    try:
        return {**parse(str(result.content)), "model": model}
    except JudgeFailed as err:
        err.model = model
        raise
