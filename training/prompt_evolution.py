"""Prompt evolution (EvoPrompt / Promptbreeder operators, GEPA's acceptance): a role's
prompt versions are a population. The model writes a child of the two fittest versions by
crossover and mutation; the child is kept (a new version, author "evolution") only if it
beats the current version on a minibatch of the judge-scored eval suite; the reward bandit
takes it from there (a trial, then Thompson sampling against its parent)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from autogen_core.models import SystemMessage, UserMessage

from society.prompt_book import PromptBook, PromptRefused

OPERATORS = (
    "You improve the system prompt of an AI assistant's '{role}' role.\n"
    "1. Cross over: combine the two parent prompts below into one, keeping every rule either has.\n"
    "2. Mutate: then change one instruction so the role serves the user better (clearer, more specific).\n"
    "Reply with only the new prompt, no commentary.\n\nParent prompt 1:\n{first}\n\nParent prompt 2:\n{second}"
)


@dataclass
class PromptChild:
    role: str
    text: str
    parent_score: float
    child_score: float
    kept_version: int | None
    why: str


def task_score(result: dict) -> float:
    """A task's result as one number: the judge's 1..10 scaled to 0..1, plus 1 for a right
    exact answer (a wrong one counts 0, an unchecked one nothing extra)."""
    judged = (result["score"] - 1) / 9 if result.get("score") is not None else 0.0
    return judged + (1.0 if result.get("exact") else 0.0)


def parents_of(book: PromptBook, role: str):
    """The current version and the fittest other one (else its parent, else itself)."""
    versions = book.versions(role)
    current = versions[-1]
    others = [v for v in versions[:-1] if v.text != current.text]
    fit = [v for v in others if v.fitness is not None]
    second = max(fit, key=lambda v: v.fitness) if fit else (others[-1] if others else current)
    return current, second


async def evolve_prompt(role: str, gate, suite: Path, minibatch: int = 4, seed: int = 0, book=None, run=None):
    """Breed one child prompt for `role` and keep it if it wins on a minibatch of `suite`."""
    from roles import ROLE_NAMES
    from training.evals import load_suite, run_tasks

    book = book or PromptBook()
    run = run or run_tasks
    first, second = parents_of(book, role)
    reply = await gate.create(
        "prompt_editor",
        [
            SystemMessage(content="You write system prompts for AI assistants."),
            UserMessage(content=OPERATORS.format(role=role, first=first.text, second=second.text), source="user"),
        ],
    )
    child = str(reply.content).strip()
    _, tasks = load_suite(suite)
    batch = random.Random(seed).sample(tasks, min(minibatch, len(tasks)))
    prompts = {name: book.current(name).text for name in ROLE_NAMES}
    parent_score = sum(map(task_score, await run(batch, prompts))) / len(batch)
    child_score = sum(map(task_score, await run(batch, {**prompts, role: child}))) / len(batch)
    why = f"minibatch of {len(batch)} tasks: child {child_score:.3f} vs current {parent_score:.3f}"
    if child_score <= parent_score:
        return PromptChild(role, child, parent_score, child_score, None, f"rejected; {why}")
    try:
        kept = book.edit(role, f"evolved from v{first.version} x v{second.version}; {why}", "evolution", new_text=child)
    except PromptRefused as err:  # the guardrails (length, required phrases) still hold
        return PromptChild(role, child, parent_score, child_score, None, f"refused by the guardrails: {err}")
    return PromptChild(role, child, parent_score, child_score, kept.version, f"kept as v{kept.version}; {why}")
