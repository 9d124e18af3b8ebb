"""General chats the base model answers itself: the chats along which training holds the
model to the base's own next-token probabilities (training/anchor.py), and with
`retention_share` > 0 examples trained on beside the user's (self-distillation): the model
keeps what it knew because it is taught its own answers back.

Sixteen fixed general chats (retention_mix.jsonl) were too few beside seventy of the user's
facts: the Qwen2.5-0.5B's child answered "Which planet do we live on?" with "You're on Mars."
and 日本の首都 with the user's own city, and the cycle refused to deploy it (general chat 62 ->
48-52 %). The questions (replay_questions.txt, English and Japanese) share none with the
retention set that measures general chat (retention.jsonl)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from society.memory.wishes import mostly_japanese, wants_japanese
from society.settings import save
from training.retention import wished_chat

QUESTIONS = Path(__file__).with_name("replay_questions.txt")
SHIPPED = Path(__file__).with_name("replayed")
MAX_NEW_TOKENS = 40
BATCH = 16
SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def questions() -> list[str]:
    return [line.strip() for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def whole_sentences(text: str) -> str:
    """`text` up to its last finished sentence (an answer cut at MAX_NEW_TOKENS mid-word would
    teach the model to stop mid-word)."""
    text = text.strip()
    ends = [m.start() for m in SENTENCE_END.finditer(text) if m.start() > 0]
    return text[: ends[-1]].strip() if ends else text


def cache_path(base_name: str, kind: str = "") -> Path:
    """Where the base model's answers are kept for later cycles (its greedy answer to a
    question does not change while it is the base; the wishes are applied afterwards).
    `kind` "": the replayed general chats; "scored": the answers `BaseAnswers` keeps."""
    from society.paths import data_dir

    return data_dir() / "replayed" / (re.sub(r"[^\w.-]+", "_", base_name) + (f".{kind}" if kind else "") + ".json")


def _known(base_name: str | None, kind: str = "") -> dict[str, str]:
    """Answers already given by `base_name`: this data folder's, else those shipped for it
    (training/replayed/: the embedded default's, so a first cycle does not spend a minute and
    a half of two cores on them)."""
    if base_name is None:
        return {}
    for path in (cache_path(base_name, kind), SHIPPED / cache_path(base_name, kind).name):
        if path.exists():
            try:
                known = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # unreadable: answered again, and written anew
            if isinstance(known, dict):
                return {q: a for q, a in known.items() if isinstance(q, str) and isinstance(a, str)}
    return {}


def replayed(
    model, tokenizer, asked: list[str] | None = None, wishes: dict | None = None, base_name: str | None = None
) -> list[dict[str, Any]]:
    """Each general question with the base model's own greedy answer, as chats to train on;
    questions it leaves unanswered are dropped. Call before any adapter is put on `model`.
    With `base_name`, answers given before by that base (or shipped for it) are reused and
    the new ones kept for the next cycle.

    The user's standing `wishes` are applied to the answers (society/memory/wishes.py
    `follow`), so the general chats teach them too instead of contradicting them at 40 % of
    the data. They are not asked of the model: told them in a system prompt, the
    Qwen2.5-0.5B used the name in 6 of 32 answers ("Ken, the user's standing wishes, is
    addressing...") and Japanese in 3; told to answer in Japanese, it wrote broken Japanese
    (「日本語で答えてください。」 as the answer). So under a wish for Japanese only the Japanese
    questions are replayed, answered in Japanese as asked."""
    wishes = wishes or {}

    asked = questions() if asked is None else asked
    if wants_japanese(wishes):
        asked = [q for q in asked if mostly_japanese(q)]
    known = _known(base_name)
    unknown = [q for q in asked if q not in known]
    if unknown:
        answers = greedy_answers(model, tokenizer, unknown, MAX_NEW_TOKENS)
        known.update((q, whole_sentences(a)) for q, a in zip(unknown, answers, strict=True))
        _keep(base_name, "", known)
    rows = []
    for question in asked:
        answer = known[question]
        if answer and (mostly_japanese(answer) or not wants_japanese(wishes)):
            rows.append(wished_chat([_said("user", question)], answer, wishes))
    return rows


class BaseAnswers(dict):
    """The base model's greedy answers that a cycle scores (training/fitness.py `Recall`: the
    language gate's and the evolution's base, the retention set each time), by prompt, kept
    per base like the replayed chats: the base's answers do not change, and they were 19 s
    of the gate and a third of the evolution's first scoring on 2 cores."""

    def __init__(self, base_name: str | None):
        super().__init__(_known(base_name, "scored"))
        self.base_name, self.saved = base_name, len(self)

    def save(self) -> None:
        if len(self) != self.saved:  # answers are only ever added
            _keep(self.base_name, "scored", dict(self))
            self.saved = len(self)


def greedy_answers(model, tokenizer, asked: list[str], max_new_tokens: int) -> list[str]:
    """`model`'s greedy answer to each question, asked alone (no system prompt of ours), in
    batches of BATCH, left-padded."""
    import torch

    from training.base import cpu_precision

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    answers = []
    with torch.no_grad(), cpu_precision():
        for start in range(0, len(asked), BATCH):
            chunk = asked[start : start + BATCH]
            encoded = [tokenizer(_prompt(tokenizer, q), add_special_tokens=False)["input_ids"] for q in chunk]
            width = max(map(len, encoded))
            ids = torch.tensor([[pad] * (width - len(e)) + e for e in encoded], device=device)
            mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], device=device)
            out = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad
            )
            answers += [tokenizer.decode(row[width:], skip_special_tokens=True) for row in out]
    return answers


def _keep(base_name: str | None, kind: str, answers: dict[str, str]) -> None:
    """Write `answers` where `_known` reads them for the next cycle (nothing without a base name)."""
    if base_name is not None:
        cache_path(base_name, kind).parent.mkdir(parents=True, exist_ok=True)
        save(cache_path(base_name, kind), answers)


def _prompt(tokenizer, question: str) -> str:
    return tokenizer.apply_chat_template([_said("user", question)], add_generation_prompt=True, tokenize=False)


def _said(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}
