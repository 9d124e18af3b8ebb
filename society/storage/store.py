"""The conversation log: SQLite (or Postgres, society/storage/db.py) through SQLAlchemy, the source
of truth for everything said.

Every write is its own short transaction, committed before the caller shows anything, so a
process killed at any point loses nothing it has acknowledged. Nothing is ever deleted.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from society.paths import database_path
from society.storage.db import database_schema, database_url, engine_for, is_postgres

USER = "user"
HOST = socket.gethostname()
# A running turn renews its lease every HEARTBEAT_S; one not renewed for LEASE_S was
# interrupted, whichever host ran it (a process on another host cannot be asked directly).
HEARTBEAT_S = 20.0
LEASE_S = 90.0
MESSAGES_CHANNEL = "society_messages"  # Postgres NOTIFY: a message was stored (payload: whose)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Message:
    id: int
    turn_id: int
    role: str
    content: str
    reasoning: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: int | None = None
    created_at: str = ""
    kind: str = "text"  # text, tool_call, tool_result, approval or recall (the memories an answer was given)
    prompt_version: int | None = None  # the version of the role's prompt it was written under
    first_token_ms: int | None = None  # from the model call's start to its first token
    generation_ms: int | None = None  # from the first token to the last

    @property
    def is_text(self) -> bool:
        return self.kind == "text"

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed: completion tokens over the time spent writing them (the whole
        call's time when the backend did not say; it includes reading the prompt)."""
        seconds = (self.generation_ms or self.latency_ms or 0) / 1000
        return round(self.completion_tokens / seconds, 1) if self.completion_tokens and seconds > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


MESSAGE_COLUMNS = (
    "id, turn_id, role, content, reasoning, model, prompt_tokens, completion_tokens, latency_ms, created_at, kind,"
    " prompt_version, first_token_ms, generation_ms"
)


def _pid_alive(pid: int | None) -> bool:
    # psutil, not os.kill(pid, 0): on Windows that sends Ctrl+C to the console.
    import psutil

    return bool(pid) and psutil.pid_exists(pid)


class Store:
    """All reads and writes of the conversation database: the SQLite file at `path` (default:
    the data folder's), or the server `SOCIETY_DATABASE_URL` names when no path is given."""

    def __init__(self, path: Path | None = None):
        self.url = None if path else database_url()
        self.path = None if self.url else path or database_path()
        self.schema = database_schema() if self.url else None  # a user's own, on a shared server
        self.engine = engine_for(self.path, self.url, self.schema)

    @property
    def where(self) -> str:
        """Where the conversation is kept, for the user (a server's password left out)."""
        if not self.url:
            return str(self.path)
        return self.engine.url.render_as_string() + (f" (schema {self.schema})" if self.schema else "")

    # -- turns and messages -------------------------------------------------------------

    def begin_turn(self, user_text: str, entry_point: str) -> Message:
        """Open a turn and commit the user's message in one transaction."""
        at = now()
        with self.engine.begin() as conn:
            turn_id = conn.execute(
                text(
                    "INSERT INTO turns (status, pid, host, entry_point, started_at, heartbeat_at)"
                    " VALUES ('running', :pid, :host, :ep, :at, :at) RETURNING id"
                ),
                {"pid": os.getpid(), "host": HOST, "ep": entry_point, "at": at},
            ).scalar_one()
            message_id = conn.execute(
                text("INSERT INTO messages (turn_id, role, content, created_at) VALUES (:t, :r, :c, :at) RETURNING id"),
                {"t": turn_id, "r": USER, "c": user_text, "at": at},
            ).scalar_one()
            self._ring(conn)
        return Message(id=message_id, turn_id=turn_id, role=USER, content=user_text, created_at=at)

    def add_message(self, turn_id: int, role: str, content: str, **fields: Any) -> Message:
        """Commit one agent message (with its reasoning, model, tokens and latency), or with
        `kind` one tool call, tool result or approval decision."""
        row = {
            "turn_id": turn_id,
            "role": role,
            "content": content,
            "reasoning": fields.get("reasoning"),
            "model": fields.get("model"),
            "prompt_tokens": fields.get("prompt_tokens"),
            "completion_tokens": fields.get("completion_tokens"),
            "latency_ms": fields.get("latency_ms"),
            "created_at": now(),
            "kind": fields.get("kind", "text"),
            "prompt_version": fields.get("prompt_version"),
            "first_token_ms": fields.get("first_token_ms"),
            "generation_ms": fields.get("generation_ms"),
        }
        with self.engine.begin() as conn:
            row["id"] = conn.execute(
                text(
                    "INSERT INTO messages (turn_id, role, content, reasoning, model, prompt_tokens,"
                    " completion_tokens, latency_ms, created_at, kind, prompt_version, first_token_ms, generation_ms)"
                    " VALUES (:turn_id, :role, :content, :reasoning, :model, :prompt_tokens, :completion_tokens,"
                    " :latency_ms, :created_at, :kind, :prompt_version, :first_token_ms, :generation_ms) RETURNING id"
                ),
                row,
            ).scalar_one()
            self._ring(conn)
        return Message(**row)

    def _ring(self, conn) -> None:
        """On a server database, tell every process and host that follows this conversation
        that a message was stored (Postgres NOTIFY, sent when the transaction commits): open
        pages show it at once instead of at their next poll (ui/bell.py)."""
        if self.url:
            whose = {"channel": MESSAGES_CHANNEL, "who": self.schema or ""}
            conn.execute(text("SELECT pg_notify(:channel, :who)"), whose)

    def end_turn(self, turn_id: int, status: str, stop_reason: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE turns SET status = :s, stop_reason = :r, ended_at = :at WHERE id = :id"),
                {"s": status, "r": stop_reason, "at": now(), "id": turn_id},
            )

    def renew_lease(self, turn_id: int) -> None:
        """The running turn's heartbeat (society/conversation.py renews it while it plays)."""
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE turns SET heartbeat_at = :at WHERE id = :id AND status = 'running'"),
                {"at": now(), "id": turn_id},
            )

    def mark_interrupted_turns(self) -> list[int]:
        """Turns left 'running' by a process that no longer exists (on this host), or whose
        lease ran out (on another host), were interrupted (killed or crashed); say so, so that
        history shows the user's message as unanswered."""
        expired = (datetime.now(UTC) - timedelta(seconds=LEASE_S)).isoformat(timespec="microseconds")
        with self.engine.begin() as conn:
            rows = conn.execute(text("SELECT id, pid, host, heartbeat_at FROM turns WHERE status = 'running'")).all()
            # Here the process itself says (a turn may hold the event loop past its heartbeat
            # while a model answers); another host's turn, only its lease.
            dead = [
                turn_id
                for turn_id, pid, host, beat in rows
                if (not _pid_alive(pid) if host in (None, HOST) else beat is not None and beat < expired)
            ]
            for turn_id in dead:
                conn.execute(
                    text("UPDATE turns SET status = 'interrupted', ended_at = :at WHERE id = :id"),
                    {"at": now(), "id": turn_id},
                )
        return dead

    def interrupt_running_turns(self) -> list[int]:
        """Every turn still 'running', marked interrupted: called by the holder of the turn
        lock, who knows no other turn can be running, so these were left by a process that
        died (a killed `society run` while a server goes on)."""
        with self.engine.begin() as conn:
            stale = [row[0] for row in conn.execute(text("SELECT id FROM turns WHERE status = 'running'")).all()]
            for turn_id in stale:
                conn.execute(
                    text("UPDATE turns SET status = 'interrupted', ended_at = :at WHERE id = :id"),
                    {"at": now(), "id": turn_id},
                )
        return stale

    def turn_status(self, turn_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT status FROM turns WHERE id = :id"), {"id": turn_id}).scalar()

    def last_messages(self, limit: int) -> list[Message]:
        """The newest `limit` messages, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY id DESC LIMIT :n"), {"n": limit}
            ).all()
        return [Message(*row) for row in reversed(rows)]

    def message(self, message_id: int) -> Message | None:
        found = self.messages_between(message_id - 1, message_id)
        return found[0] if found else None

    def message_before(self, message_id: int) -> Message | None:
        """The message stored just before `message_id`, whatever its turn."""
        with self.engine.connect() as conn:
            before = conn.execute(text("SELECT max(id) FROM messages WHERE id < :id"), {"id": message_id}).scalar()
        return None if before is None else self.message(before)

    def answer_id(self, message_id: int | None) -> int | None:
        """The team's text answer `message_id`, or the last one to user message
        `message_id`; with None or 0, the newest answer of a finished turn."""
        with self.engine.connect() as conn:
            if message_id:
                found = conn.execute(
                    text(
                        "SELECT a.id FROM messages m JOIN messages a ON a.turn_id = m.turn_id AND a.id >= m.id"
                        " WHERE m.id = :i AND a.role != :u AND a.kind = 'text' ORDER BY a.id DESC LIMIT 1"
                    ),
                    {"i": message_id, "u": USER},
                ).scalar()
            else:
                found = conn.execute(
                    text(
                        "SELECT m.id FROM messages m JOIN turns t ON t.id = m.turn_id WHERE m.role != :u"
                        " AND m.kind = 'text' AND t.status != 'running' ORDER BY m.id DESC LIMIT 1"
                    ),
                    {"u": USER},
                ).scalar()
        return found

    def messages_before_turn(self, turn_id: int, limit: int, after_id: int = 0) -> list[Message]:
        """Up to `limit` newest messages of earlier turns with id > `after_id`, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE turn_id < :t AND id > :a ORDER BY id DESC LIMIT :n"
                ),
                {"t": turn_id, "a": after_id, "n": limit},
            ).all()
        return [Message(*row) for row in reversed(rows)]

    def messages_between(self, after_id: int, through_id: int | None = None, limit: int = -1) -> list[Message]:
        """Messages with after_id < id <= through_id (no upper bound when None), oldest
        first, at most `limit` (-1: all)."""
        bound = "" if through_id is None else " AND id <= :b"
        most = " LIMIT :n" if limit >= 0 else ""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id > :a{bound} ORDER BY id{most}"),
                {"a": after_id, "b": through_id, "n": limit},
            ).all()
        return [Message(*row) for row in rows]

    def settled_messages_after(self, after_id: int, limit: int = 2000) -> list[Message]:
        """Messages with id > `after_id`, oldest first, up to the first one whose turn is still
        running: a later reader never skips a message a running turn may still be adding to."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT {', '.join('m.' + c.strip() for c in MESSAGE_COLUMNS.split(','))}, t.status"
                    " FROM messages m JOIN turns t ON t.id = m.turn_id WHERE m.id > :a ORDER BY m.id LIMIT :n"
                ),
                {"a": after_id, "n": limit},
            ).all()
        settled = []
        for row in rows:
            if row[-1] == "running":
                break
            settled.append(Message(*row[:-1]))
        return settled

    def turn_messages(self, turn_id: int) -> list[Message]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE turn_id = :t ORDER BY id"), {"t": turn_id}
            ).all()
        return [Message(*row) for row in rows]

    # -- export and import (society/storage/transcript.py) -----------------------------------------

    def export_turns(self) -> list[dict[str, Any]]:
        """Every turn, oldest first, with its messages (all fields but the ids)."""
        with self.engine.connect() as conn:
            turns = conn.execute(
                text("SELECT id, entry_point, status, stop_reason, started_at, ended_at FROM turns ORDER BY id")
            ).all()
            rows = conn.execute(text(f"SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY id")).all()
        by_turn: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            message = Message(*row).to_dict()
            by_turn.setdefault(message.pop("turn_id"), []).append(message)
            message.pop("id")
        return [
            {
                "entry_point": entry_point,
                "status": status,
                "stop_reason": stop_reason,
                "started_at": started_at,
                "ended_at": ended_at,
                "messages": by_turn.get(turn_id, []),
            }
            for turn_id, entry_point, status, stop_reason, started_at, ended_at in turns
            if by_turn.get(turn_id)
        ]

    def has_message(self, role: str, content: str, created_at: str) -> bool:
        """Whether a message with this role, text and time is stored (an import seen before)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM messages WHERE role = :role AND created_at = :at AND content = :content LIMIT 1"),
                {"role": role, "at": created_at, "content": content},
            ).first()
        return found is not None

    def import_turn(self, turn: dict[str, Any], messages: list[dict[str, Any]]) -> int:
        """One exported turn and its messages added in one transaction; the new turn's id. A
        turn that was still running when exported comes in as interrupted."""
        status = turn.get("status") or "done"
        at = now()
        with self.engine.begin() as conn:
            turn_id = conn.execute(
                text(
                    "INSERT INTO turns (status, entry_point, stop_reason, started_at, ended_at)"
                    " VALUES (:status, :entry_point, :stop_reason, :started_at, :ended_at) RETURNING id"
                ),
                {
                    "status": "interrupted" if status == "running" else status,
                    "entry_point": turn.get("entry_point"),
                    "stop_reason": turn.get("stop_reason"),
                    "started_at": turn.get("started_at") or at,
                    "ended_at": turn.get("ended_at") or at,
                },
            ).scalar_one()
            columns = [c.strip() for c in MESSAGE_COLUMNS.split(",") if c.strip() not in ("id", "turn_id")]
            for message in messages:
                row = {column: message.get(column) for column in columns}
                row.update(turn_id=turn_id, kind=row["kind"] or "text", created_at=row["created_at"] or at)
                conn.execute(
                    text(
                        f"INSERT INTO messages (turn_id, {', '.join(columns)})"
                        f" VALUES (:turn_id, {', '.join(':' + c for c in columns)})"
                    ),
                    row,
                )
        return turn_id

    # -- rolling summary ------------------------------------------------------------------

    def latest_summary(self) -> tuple[int, str] | None:
        """(id of the last message it covers, text) of the newest rolling summary."""
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT through_message_id, content FROM summaries ORDER BY id DESC LIMIT 1")
            ).first()
        return (row[0], row[1]) if row else None

    def add_summary(self, through_message_id: int, content: str, model: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO summaries (through_message_id, content, model, created_at) VALUES (:t, :c, :m, :at)"),
                {"t": through_message_id, "c": content, "m": model, "at": now()},
            )

    # -- model calls and fallbacks --------------------------------------------------------

    def record_call(self, **row: Any) -> None:
        row = {
            "turn_id": None,
            "error": None,
            "prompt_tokens": None,
            "completion_tokens": None,
            "latency_ms": None,
            "prompt": None,
            **row,
            "created_at": now(),
        }
        row["ok"] = int(row["ok"])  # an INTEGER column: Postgres takes no bool for it
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO calls (turn_id, role, model, ok, error, prompt_tokens, completion_tokens,"
                    " latency_ms, prompt, created_at) VALUES (:turn_id, :role, :model, :ok, :error,"
                    " :prompt_tokens, :completion_tokens, :latency_ms, :prompt, :created_at)"
                ),
                row,
            )

    def record_fallback(
        self, turn_id: int | None, role: str, from_model: str, to_model: str | None, reason: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO fallbacks (turn_id, role, from_model, to_model, reason, created_at)"
                    " VALUES (:t, :r, :f, :to, :why, :at)"
                ),
                {"t": turn_id, "r": role, "f": from_model, "to": to_model, "why": reason, "at": now()},
            )

    def fallbacks(self, turn_id: int | None = None) -> list[dict[str, Any]]:
        query = "SELECT turn_id, role, from_model, to_model, reason, created_at FROM fallbacks"
        params: dict[str, Any] = {}
        if turn_id is not None:
            query += " WHERE turn_id = :t"
            params["t"] = turn_id
        with self.engine.connect() as conn:
            rows = conn.execute(text(query + " ORDER BY id"), params).mappings().all()
        return [dict(r) for r in rows]

    def calls(self, turn_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = (
                conn.execute(text("SELECT * FROM calls WHERE turn_id = :t ORDER BY id"), {"t": turn_id})
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    # -- team state -----------------------------------------------------------------------

    def save_team_state(self, turn_id: int, state: dict[str, Any]) -> None:
        """Keep the latest team state only: it is derivable, unlike the conversation."""
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO team_state (id, turn_id, state, created_at) VALUES (1, :t, :s, :at)"
                    " ON CONFLICT (id) DO UPDATE"
                    " SET turn_id = excluded.turn_id, state = excluded.state, created_at = excluded.created_at"
                ),
                {"t": turn_id, "s": json.dumps(state, default=str), "at": now()},
            )

    def load_team_state(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT state FROM team_state ORDER BY id DESC LIMIT 1")).first()
        return json.loads(row[0]) if row else None

    # -- figures --------------------------------------------------------------------------

    def stored_figures(self, limit: int = 100_000) -> dict[str, Any]:
        """What the monitoring counters count, as stored: turns by status, the seconds of the
        newest `limit` ended turns, the rewards given and the fallbacks by model. Counters
        start from these, so a restart does not reset them to 0."""
        with self.engine.connect() as conn:
            turns = dict(conn.execute(text("SELECT status, count(*) FROM turns GROUP BY status")).all())
            spans = conn.execute(
                text("SELECT started_at, ended_at FROM turns WHERE ended_at IS NOT NULL ORDER BY id DESC LIMIT :n"),
                {"n": limit},
            ).all()
            rewards = conn.execute(
                text("SELECT reward FROM rewards WHERE reward IS NOT NULL ORDER BY message_id DESC LIMIT :n"),
                {"n": limit},
            ).scalars()
            fallbacks = dict(conn.execute(text("SELECT from_model, count(*) FROM fallbacks GROUP BY from_model")).all())
            seconds = [
                (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
                for started, ended in spans
            ]
            return {"turns": turns, "turn_seconds": seconds, "rewards": list(rewards), "fallbacks": fallbacks}

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            messages = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
            turns = conn.execute(text("SELECT count(*) FROM turns")).scalar_one()
            if is_postgres(conn):
                size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        if not self.url:
            size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {"messages": messages, "turns": turns, "database_bytes": size}
