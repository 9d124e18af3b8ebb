"""A judge has to earn its vote.

A small model asked to score answers may score everything alike, or prefer the wrong answer,
and every reward built on it then teaches the opposite of what the user wants. So before a
model's scores count, it scores both answers of each pair in a shipped calibration set (a
request with a correct and a wrong answer, in English and Japanese), once per model, as
rewards score an answer (training/judge.py: the expected value of its 1-5 rating); its
pairwise accuracy (the correct answer scored strictly higher) must reach TRUST_AT, else its
judge weight is 0 and engagement alone decides. Each pair is also compared head to head in
both orders (`prefer`: the chance it gave the correct answer), which is reported beside it.
Its scores are still stored: a later calibration (a new judge prompt, a better model) can
make them count.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from society.storage.store import Store, now
from training.tables import judge_calibrations

PAIRS_FILE = Path(__file__).parent / "evals" / "judge_calibration.jsonl"
TRUST_AT = 0.8


@dataclass(frozen=True)
class Pair:
    id: str
    lang: str
    split: str  # dev (looked at while writing the judge prompt) or report (only measured)
    request: str
    good: str
    bad: str


def load_pairs(path: Path = PAIRS_FILE) -> list[Pair]:
    return [Pair(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Calibration:
    model: str
    correct: int
    total: int
    detail: dict[str, dict]  # pair id -> {"split", "lang", "good", "bad"}: the two mean scores
    measured_at: str

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def trusted(self) -> bool:
        return self.accuracy >= TRUST_AT

    def accuracy_of(self, **where: str) -> float | None:
        """Accuracy over the pairs whose fields match `where` (split="report", lang="ja")."""
        chosen = [d for d in self.detail.values() if all(d.get(k) == v for k, v in where.items())]
        return sum(_right(d) for d in chosen) / len(chosen) if chosen else None

    def preferred(self) -> float | None:
        """The share of pairs whose correct answer the head-to-head comparison preferred."""
        compared = [d["prefer"] for d in self.detail.values() if d.get("prefer") is not None]
        return sum(p > 0.5 for p in compared) / len(compared) if compared else None

    def line(self) -> str:
        figure = f"{self.correct} of {self.total} calibration pairs right ({self.accuracy:.0%})"
        if self.trusted:
            return f"judge {self.model}: {figure}; its scores count in rewards"
        return f"judge {self.model}: {figure}, below {TRUST_AT:.0%}: its scores count 0 and engagement alone decides"


def _right(detail: dict) -> bool:
    return detail["good"] is not None and (detail["bad"] is None or detail["good"] > detail["bad"])


# (request, answer) -> (the judge's score or None when it gave none, the model that judged)
Score = Callable[[str, str], Awaitable[tuple[float | None, str | None]]]
# (request, first, second) -> (the chance the first is better or None, the model that judged)
Compare = Callable[[str, str, str], Awaitable[tuple[float | None, str | None]]]


async def measure(
    score: Score,
    model: str,
    pairs: list[Pair] | None = None,
    going: Callable[[], bool] = lambda: True,
    compare: Compare | None = None,
) -> Calibration | None:
    """Score both answers of every pair with `model` (and compare them head to head, with
    `compare`); None when another model answered a call (the ladder fell back: this is no
    measure of `model`) or `going` turned false (the conversation is closing: a headless
    run does not wait minutes for it)."""
    detail: dict[str, dict] = {}
    for pair in pairs or load_pairs():
        if not going():
            return None
        good, by_good = await score(pair.request, pair.good)
        bad, by_bad = await score(pair.request, pair.bad)
        prefer, by_pair = await compare(pair.request, pair.good, pair.bad) if compare else (None, None)
        if {by_good, by_bad, by_pair} - {model, None}:
            return None
        detail[pair.id] = {"split": pair.split, "lang": pair.lang, "good": good, "bad": bad, "prefer": prefer}
    correct = sum(_right(d) for d in detail.values())
    return Calibration(model, correct, len(detail), detail, now())


class Calibrations:
    """The measured judges, in the database (one row per model, replaced on a new measure)."""

    def __init__(self, store: Store | None = None):
        self.store = store or Store()

    def get(self, model: str | None) -> Calibration | None:
        if not model:
            return None
        with self.store.engine.connect() as conn:
            row = conn.execute(select(judge_calibrations).where(judge_calibrations.c.model == model)).first()
        return None if row is None else Calibration(row[0], row[1], row[2], json.loads(row[3]), row[4])

    def put(self, calibration: Calibration) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(delete(judge_calibrations).where(judge_calibrations.c.model == calibration.model))
            conn.execute(
                judge_calibrations.insert().values(
                    model=calibration.model,
                    correct=calibration.correct,
                    total=calibration.total,
                    detail=json.dumps(calibration.detail, ensure_ascii=False),
                    measured_at=calibration.measured_at,
                )
            )

    def all(self) -> list[Calibration]:
        with self.store.engine.connect() as conn:
            models = list(
                conn.execute(select(judge_calibrations.c.model).order_by(judge_calibrations.c.model)).scalars()
            )
        return [c for m in models if (c := self.get(m))]

    def weight(self, model: str | None, full: float) -> float:
        """The judge weight a reward gets from `model`'s scores: `full` once it was measured
        trustworthy, 0 while it is untrusted or not measured yet."""
        found = self.get(model)
        return full if found is not None and found.trusted else 0.0


def judge_line(calibrations: Calibrations, model: str | None) -> str:
    """What the judge's scores count now, in one line (society status, society rewards)."""
    if model is None:
        return "judge: no model can judge now; engagement alone decides"
    found = calibrations.get(model)
    if found is not None:
        return found.line()
    return (
        f"judge {model}: not calibrated yet, its scores count 0 until it is "
        "(measured in the background after its first verdict, or now: society rewards --calibrate)"
    )
