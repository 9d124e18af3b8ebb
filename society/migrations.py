"""Numbered, append-only schema migrations, recorded in the database they changed.

Add a new function at the end; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

MIGRATIONS: list[Callable[[Connection], None]] = []


def migration(fn: Callable[[Connection], None]) -> Callable[[Connection], None]:
    MIGRATIONS.append(fn)
    return fn


def migrate(engine: Engine) -> list[str]:
    """Apply every migration not yet recorded; return the names applied."""
    applied: list[str] = []
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"))
        done = {row[0] for row in conn.execute(text("SELECT name FROM _migrations"))}
        for fn in MIGRATIONS:
            if fn.__name__ in done:
                continue
            fn(conn)
            conn.execute(
                text("INSERT INTO _migrations (name, applied_at) VALUES (:n, datetime('now'))"),
                {"n": fn.__name__},
            )
            applied.append(fn.__name__)
    return applied


@migration
def m001_conversation(conn: Connection) -> None:
    statements = [
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL DEFAULT 'running',  -- running, done, failed, timeout, interrupted
            pid INTEGER,
            entry_point TEXT,
            stop_reason TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT
        )""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER NOT NULL REFERENCES turns(id),
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            reasoning TEXT,
            model TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency_ms INTEGER,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX messages_turn ON messages(turn_id)",
        """CREATE TABLE summaries (
            id INTEGER PRIMARY KEY,
            through_message_id INTEGER NOT NULL,
            content TEXT NOT NULL,
            model TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER,
            role TEXT NOT NULL,
            model TEXT NOT NULL,
            ok INTEGER NOT NULL,
            error TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            latency_ms INTEGER,
            prompt TEXT,  -- the messages sent, only when SOCIETY_TRACE is set
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE fallbacks (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER,
            role TEXT NOT NULL,
            from_model TEXT NOT NULL,
            to_model TEXT,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE team_state (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER,
            state TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
    ]
    for statement in statements:
        conn.execute(text(statement))


@migration
def m002_message_kinds(conn: Connection) -> None:
    """Tool calls, tool results and approval decisions are messages of the conversation too."""
    conn.execute(text("ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'text'"))


@migration
def m003_memories(conn: Connection) -> None:
    """Long-term memory: items made from the conversation (chunks of turns, extracted facts,
    preferences, decisions, tool results) or by the memory keeper's tools. Never deleted:
    `status` says whether recall still sees an item."""
    statements = [
        """CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,  -- turn, fact, preference, decision, tool_result, note
            content TEXT NOT NULL,
            importance REAL NOT NULL,  -- 0..1
            tier TEXT NOT NULL DEFAULT 'short',  -- short, long (promoted by consolidation)
            status TEXT NOT NULL DEFAULT 'active',  -- active, faded, merged, forgotten
            merged_into INTEGER REFERENCES memories(id),
            source_message_ids TEXT NOT NULL DEFAULT '[]',
            turn_id INTEGER,
            created_by TEXT NOT NULL,  -- consolidation, memory_keeper, user
            access_count INTEGER NOT NULL DEFAULT 0,
            last_accessed_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            embedded_with TEXT,  -- the embedding model of its vector in the index; NULL: not yet
            content_hash TEXT NOT NULL  -- kind and content: a memory said again is not stored again
        )""",
        "CREATE INDEX memories_status ON memories(status, kind)",
        "CREATE INDEX memories_content ON memories(content_hash)",
        "CREATE INDEX memories_unembedded ON memories(embedded_with)",
        # Keyword index over analysed text (words, Japanese bigrams): see society/memory/keywords.py.
        "CREATE VIRTUAL TABLE memory_terms USING fts5(terms, tokenize = 'unicode61 remove_diacritics 2')",
        """CREATE TABLE memory_progress (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            through_message_id INTEGER NOT NULL
        )""",
    ]
    for statement in statements:
        conn.execute(text(statement))


@migration
def m004_prompts_and_examples(conn: Connection) -> None:
    """Versioned role prompts (the shipped files are version 1), locks, which version spoke
    each message, and the tuning examples the data curator keeps."""
    statements = [
        """CREATE TABLE prompt_versions (
            id INTEGER PRIMARY KEY,
            role TEXT NOT NULL,
            version INTEGER NOT NULL,
            text TEXT NOT NULL,
            author TEXT NOT NULL,  -- 'shipped', 'user' or the role that edited it
            reason TEXT NOT NULL,
            parent_version INTEGER,
            fitness REAL,  -- earned from rewards (the reward issue fills it in)
            uses INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            UNIQUE (role, version)
        )""",
        "CREATE TABLE prompt_locks (role TEXT PRIMARY KEY, locked_at TEXT NOT NULL)",
        "ALTER TABLE messages ADD COLUMN prompt_version INTEGER",
        """CREATE TABLE examples (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,  -- sft, pair (preference), label (good or bad)
            prompt TEXT NOT NULL,  -- JSON list of chat messages before the answer
            completion TEXT NOT NULL,  -- the answer (the chosen one, for a pair)
            rejected TEXT,  -- pairs only
            label INTEGER,  -- labelled examples: 1 good, 0 bad
            source_message_ids TEXT NOT NULL DEFAULT '[]',
            created_by TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active',  -- active, deleted
            content_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX examples_kind ON examples(kind, status)",
        "CREATE INDEX examples_hash ON examples(content_hash)",
    ]
    for statement in statements:
        conn.execute(text(statement))


@migration
def m005_rewards_and_evals(conn: Connection) -> None:
    """Explicit feedback, one reward row per answer with every component (so it can be
    recomputed), and judge-scored evaluation runs with their reports."""
    statements = [
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id),
            value INTEGER NOT NULL,  -- +1 good, -1 bad
            comment TEXT,
            source TEXT NOT NULL,  -- cli, ui, api
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE rewards (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id),  -- the answer
            turn_id INTEGER NOT NULL,
            role TEXT NOT NULL,
            prompt_version INTEGER,
            judge TEXT,  -- JSON: the rubric scores and the reason
            judge_score REAL,  -- mean rubric score, 1..10
            level TEXT,  -- negative, correction, continue, thanks (from the user's next message)
            explicit INTEGER,  -- +1 / -1 from feedback
            reward REAL,
            weights TEXT NOT NULL,  -- JSON: the weighting used, so it can be recomputed
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX rewards_role ON rewards(role, prompt_version)",
        """CREATE TABLE eval_runs (
            id INTEGER PRIMARY KEY,
            suite TEXT NOT NULL,
            report TEXT NOT NULL,  -- JSON
            markdown TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
    ]
    for statement in statements:
        conn.execute(text(statement))


@migration
def m006_lineage(conn: Connection) -> None:
    """The evolution breeder's records: every adapter (trained or bred) and every individual
    CMA-ES evaluated (genome, parents, generation, fitness), and which adapter is deployed."""
    statements = [
        """CREATE TABLE adapters (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,  -- trained, merged
            base TEXT NOT NULL,
            path TEXT NOT NULL,  -- the PEFT adapter folder (meta.json inside)
            parents TEXT NOT NULL DEFAULT '[]',  -- JSON: names
            genome TEXT,  -- JSON, for merged adapters
            generation INTEGER NOT NULL DEFAULT 0,
            heldout REAL,  -- mean log-likelihood per token on the held-out split
            retention REAL,  -- the same on the retention set
            fitness REAL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE individuals (
            id INTEGER PRIMARY KEY,
            run INTEGER NOT NULL,
            generation INTEGER NOT NULL,
            parents TEXT NOT NULL,  -- JSON: adapter names
            genome TEXT NOT NULL,  -- JSON: weight and density per parent per layer group
            heldout REAL,
            retention REAL,
            fitness REAL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE deployments (
            id INTEGER PRIMARY KEY,
            adapter TEXT,  -- NULL: the plain base model
            gguf TEXT,  -- the llama.cpp LoRA file
            ollama_tag TEXT,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
    ]
    for statement in statements:
        conn.execute(text(statement))


@migration
def m007_answer_timing(conn: Connection) -> None:
    """Per answer: time to its first token and time spent generating after it, so tokens per
    second is completion tokens over generation time, not over the whole call."""
    conn.execute(text("ALTER TABLE messages ADD COLUMN first_token_ms INTEGER"))
    conn.execute(text("ALTER TABLE messages ADD COLUMN generation_ms INTEGER"))


@migration
def m008_judge_calibration(conn: Connection) -> None:
    """Each judging model's pairwise accuracy on the shipped calibration set: below the bar,
    its scores are kept but count nothing in rewards."""
    conn.execute(
        text(
            """CREATE TABLE judge_calibrations (
            model TEXT PRIMARY KEY,
            correct INTEGER NOT NULL,
            total INTEGER NOT NULL,
            detail TEXT NOT NULL,  -- JSON: per pair id, the good and the bad answer's scores
            measured_at TEXT NOT NULL
        )"""
        )
    )


@migration
def m009_deployment_base(conn: Connection) -> None:
    """Which model a deployment belongs to: the embedded model (NULL, as before) or the
    Ollama model its tag replaces on the ladder."""
    conn.execute(text("ALTER TABLE deployments ADD COLUMN base TEXT"))


@migration
def m010_answer_recall(conn: Connection) -> None:
    """Children are chosen by what their answers hold, not by the likelihood of the
    reference's phrasing (training/fitness.py Recall): the held-out and retention recall of
    every adapter and individual, beside the log-likelihoods (heldout, retention), which
    individuals no longer compute."""
    for table in ("adapters", "individuals"):
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN recall REAL"))
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN retention_recall REAL"))


@migration
def m011_memory_time_and_stems(conn: Connection) -> None:
    """When a memory was said (its first source message's time; recency and questions about
    a time use it, not when consolidation ran), and English stems in the keyword index
    (FTS5's porter over the same analysed terms: "submitted" finds "submitting")."""
    from society.memory.keywords import index_text

    conn.execute(text("ALTER TABLE memories ADD COLUMN said_at TEXT"))
    conn.execute(text("UPDATE memories SET said_at = created_at"))
    conn.execute(text("CREATE INDEX memories_said ON memories(said_at)"))
    conn.execute(text("DROP TABLE memory_terms"))
    conn.execute(
        text("CREATE VIRTUAL TABLE memory_terms USING fts5(terms, tokenize = 'porter unicode61 remove_diacritics 2')")
    )
    rows = conn.execute(text("SELECT id, content FROM memories")).all()
    if rows:
        conn.execute(
            text("INSERT INTO memory_terms (rowid, terms) VALUES (:id, :terms)"),
            [{"id": i, "terms": index_text(content)} for i, content in rows],
        )
