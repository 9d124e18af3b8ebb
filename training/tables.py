"""Learning's tables as SQLAlchemy Core objects: tuning examples, feedback and rewards, eval
runs, the evolution's lineage (adapters, individuals, deployments) and the judges'
calibrations. society/storage/migrations.py created them when the wings shared one schema
(numbered, append-only: they cannot move without changing every existing database's
history); these definitions must say the same columns, and learning's queries are built on
them, not written as SQL."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, Table, Text

metadata = MetaData()

examples = Table(
    "examples",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("completion", Text, nullable=False),
    Column("rejected", Text),
    Column("label", Integer),
    Column("source_message_ids", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("topic", Text),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", Integer, nullable=False),
    Column("value", Integer, nullable=False),
    Column("comment", Text),
    Column("source", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

rewards = Table(
    "rewards",
    metadata,
    Column("message_id", Integer, primary_key=True),
    Column("turn_id", Integer, nullable=False),
    Column("role", Text, nullable=False),
    Column("prompt_version", Integer),
    Column("judge", Text),
    Column("judge_score", Float),
    Column("level", Text),
    Column("explicit", Integer),
    Column("reward", Float),
    Column("weights", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("suite", Text, nullable=False),
    Column("report", Text, nullable=False),
    Column("markdown", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

adapters = Table(
    "adapters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("base", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("parents", Text, nullable=False),
    Column("genome", Text),
    Column("generation", Integer, nullable=False),
    Column("heldout", Float),
    Column("retention", Float),
    Column("fitness", Float),
    Column("created_at", Text, nullable=False),
    Column("recall", Float),
    Column("retention_recall", Float),
)

individuals = Table(
    "individuals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run", Integer, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("parents", Text, nullable=False),
    Column("genome", Text, nullable=False),
    Column("heldout", Float),
    Column("retention", Float),
    Column("fitness", Float),
    Column("created_at", Text, nullable=False),
    Column("recall", Float),
    Column("retention_recall", Float),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("adapter", Text),
    Column("gguf", Text),
    Column("ollama_tag", Text),
    Column("reason", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("base", Text),
)

judge_calibrations = Table(
    "judge_calibrations",
    metadata,
    Column("model", Text, primary_key=True),
    Column("correct", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("detail", Text, nullable=False),
    Column("measured_at", Text, nullable=False),
)
