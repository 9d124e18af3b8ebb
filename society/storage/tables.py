"""The core's tables as SQLAlchemy Core objects, for queries built as expressions instead of
SQL strings. migrations.py creates them (numbered, append-only: a table's history is there);
these definitions must say the same columns. The keyword index (`memory_terms`, FTS5 on
SQLite, tsvector on Postgres) is no Core table: its SQL differs by engine and stays in
memories.py. training/tables.py defines learning's own tables the same way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Float, Integer, MetaData, Table, Text

metadata = MetaData()

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("status", Text, nullable=False),
    Column("pid", Integer),
    Column("entry_point", Text),
    Column("stop_reason", Text),
    Column("started_at", Text, nullable=False),
    Column("ended_at", Text),
    Column("host", Text),
    Column("heartbeat_at", Text),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("turn_id", Integer, nullable=False),
    Column("role", Text, nullable=False),
    Column("content", Text, nullable=False),
    Column("reasoning", Text),
    Column("model", Text),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("latency_ms", Integer),
    Column("created_at", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("prompt_version", Integer),
    Column("first_token_ms", Integer),
    Column("generation_ms", Integer),
)

prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("role", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("parent_version", Integer),
    Column("fitness", Float),
    Column("uses", Integer, nullable=False),
    Column("created_at", Text, nullable=False),
)

prompt_locks = Table(
    "prompt_locks",
    metadata,
    Column("role", Text, primary_key=True),
    Column("locked_at", Text, nullable=False),
)


def upsert(
    conn: Connection, table: Table, values: dict[str, Any], key: tuple[str, ...], update: tuple[str, ...]
) -> None:
    """Insert `values`, or update the `update` columns of the row with the same `key`
    (INSERT ... ON CONFLICT DO UPDATE, which SQLite and Postgres both speak)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(**values)
    conn.execute(
        statement.on_conflict_do_update(index_elements=list(key), set_={c: statement.excluded[c] for c in update})
    )


def insert_new(conn: Connection, table: Table, values: dict[str, Any]) -> None:
    """Insert `values` unless a row with the same key is there (ON CONFLICT DO NOTHING)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    conn.execute(insert(table).values(**values).on_conflict_do_nothing())
