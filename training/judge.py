"""The judge: verdicts read from a model's token probabilities, not from the digit it samples.

A small model asked for scores as JSON wrote the same digit for a right and a wrong answer
(SmolLM2-135M 0 of 48 calibration pairs, Qwen2.5-Coder-0.5B 3 of 48: ties). Asked for one
token instead, the probabilities of all the options are read (society/models/backends/llama_cpp/client.py,
CHOICES):

- `score`: is the answer right and helpful, from 1 to 5? The expected value over the five
  digits' probabilities (3 with 40 % and 4 with 60 % is 3.6, not 4), put on the 1-10 scale
  rewards use. Where a fact is checked, the reference is in the prompt (an eval task's
  expected answer).
- `compare`: which of two answers is better? Asked in both orders (position swap): the
  chance the first is better is the mean of "A" first and "B" second, so a judge that
  always says "A" says 0.5, no preference, instead of a verdict.

Backends without token probabilities (Ollama, most OpenAI servers) answer with one option
held by an output schema; it counts with probability 1.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from autogen_core.models import SystemMessage, UserMessage

SCALE = ("1", "2", "3", "4", "5")
# Worded as measured: the 1.5B judge ranked the right answer of 39 (scores) and 41 (head to
# head) of the 48 calibration pairs first with these; the 0.5B 31 and 22.
SCORE_QUESTION = (
    "Is the answer correct and helpful{reference_note}? Rate it from 1 (wrong) to 5 (correct and helpful)"
    "{preferences_note}. Reply with the number only."
)
COMPARE_QUESTION = "Which answer is correct{reference_note}? Reply with one letter, A or B."


class JudgeFailed(RuntimeError):
    """The judge gave no verdict that could be read (`model` was asked)."""

    model: str | None = None


async def _chances(
    gate: Any, role_prompt: str, question: str, options: tuple[str, ...]
) -> tuple[dict[str, float], str | None]:
    """{option: probability} of the judge's one-token reply (renormalised over the options),
    and the model that gave it."""
    import math

    from society.models.backends.base import CHOICES
    from society.models.turns import current_turn, in_turn

    messages = [SystemMessage(content=role_prompt), UserMessage(content=question, source="user")]
    with in_turn(replace(current_turn(), calls={})) as own:  # to know which model judged
        result = await gate.create("judge", messages, extra_create_args={CHOICES: list(options)})
    call = own.calls.get("judge")
    model = call.model if call else None
    said = _option_said(str(result.content))
    top = result.logprobs[0].top_logprobs if result.logprobs else None
    if top:
        logprobs = {bytes(t.bytes or []).decode("utf-8", "replace"): t.logprob for t in top}
        found = {o: math.exp(logprobs[o]) for o in options if o in logprobs}
        total = sum(found.values())
        if total > 0:
            return {o: found.get(o, 0.0) / total for o in options}, model
    if said[:1] and (chosen := next((o for o in options if said.startswith(o)), None)):
        return {o: float(o == chosen) for o in options}, model
    err = JudgeFailed(f"the judge's reply is none of {', '.join(options)}: {said[:40]!r}")
    err.model = model
    raise err


def _option_said(content: str) -> str:
    """The option a reply names: the text itself, or the `choice` of the JSON object a
    backend without token probabilities was held to (society/toolcalls/client.py)."""
    import json

    try:
        found = json.loads(content)
    except json.JSONDecodeError:
        return content.strip()
    return str(found.get("choice", "")) if isinstance(found, dict) else str(found).strip()


def _notes(reference: str | None, preferences: list[str]) -> dict[str, str]:
    return {
        "reference_note": ", as the reference answer says" if reference else "",
        "preferences_note": "; it should also follow the user's stated preferences" if preferences else "",
    }


def _context(request: str, reference: str | None, preferences: list[str]) -> str:
    parts = [f"Request:\n{request}"]
    if reference:
        parts.append(f"Reference answer:\n{reference}")
    if preferences:
        parts.append("The user's stated preferences:\n" + "\n".join(f"- {p}" for p in preferences))
    return "\n\n".join(parts)


async def judge(
    gate: Any,
    role_prompt: str,
    request: str,
    answer: str,
    preferences: list[str],
    reference: str | None = None,
) -> dict[str, Any]:
    """The judge's score of `answer` to `request`: {"score": 1-10 (the expected value),
    "chances": {digit: probability}, "reason", "model"}."""
    question = f"{_context(request, reference, preferences)}\n\nAnswer:\n{answer}\n\n" + SCORE_QUESTION.format(
        **_notes(reference, preferences)
    )
    chances, model = await _chances(gate, role_prompt, question, SCALE)
    expected = sum(int(o) * p for o, p in chances.items())  # 1..5
    score = round(1 + (expected - 1) * 9 / 4, 3)  # on the 1..10 scale rewards use
    top = max(chances, key=chances.__getitem__)
    reason = f"rated {expected:.2f} of 5 (most likely {top}, {chances[top]:.0%})"
    return {"score": score, "chances": {o: round(p, 4) for o, p in chances.items()}, "reason": reason, "model": model}


async def compare(
    gate: Any, role_prompt: str, request: str, first: str, second: str, reference: str | None = None
) -> tuple[float, str | None]:
    """The chance that `first` is the better answer to `request` (0.5: no preference), asked
    in both orders, and the model that judged."""
    context = _context(request, reference, [])
    question = COMPARE_QUESTION.format(**_notes(reference, []))
    one, model = await _chances(
        gate, role_prompt, f"{context}\n\nAnswer A:\n{first}\n\nAnswer B:\n{second}\n\n{question}", ("A", "B")
    )
    two, _ = await _chances(
        gate, role_prompt, f"{context}\n\nAnswer A:\n{second}\n\nAnswer B:\n{first}\n\n{question}", ("A", "B")
    )
    return (one["A"] + two["B"]) / 2, model


def mean(scores: dict[str, Any]) -> float:
    """The judge's score on the 1..10 scale (a verdict in the rubric form judges gave before
    the expected-value judge: the mean of its four scores)."""
    if "score" in scores:
        return float(scores["score"])
    rubric = ("helpful", "correct", "honest", "follows_preferences")
    return round(sum(scores[name] for name in rubric) / len(rubric), 3)
