"""The SQLite engine: WAL, `BEGIN IMMEDIATE` writes, a busy timeout, and migrations on open.

Several processes (terminal, web page, API, headless runs) write the same file; WAL lets
readers go on while one writer commits, and BEGIN IMMEDIATE takes the write lock up front so
two writers queue instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DatabaseError

from society.errors import SocietyError
from society.migrations import migrate

BUSY_TIMEOUT_S = 30

_engines: dict[str, Engine] = {}


class DatabaseDamaged(SocietyError):
    """The conversation's database cannot be read; it is left exactly as it is."""

    http_status = 500


def _set_aside_if_empty(path: Path) -> None:
    """A 0-byte database (a crash while the file was created, a failed copy) would silently
    become a new, empty conversation: keep the empty file aside and say so."""
    if path.exists() and path.is_file() and path.stat().st_size == 0:
        aside = path.with_name(f"{path.name}.empty-{int(time.time())}")
        path.rename(aside)
        print(
            f"society: warning: {path} was empty (0 bytes); kept as {aside.name}, starting a new one", file=sys.stderr
        )


def engine_for(path: Path) -> Engine:
    """One engine per database file per process, migrated to the latest schema; a damaged
    file is one line (DatabaseDamaged) and is never changed."""
    key = str(path.resolve())
    if key in _engines:
        return _engines[key]
    if path.is_dir():
        raise DatabaseDamaged(f"{path} is a folder, not the conversation's database; move it aside")
    _set_aside_if_empty(path)
    engine = create_engine(f"sqlite:///{key}", connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (SQLAlchemy's
        # documented recipe for pysqlite), so that we can begin them IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed message survives a crash
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        migrate(engine)
    except DatabaseError as err:
        engine.dispose()
        reason = str(err.orig).splitlines()[0] if err.orig else type(err).__name__
        raise DatabaseDamaged(
            f"the database {path} cannot be read ({reason}); it is left as it is: move it aside to start a new "
            "conversation, or restore a copy"
        ) from None
    _engines[key] = engine
    return engine
