"""Which of the user's standing wishes a learning cycle teaches the weights.

Name, length and format are taught whatever the model: they change how an answer is put,
not what it knows. A wish for another language is taught only when the base model keeps
what it knows in that language: asked to answer the retention set's English questions in
Japanese, its answers must hold the Japanese references' key words about as well as its
English answers hold the English ones (within the retention tolerance). Measured on the
Qwen2.5-Coder-0.5B: taught Japanese anyway, the deployed model answered 2 of 3 general
questions in Japanese but kept 7 of 20 general answers instead of 15 ("Kenさん、eggを沸かせて
食べることが可能です。"). Nor is the wish put in that model's prompt any more: the verdict is
recorded for the conversation (society/memory/wish_verdicts.py), which tells the user once.
A model that passes (one that speaks Japanese) is taught the wish and keeps it in its prompt."""

from __future__ import annotations

from typing import Any

from society.memory.wishes import Wish, mostly_japanese, wants_japanese

ASKED_IN_JAPANESE = "\n日本語で答えてください。"


def taught_wishes(
    model, tokenizer, wishes: dict[str, Wish], tolerance: float, known: dict[str, str] | None = None
) -> tuple[dict[str, Wish], str | None]:
    """(the wishes to teach, why the wish for Japanese is not taught, or None when it is or
    was not made). `known`: the base model's answers given before (training/replay.py
    `BaseAnswers`)."""
    if not wants_japanese(wishes):
        return wishes, None
    english, japanese = knowledge_by_language(model, tokenizer, known)
    if japanese >= english - tolerance:
        return wishes, None
    kept = {key: wish for key, wish in wishes.items() if key != "language"}
    return kept, (
        f"asked to answer in Japanese, it says {japanese:.0%} of the key words it says in English ({english:.0%})"
    )


def knowledge_by_language(model, tokenizer, known: dict[str, str] | None = None) -> tuple[float, float]:
    """Key-word recall on the retention set's English questions: answered as asked, against
    the English references, and asked to answer in Japanese, against the Japanese ones."""
    from training.fitness import Recall
    from training.retention import retention_rows

    rows = [row for row in retention_rows() if not mostly_japanese(row["messages"][0]["content"])]
    english = [{"messages": row["messages"]} for row in rows]
    japanese = [_asked_in_japanese(row) for row in rows]
    return Recall(tokenizer, english).score(model, known), Recall(tokenizer, japanese).score(model, known)


def _asked_in_japanese(row: dict[str, Any]) -> dict[str, Any]:
    question = row["messages"][0]["content"] + ASKED_IN_JAPANESE
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": row["ja"]}]}
