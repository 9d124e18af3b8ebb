"""Rewards: engagement with the user and the judge's score, per answer.

Engagement is read from what the user does next, in levels as WildFB labels real chats:
negative (rephrasing or asking again, dissatisfaction), correction ("no, that's wrong", 違う),
continue (goes on with the topic or a new one) and thanks (ありがとう). Leaving gives no signal:
the length of a conversation is never rewarded, because optimising it makes replies worse.
Explicit feedback (/good, /bad, the UI's thumbs) overrides the implicit level.

    engagement = explicit (+1 / -1) if given, else LEVELS[level]
    judge      = (mean rubric score - 5.5) / 4.5        (1..10 -> -1..1)
    reward     = WEIGHTS["judge"] * judge + WEIGHTS["engagement"] * engagement
                 (a missing component leaves the other alone, at full weight)

The judge's weight is 0 until the model that judged has earned its vote on the calibration
set (training/calibration.py): an uncalibrated or untrusted judge's scores are stored but
count nothing, and engagement alone decides.

Every component is stored, so a reward can be recomputed under other weights.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from society.errors import NotFoundError
from society.storage.store import USER, Store, now
from society.storage.tables import insert_new
from society.text.keywords import trigrams
from training.tables import feedback as feedback_table
from training.tables import rewards

LEVELS = {"negative": -1.0, "correction": -0.5, "continue": 0.25, "thanks": 1.0}
WEIGHTS = {"judge": 0.5, "engagement": 0.5}
REPHRASE_OVERLAP = 0.6  # share of the earlier question's trigrams the follow-up repeats

THANKS = re.compile(
    r"\b(thanks?|thank you|thx|great|perfect|awesome|that helps|helpful|nice one)\b|"
    r"ありがと|助かり|助かった|完璧|さすが",
    re.IGNORECASE,
)
CORRECTION = re.compile(
    r"^\s*(no\b|nope\b|wrong\b|incorrect\b|that'?s (not|wrong)|actually\b|not quite\b)|\b(is wrong|you'?re wrong|"
    r"not what i)\b|違う|違います|間違|そうじゃな|ちがう",
    re.IGNORECASE,
)
NEGATIVE = re.compile(
    r"\b(useless|doesn'?t (help|work)|did ?n[o']t (help|answer|work)|you didn'?t|not helpful|again\?|"
    r"i (already )?asked|answer the question|makes no sense|nonsense)\b|"
    r"役に立たない|意味がわから|答えになって|さっきも聞",
    re.IGNORECASE,
)


def classify(previous_question: str, followup: str) -> str:
    """The engagement level the user's `followup` gives the answer to `previous_question`."""
    if CORRECTION.search(followup):
        return "correction"
    if NEGATIVE.search(followup):
        return "negative"
    asked, again = trigrams(previous_question), trigrams(followup)
    if len(asked) > 3 and len(asked & again) / len(asked) >= REPHRASE_OVERLAP:
        return "negative"  # the same question again: the answer did not do
    if THANKS.search(followup):
        return "thanks"
    return "continue"


def judge_component(judge_score: float | None) -> float | None:
    return None if judge_score is None else max(-1.0, min(1.0, (judge_score - 5.5) / 4.5))


def engagement_component(level: str | None, explicit: int | None) -> float | None:
    if explicit:
        return float(max(-1, min(1, explicit)))
    return LEVELS.get(level) if level else None


def combine(
    judge_score: float | None, level: str | None, explicit: int | None, weights: dict[str, float] | None = None
) -> float | None:
    """The reward from its stored components (see the module docstring)."""
    weights = weights or WEIGHTS
    parts = {"judge": judge_component(judge_score), "engagement": engagement_component(level, explicit)}
    # A component weighted 0 (an uncalibrated judge) is left out, not averaged in as 0.
    present = {name: value for name, value in parts.items() if value is not None and weights.get(name, 0) > 0}
    if not present:
        return None
    total = sum(weights[name] for name in present)
    return round(sum(weights[name] * value for name, value in present.items()) / total, 4)


@dataclass
class Reward:
    message_id: int
    turn_id: int
    role: str
    prompt_version: int | None
    judge: dict[str, Any] | None
    judge_score: float | None
    level: str | None
    explicit: int | None
    reward: float | None
    weights: dict[str, float]
    created_at: str
    updated_at: str


COLUMNS = [rewards.c[name] for name in Reward.__dataclass_fields__]


class Rewards:
    def __init__(self, store: Store | None = None):
        self.store = store or Store()

    def _row(self, message_id: int) -> Reward | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(*COLUMNS).where(rewards.c.message_id == message_id)).first()
        if row is None:
            return None
        values = list(row)
        values[4] = json.loads(values[4]) if values[4] else None
        values[9] = json.loads(values[9])
        return Reward(*values)

    def get(self, message_id: int) -> Reward | None:
        return self._row(message_id)

    def _ensure(self, message_id: int) -> Reward:
        found = self._row(message_id)
        if found:
            return found
        answer = self.store.message(message_id)
        if answer is None or answer.role == USER:
            raise NotFoundError(f"message #{message_id} is not an answer of the team")
        at = now()
        with self.store.engine.begin() as conn:
            row = {"message_id": answer.id, "turn_id": answer.turn_id, "role": answer.role}
            row |= {"prompt_version": answer.prompt_version, "weights": json.dumps(WEIGHTS)}
            insert_new(conn, rewards, {**row, "created_at": at, "updated_at": at})
        return self._row(message_id)  # type: ignore[return-value]

    def _update(self, message_id: int, **fields: Any) -> Reward:
        current = self._ensure(message_id)
        merged = {**current.__dict__, **fields}
        merged["reward"] = combine(merged["judge_score"], merged["level"], merged["explicit"], merged["weights"])
        with self.store.engine.begin() as conn:
            conn.execute(
                update(rewards)
                .where(rewards.c.message_id == message_id)
                .values(
                    judge=json.dumps(merged["judge"], ensure_ascii=False) if merged["judge"] else None,
                    judge_score=merged["judge_score"],
                    level=merged["level"],
                    explicit=merged["explicit"],
                    reward=merged["reward"],
                    weights=json.dumps(merged["weights"]),
                    updated_at=now(),
                )
            )
        return self._row(message_id)  # type: ignore[return-value]

    def judged(self, message_id: int, scores: dict[str, Any], judge_weight: float | None = None) -> Reward:
        """Store the judge's `scores`; `judge_weight` is what they count (0 for a judge that
        has not earned its vote, see training/calibration.py)."""
        from training.judge import mean

        fields: dict[str, Any] = {"judge": scores, "judge_score": mean(scores)}
        if judge_weight is not None:
            fields["weights"] = {**self._ensure(message_id).weights, "judge": judge_weight}
        return self._update(message_id, **fields)

    def reweigh_judge(self, model: str, judge_weight: float) -> list[Reward]:
        """Give every reward `model` judged the judge weight its calibration earned; the
        rewards whose value changed."""
        with self.store.engine.connect() as conn:
            judged = conn.execute(select(rewards.c.message_id, rewards.c.judge).where(rewards.c.judge.is_not(None)))
            # The judge's model inside the JSON text (read here: the engines' JSON functions differ).
            ids = [message_id for message_id, judge in judged if json.loads(judge).get("model") == model]
        changed = []
        for message_id in ids:
            before = self._row(message_id)
            after = self._update(message_id, weights={**before.weights, "judge": judge_weight})
            if after.reward != before.reward:
                changed.append(after)
        return changed

    def engaged(self, message_id: int, level: str) -> Reward:
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}")
        return self._update(message_id, level=level)

    def feedback(self, message_id: int, good: bool, comment: str | None = None, source: str = "cli") -> Reward:
        self._ensure(message_id)
        with self.store.engine.begin() as conn:
            conn.execute(
                feedback_table.insert().values(
                    message_id=message_id, value=1 if good else -1, comment=comment, source=source, created_at=now()
                )
            )
        return self._update(message_id, explicit=1 if good else -1)

    def recompute(self, weights: dict[str, float] | None = None) -> int:
        """Recompute every reward from its stored components (under new `weights`, if given)."""
        with self.store.engine.connect() as conn:
            ids = list(conn.execute(select(rewards.c.message_id)).scalars())
        for message_id in ids:
            if weights:
                # A judge that has not earned its vote (weight 0) keeps counting nothing.
                earned = weights["judge"] if self._row(message_id).weights.get("judge") else 0.0
                self._update(message_id, weights={**weights, "judge": earned})
            else:
                self._update(message_id)
        return len(ids)

    def recent(self, limit: int = 20) -> list[Reward]:
        with self.store.engine.connect() as conn:
            newest = select(rewards.c.message_id).order_by(rewards.c.updated_at.desc()).limit(limit)
            ids = list(conn.execute(newest).scalars())
        return [r for i in ids if (r := self._row(i))]

    def with_level(self, level: str) -> list[int]:
        """The answers (message ids, oldest first) whose engagement level is `level`."""
        with self.store.engine.connect() as conn:
            found = select(rewards.c.message_id).where(rewards.c.level == level).order_by(rewards.c.message_id)
            return list(conn.execute(found).scalars())

    def by_version(self, role: str) -> dict[int, list[float]]:
        """The rewards each prompt version of `role` has earned."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(rewards.c.prompt_version, rewards.c.reward).where(
                    rewards.c.role == role, rewards.c.reward.is_not(None)
                )
            ).all()
        earned: dict[int, list[float]] = {}
        for version, reward in rows:
            if version is not None:
                earned.setdefault(version, []).append(reward)
        return earned
