"""One learning cycle: the data curator's examples -> LoRA adapters on slices of them ->
evolution -> deployment when the child wins. Started by `society learn`, or by itself every
`every_interactions` turns (society/conversation.py), in the background."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from society.errors import LearningError
from training.settings import LearningSettings, load_settings

RETENTION = Path(__file__).with_name("retention.jsonl")


def retention_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in RETENTION.read_text(encoding="utf-8").splitlines() if line.strip()]


def split(rows: list[dict[str, Any]], slices: int, seed: int) -> tuple[list[list[dict]], list[dict]]:
    """(training slices, held-out rows): a seeded shuffle, a fifth held out (at least 1),
    the rest dealt round-robin so each slice holds different examples."""
    if len(rows) < slices + 1:
        raise LearningError(f"need at least {slices + 1} supervised examples to learn from, have {len(rows)}")
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    held = max(1, len(shuffled) // 5)
    rest = shuffled[held:]
    return [rest[i::slices] for i in range(slices)], shuffled[:held]


@dataclass
class CycleReport:
    adapters: list[str]
    evolution: Any
    deployed: str | None
    seconds: float


def learn(
    rows: list[dict[str, Any]] | None = None,
    heldout: list[dict[str, Any]] | None = None,
    settings: LearningSettings | None = None,
    progress: bool = True,
    deploy_winner: bool = True,
) -> CycleReport:
    """Train `adapters_per_cycle` adapters on slices of the SFT examples (or `rows`), evolve
    them and deploy the child if it beats its parents and the current model."""
    from training.base import load_base
    from training.breeder import evolve
    from training.datasets import Examples
    from training.deploy import adapters_dir, deploy
    from training.export import rows as export_rows
    from training.lineage import Lineage
    from training.lora import train_adapter

    started = time.perf_counter()
    settings = settings or load_settings()
    rows = rows if rows is not None else export_rows(Examples().all_active(), "sft")
    slices, held = split(rows, settings.adapters_per_cycle, settings.seed)
    heldout = heldout or held
    lineage = Lineage()
    base = load_base(settings.hf_base)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    names = []
    for i, chunk in enumerate(slices):
        trained = train_adapter(f"{stamp}-s{i}", chunk, heldout, adapters_dir(), settings, base=base)
        lineage.add_adapter(trained.name, "trained", trained.meta["base"], trained.path)
        names.append(trained.name)
    evolution = evolve(
        names, heldout, retention_rows(), settings, adapters_dir(), lineage, base=base, progress=progress
    )
    deployed = None
    if evolution.deployed and deploy_winner:
        deploy(evolution.child, f"run {evolution.run}: {evolution.why}", lineage)
        deployed = evolution.child
    return CycleReport(names, evolution, deployed, time.perf_counter() - started)
