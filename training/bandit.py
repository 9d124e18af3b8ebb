"""Which prompt version a role speaks with: Thompson sampling between the newest version and
the one it replaced, on the rewards each has earned. A bad edit loses traffic to its parent,
a good one wins it.

A new version speaks alone until it has earned TRIAL rewards (an edit takes effect from the
next turn, as promised). The newest version always speaks when the user wrote it (an edit,
a rollback) or locked the role: the bandit only second-guesses the society's own edits.

A reward r in [-1, 1] counts as (1 + r) / 2 of a success, so each version's Beta posterior is
Beta(1 + sum((1 + r) / 2), 1 + sum((1 - r) / 2)).
"""

from __future__ import annotations

import random

from society.prompt_book import PromptBook, PromptVersion
from training.reward import Rewards


def posterior(rewards: list[float]) -> tuple[float, float]:
    return 1 + sum((1 + r) / 2 for r in rewards), 1 + sum((1 - r) / 2 for r in rewards)


TRIAL = 3


def contenders(book: PromptBook, earned: dict[int, list[float]], role: str) -> list[PromptVersion]:
    versions = book.versions(role)
    current = versions[-1]
    if book.is_locked(role) or current.parent_version is None or current.author in ("user", "shipped"):
        return [current]
    if len(earned.get(current.version, [])) < TRIAL:
        return [current]
    parent = next((v for v in versions if v.version == current.parent_version), None)
    return [current] if parent is None or parent.text == current.text else [current, parent]


def choose(book: PromptBook, rewards: Rewards, role: str, rng: random.Random) -> PromptVersion:
    earned = rewards.by_version(role)
    options = contenders(book, earned, role)
    if len(options) == 1:
        return options[0]
    return max(options, key=lambda v: rng.betavariate(*posterior(earned.get(v.version, []))))


def update_fitness(book: PromptBook, rewards: Rewards, role: str) -> None:
    """Each version's fitness: the mean reward it has earned."""
    for version, earned in rewards.by_version(role).items():
        book.set_fitness(role, version, round(sum(earned) / len(earned), 4))
