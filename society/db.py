"""The SQLite engine: WAL, `BEGIN IMMEDIATE` writes, a busy timeout, and migrations on open.

Several processes (terminal, web page, API, headless runs) write the same file; WAL lets
readers go on while one writer commits, and BEGIN IMMEDIATE takes the write lock up front so
two writers queue instead of failing half-way with "database is locked".
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from society.migrations import migrate

BUSY_TIMEOUT_S = 30

_engines: dict[str, Engine] = {}


def engine_for(path: Path) -> Engine:
    """One engine per database file per process, migrated to the latest schema."""
    key = str(path.resolve())
    if key in _engines:
        return _engines[key]
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

    migrate(engine)
    _engines[key] = engine
    return engine
