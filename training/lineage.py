"""The family tree: adapters (trained and bred), every individual CMA-ES evaluated, and the
deployments (with the one before, for rollback)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from society.store import Store, now


@dataclass
class Adapter:
    id: int
    name: str
    kind: str
    base: str
    path: str
    parents: list[str]
    genome: Any
    generation: int
    heldout: float | None
    retention: float | None
    fitness: float | None
    created_at: str
    recall: float | None = None
    retention_recall: float | None = None


@dataclass
class Deployment:
    id: int
    adapter: str | None
    gguf: str | None
    ollama_tag: str | None
    reason: str
    created_at: str
    base: str | None = None  # the Ollama model its tag replaces; None: the embedded model


ADAPTER_COLUMNS = (
    "id, name, kind, base, path, parents, genome, generation, heldout, retention, fitness, created_at,"
    " recall, retention_recall"
)
# What a child or an adapter scored (training/breeder.py): held-out and retention
# log-likelihood per token, held-out and retention answer recall, and the fitness from them.
SCORES = ("heldout", "retention", "recall", "retention_recall", "fitness")


class Lineage:
    def __init__(self, store: Store | None = None):
        self.store = store or Store()

    def add_adapter(self, name: str, kind: str, base: str, path: Path, parents=(), genome=None, generation=0, **scores):
        with self.store.engine.begin() as conn:
            conn.execute(text("DELETE FROM adapters WHERE name = :n"), {"n": name})
            conn.execute(
                text(
                    f"INSERT INTO adapters (name, kind, base, path, parents, genome, generation, {', '.join(SCORES)},"
                    f" created_at) VALUES (:n, :k, :b, :p, :pa, :g, :gen, {', '.join(':' + k for k in SCORES)}, :at)"
                ),
                {
                    "n": name,
                    "k": kind,
                    "b": base,
                    "p": str(path),
                    "pa": json.dumps(list(parents)),
                    "g": None if genome is None else json.dumps(genome),
                    "gen": generation,
                    **{k: scores.get(k) for k in SCORES},
                    "at": now(),
                },
            )

    def score(self, name: str, **scores: float | None) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(
                text(f"UPDATE adapters SET {', '.join(f'{k} = :{k}' for k in SCORES)} WHERE name = :name"),
                {**{k: scores.get(k) for k in SCORES}, "name": name},
            )

    def adapters(self, base: str | None = None) -> list[Adapter]:
        where, params = ("WHERE base = :b", {"b": base}) if base else ("", {})
        with self.store.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {ADAPTER_COLUMNS} FROM adapters {where} ORDER BY id"), params).all()
        return [Adapter(*row[:5], json.loads(row[5]), json.loads(row[6]) if row[6] else None, *row[7:]) for row in rows]

    def adapter(self, name: str) -> Adapter | None:
        return next((a for a in self.adapters() if a.name == name), None)

    def next_run(self) -> int:
        with self.store.engine.connect() as conn:
            return 1 + (conn.execute(text("SELECT MAX(run) FROM individuals")).scalar() or 0)

    def record_individual(self, run: int, generation: int, parents, genome, **scores: float | None) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO individuals (run, generation, parents, genome, {', '.join(SCORES)}, created_at)"
                    f" VALUES (:run, :g, :p, :genome, {', '.join(':' + k for k in SCORES)}, :at)"
                ),
                {
                    "run": run,
                    "g": generation,
                    "p": json.dumps(list(parents)),
                    "genome": json.dumps(genome),
                    **{k: scores.get(k) for k in SCORES},
                    "at": now(),
                },
            )

    def individuals(self, run: int | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE run = :r", {"r": run}) if run else ("", {})
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT run, generation, parents, genome, {', '.join(SCORES)} FROM individuals {where}"),
                params,
            ).all()
        keys = ("run", "generation", "parents", "genome", *SCORES)
        return [
            {**dict(zip(keys, row, strict=True)), "parents": json.loads(row[2]), "genome": json.loads(row[3])}
            for row in rows
        ]

    def deploy(
        self, adapter: str | None, gguf: str | None, ollama_tag: str | None, reason: str, base: str | None = None
    ) -> None:
        """Record a deployment for `base` (None: the embedded model; else the Ollama model
        whose place on the ladder `ollama_tag` takes)."""
        with self.store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO deployments (adapter, gguf, ollama_tag, reason, created_at, base)"
                    " VALUES (:a, :g, :o, :r, :at, :b)"
                ),
                {"a": adapter, "g": gguf, "o": ollama_tag, "r": reason, "at": now(), "b": base},
            )

    def deployments(self, base: str | None = None, every_base: bool = False) -> list[Deployment]:
        """The deployments of `base` (None: the embedded model), oldest first; all of them
        with `every_base`."""
        where, params = ("", {}) if every_base else ("WHERE base IS :b", {"b": base})
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT id, adapter, gguf, ollama_tag, reason, created_at, base FROM deployments {where}"
                    " ORDER BY id"
                ),
                params,
            ).all()
        return [Deployment(*row) for row in rows]

    def current(self, base: str | None = None) -> Deployment | None:
        found = self.deployments(base)
        return found[-1] if found else None
