"""The family tree: adapters (trained and bred), every individual CMA-ES evaluated, and the
deployments (with the one before, for rollback)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from society.storage.store import Store, now
from training.tables import adapters, deployments, individuals


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


# What a child or an adapter scored (training/breeder.py): held-out and retention
# log-likelihood per token, held-out and retention answer recall, and the fitness from them.
SCORES = ("heldout", "retention", "recall", "retention_recall", "fitness")
ADAPTER_COLUMNS = [adapters.c[name] for name in Adapter.__dataclass_fields__]
DEPLOYMENT_COLUMNS = [deployments.c[name] for name in Deployment.__dataclass_fields__]
INDIVIDUAL_KEYS = ("run", "generation", "parents", "genome", *SCORES)


class Lineage:
    def __init__(self, store: Store | None = None):
        self.store = store or Store()

    def add_adapter(self, name: str, kind: str, base: str, path: Path, parents=(), genome=None, generation=0, **scores):
        with self.store.engine.begin() as conn:
            conn.execute(delete(adapters).where(adapters.c.name == name))
            conn.execute(
                adapters.insert().values(
                    name=name,
                    kind=kind,
                    base=base,
                    path=str(path),
                    parents=json.dumps(list(parents)),
                    genome=None if genome is None else json.dumps(genome),
                    generation=generation,
                    **{k: scores.get(k) for k in SCORES},
                    created_at=now(),
                )
            )

    def score(self, name: str, **scores: float | None) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(update(adapters).where(adapters.c.name == name).values(**{k: scores.get(k) for k in SCORES}))

    def adapters(self, base: str | None = None) -> list[Adapter]:
        where = [adapters.c.base == base] if base else []
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(*ADAPTER_COLUMNS).where(*where).order_by(adapters.c.id)).all()
        return [Adapter(*row[:5], json.loads(row[5]), json.loads(row[6]) if row[6] else None, *row[7:]) for row in rows]

    def adapter(self, name: str) -> Adapter | None:
        return next((a for a in self.adapters() if a.name == name), None)

    def next_run(self) -> int:
        with self.store.engine.connect() as conn:
            return 1 + (conn.execute(select(func.max(individuals.c.run))).scalar() or 0)

    def record_individual(self, run: int, generation: int, parents, genome, **scores: float | None) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(
                individuals.insert().values(
                    run=run,
                    generation=generation,
                    parents=json.dumps(list(parents)),
                    genome=json.dumps(genome),
                    **{k: scores.get(k) for k in SCORES},
                    created_at=now(),
                )
            )

    def individuals(self, run: int | None = None) -> list[dict[str, Any]]:
        where = [individuals.c.run == run] if run else []
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(*(individuals.c[k] for k in INDIVIDUAL_KEYS)).where(*where)).all()
        return [
            {
                **dict(zip(INDIVIDUAL_KEYS, row, strict=True)),
                "parents": json.loads(row[2]),
                "genome": json.loads(row[3]),
            }
            for row in rows
        ]

    def deploy(
        self, adapter: str | None, gguf: str | None, ollama_tag: str | None, reason: str, base: str | None = None
    ) -> None:
        """Record a deployment for `base` (None: the embedded model; else the Ollama model
        whose place on the ladder `ollama_tag` takes)."""
        with self.store.engine.begin() as conn:
            conn.execute(
                deployments.insert().values(
                    adapter=adapter, gguf=gguf, ollama_tag=ollama_tag, reason=reason, created_at=now(), base=base
                )
            )

    def deployments(self, base: str | None = None, every_base: bool = False) -> list[Deployment]:
        """The deployments of `base` (None: the embedded model), oldest first; all of them
        with `every_base`."""
        where = [] if every_base else [deployments.c.base.is_(None) if base is None else deployments.c.base == base]
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(*DEPLOYMENT_COLUMNS).where(*where).order_by(deployments.c.id)).all()
        return [Deployment(*row) for row in rows]

    def current(self, base: str | None = None) -> Deployment | None:
        found = self.deployments(base)
        return found[-1] if found else None
