"""Memory items in the database: the source of truth the indexes are built from, and the
keyword index beside them (FTS5 on SQLite, tsvector on Postgres: its SQL differs by engine)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from society.errors import NotFoundError
from society.storage.db import is_postgres, reserve_ids
from society.storage.store import now
from society.text.keywords import index_text, match_expression, query_terms
from society.tools.secrets import redact

KINDS = ("turn", "fact", "preference", "decision", "tool_result", "note")
STATUSES = ("active", "faded", "merged", "forgotten")
COLUMNS = (
    "id, kind, content, importance, tier, status, merged_into, source_message_ids, turn_id, created_by,"
    " access_count, last_accessed_at, created_at, updated_at, embedded_with, said_at"
)


@dataclass
class MemoryItem:
    id: int
    kind: str
    content: str
    importance: float
    tier: str = "short"
    status: str = "active"
    merged_into: int | None = None
    source_message_ids: list[int] = field(default_factory=list)
    turn_id: int | None = None
    created_by: str = "consolidation"
    access_count: int = 0
    last_accessed_at: str | None = None
    created_at: str = ""
    updated_at: str = ""
    embedded_with: str | None = None
    said_at: str | None = None  # when its source was said (None: when it was stored)

    @property
    def when(self) -> str:
        return self.said_at or self.created_at

    @classmethod
    def from_row(cls, row: Any) -> MemoryItem:
        values = list(row)
        values[7] = json.loads(values[7] or "[]")
        return cls(*values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def content_hash(kind: str, content: str) -> str:
    return hashlib.sha256(f"{kind}\x00{content}".encode()).hexdigest()[:32]


class MemoryNotFound(NotFoundError):
    """No memory has that id."""


class Items:
    def __init__(self, engine: Engine):
        self.engine = engine

    def add(
        self,
        kind: str,
        content: str,
        importance: float,
        created_by: str,
        source_message_ids: list[int] | None = None,
        turn_id: int | None = None,
        said_at: str | None = None,
    ) -> MemoryItem:
        if kind not in KINDS:
            raise ValueError(f"memory kind '{kind}' is unknown; use one of {', '.join(KINDS)}")
        # No secret is remembered, however it was written: a memory is recalled into prompts
        # for ever, and what a page or a command put in a turn is the attacker's.
        content = redact(content)
        digest = content_hash(kind, content)
        with self.engine.connect() as conn:
            same = conn.execute(
                text("SELECT id FROM memories WHERE content_hash = :h AND status = 'active' LIMIT 1"), {"h": digest}
            ).scalar()
        if same is not None:
            # Said again (a stock answer, a repeated request): one memory with both sources.
            # Many identical vectors also wreck the HNSW graph's search (measured).
            self.add_sources(same, source_message_ids or [])
            return self.get(same)
        at = now()
        row = {
            "hash": digest,
            "kind": kind,
            "content": content,
            "importance": max(0.0, min(1.0, importance)),
            "sources": json.dumps(source_message_ids or []),
            "turn": turn_id,
            "by": created_by,
            "at": at,
            "said": said_at or at,
        }
        with self.engine.begin() as conn:
            memory_id = conn.execute(
                text(
                    "INSERT INTO memories (kind, content, importance, source_message_ids, turn_id, created_by,"
                    " created_at, updated_at, content_hash, said_at)"
                    " VALUES (:kind, :content, :importance, :sources, :turn, :by, :at, :at, :hash, :said) RETURNING id"
                ),
                row,
            ).scalar_one()
            conn.execute(
                text("INSERT INTO memory_terms (rowid, terms) VALUES (:id, :terms)"),
                {"id": memory_id, "terms": index_text(content)},
            )
        return self.get(memory_id)

    def add_many(self, kind: str, contents: list[str], importance: float, created_by: str) -> list[int]:
        """Many memories in one transaction (imports, benchmarks); their ids."""
        at = now()
        with self.engine.begin() as conn:
            ids = reserve_ids(conn, "memories", len(contents))
            conn.execute(
                text(
                    "INSERT INTO memories (id, kind, content, importance, created_by, created_at, updated_at,"
                    " content_hash, said_at) VALUES (:id, :kind, :content, :importance, :by, :at, :at, :hash, :at)"
                ),
                [
                    {
                        "id": i,
                        "kind": kind,
                        "content": c,
                        "importance": importance,
                        "by": created_by,
                        "at": at,
                        "hash": content_hash(kind, c),
                    }
                    for i, c in zip(ids, contents, strict=True)
                ],
            )
            conn.execute(
                text("INSERT INTO memory_terms (rowid, terms) VALUES (:id, :terms)"),
                [{"id": i, "terms": index_text(c)} for i, c in zip(ids, contents, strict=True)],
            )
        return ids

    def get(self, memory_id: int) -> MemoryItem:
        found = self.many([memory_id])
        if not found:
            raise MemoryNotFound(f"no memory #{memory_id}; see `society memory list`")
        return found[0]

    def many(self, ids: list[int]) -> list[MemoryItem]:
        """The items with these ids, in the order given (missing ones left out)."""
        if not ids:
            return []
        marks = ",".join(str(int(i)) for i in ids)
        with self.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {COLUMNS} FROM memories WHERE id IN ({marks})")).all()
        by_id = {row[0]: MemoryItem.from_row(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def listing(self, kind: str | None = None, include_inactive: bool = False, limit: int = 50) -> list[MemoryItem]:
        where, params = [], {"n": limit}
        if kind:
            where.append("kind = :kind")
            params["kind"] = kind
        if not include_inactive:
            where.append("status = 'active'")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {COLUMNS} FROM memories {clause} ORDER BY id DESC LIMIT :n"), params)
            return [MemoryItem.from_row(row) for row in rows]

    def active_ids(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        marks = ",".join(str(int(i)) for i in ids)
        with self.engine.connect() as conn:
            # By primary key, the status checked here: with `status = 'active'` in the WHERE,
            # SQLite walks the status index over every active memory (21 ms at 100,000).
            rows = conn.execute(text(f"SELECT id, status FROM memories WHERE id IN ({marks})"))
            return {row[0] for row in rows if row[1] == "active"}

    def keyword_search(
        self, query: str, limit: int, said_between: tuple[str, str] | None = None
    ) -> list[tuple[int, float]]:
        """(id, score, higher is better) of active memories matching any of the query's
        terms, best first; with `said_between`, only those said in that period. The engine's
        own full-text search ranks them: FTS5's BM25 on SQLite, ts_rank on Postgres."""
        expression = match_expression(query)
        if expression is None:
            return []
        period = " AND m.said_at >= :start AND m.said_at < :end" if said_between else ""
        start, end = said_between or ("", "")
        params = {"q": expression, "n": limit, "start": start, "end": end}
        if is_postgres(self.engine):
            # The terms as they are (Japanese bigrams too) or any English word's stem.
            terms = query_terms(query)
            params.update(q=" | ".join("'" + t.replace("'", "''") + "'" for t in terms), words=" or ".join(terms))
            sql = (
                "SELECT m.id, ts_rank(t.search, q.query) AS score FROM memory_terms t"
                " JOIN memories m ON m.id = t.rowid,"
                " (SELECT CAST(:q AS tsquery) || websearch_to_tsquery('english', :words) AS query) q"
                f" WHERE t.search @@ q.query AND m.status = 'active'{period} ORDER BY score DESC, m.id LIMIT :n"
            )
        else:
            sql = (
                "SELECT m.id, -memory_terms.rank FROM memory_terms JOIN memories m ON m.id = memory_terms.rowid"
                f" WHERE memory_terms MATCH :q AND m.status = 'active'{period} ORDER BY memory_terms.rank LIMIT :n"
            )
        with self.engine.connect() as conn:
            return [(row[0], float(row[1])) for row in conn.execute(text(sql), params)]

    def update(self, memory_id: int, **fields: Any) -> MemoryItem:
        allowed = {"content", "importance", "tier", "status", "merged_into", "kind", "embedded_with"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if "content" in fields:
            fields["content"] = redact(fields["content"])
        current = self.get(memory_id)  # before the write transaction: every connection begins IMMEDIATE
        sets = ", ".join(f"{name} = :{name}" for name in fields)
        with self.engine.begin() as conn:
            conn.execute(
                text(f"UPDATE memories SET {sets}, updated_at = :at WHERE id = :id"),
                {**fields, "at": now(), "id": memory_id},
            )
            if "content" in fields:
                conn.execute(
                    text("UPDATE memories SET content_hash = :h WHERE id = :id"),
                    {
                        "h": content_hash(fields.get("kind") or current.kind, fields["content"]),
                        "id": memory_id,
                    },
                )
                conn.execute(
                    text("UPDATE memory_terms SET terms = :terms WHERE rowid = :id"),
                    {"terms": index_text(fields["content"]), "id": memory_id},
                )
        return self.get(memory_id)

    def add_sources(self, memory_id: int, message_ids: list[int]) -> None:
        item = self.get(memory_id)
        merged = sorted(set(item.source_message_ids) | set(message_ids))
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE memories SET source_message_ids = :s WHERE id = :id"),
                {"s": json.dumps(merged), "id": memory_id},
            )

    def touch(self, ids: list[int]) -> None:
        """These memories were recalled into a model's context."""
        if not ids:
            return
        marks = ",".join(str(int(i)) for i in ids)
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"UPDATE memories SET access_count = access_count + 1, last_accessed_at = :at WHERE id IN ({marks})"
                ),
                {"at": now()},
            )

    def unembedded(self, model: str, limit: int) -> list[MemoryItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT {COLUMNS} FROM memories WHERE status = 'active'"
                    " AND (embedded_with IS NULL OR embedded_with != :m) ORDER BY id LIMIT :n"
                ),
                {"m": model, "n": limit},
            )
            return [MemoryItem.from_row(row) for row in rows]

    def mark_embedded(self, ids: list[int], model: str | None) -> None:
        if not ids:
            return
        marks = ",".join(str(int(i)) for i in ids)
        with self.engine.begin() as conn:
            conn.execute(text(f"UPDATE memories SET embedded_with = :m WHERE id IN ({marks})"), {"m": model})

    def embedded_count(self, model: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM memories WHERE status = 'active' AND embedded_with = :m"), {"m": model}
            ).scalar_one()

    def forget_embeddings(self) -> None:
        """Every vector is gone (the index was rebuilt): all active items need embedding again."""
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE memories SET embedded_with = NULL"))

    def fade_candidates(self, created_before: str, below: float) -> list[int]:
        """Chat chunks and tool results never recalled, of low importance, older than the cutoff."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id FROM memories WHERE status = 'active' AND kind IN ('turn', 'tool_result')"
                    " AND access_count = 0 AND importance < :b AND created_at < :c"
                ),
                {"b": below, "c": created_before},
            )
            return [row[0] for row in rows]

    def promote(self, importance: float, accesses: int) -> list[int]:
        """Move important or often recalled short-term memories to the long-term tier."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                text(
                    "UPDATE memories SET tier = 'long', updated_at = :at WHERE status = 'active' AND tier = 'short'"
                    " AND (importance >= :i OR access_count >= :a) RETURNING id"
                ),
                {"i": importance, "a": accesses, "at": now()},
            )
            return [row[0] for row in rows]

    def progress(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT through_message_id FROM memory_progress WHERE id = 1")).scalar()
        return int(value or 0)

    def set_progress(self, message_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO memory_progress (id, through_message_id) VALUES (1, :m)"
                    " ON CONFLICT (id) DO UPDATE SET through_message_id = excluded.through_message_id"
                ),
                {"m": message_id},
            )

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT status, count(*) FROM memories GROUP BY status")).all()
        return {status: count for status, count in rows}
