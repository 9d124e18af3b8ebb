"""The database engine, by URL: the SQLite file in the data folder (the default), or a
Postgres server (`SOCIETY_DATABASE_URL=postgresql+psycopg://...`) that several processes,
hosts and users share. Migrations run on open, on either.

SQLite: several processes (terminal, web page, API, headless runs) write the same file; WAL
lets readers go on while one writer commits, and BEGIN IMMEDIATE takes the write lock up
front so two writers queue instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

from society.errors import SocietyError, UnavailableError
from society.storage.migrations import migrate

BUSY_TIMEOUT_S = 30
DATABASE_URL_ENV = "SOCIETY_DATABASE_URL"

_engines: dict[str, Engine] = {}


class DatabaseDamaged(SocietyError):
    """The conversation's database cannot be read; it is left exactly as it is."""

    http_status = 500


def database_url() -> str | None:
    """The configured server database (`SOCIETY_DATABASE_URL`), or None for the SQLite file."""
    return os.environ.get(DATABASE_URL_ENV) or None


def database_schema() -> str | None:
    """On a server database, the schema of the user being served (their tables, apart from
    every other user's); None for the single-user default (the public schema)."""
    from society.paths import current_user

    user = current_user()
    return f"user_{user}" if user else None


def is_postgres(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


def _set_aside_if_empty(path: Path) -> None:
    """A 0-byte database (a crash while the file was created, a failed copy) would silently
    become a new, empty conversation: keep the empty file aside and say so."""
    if path.exists() and path.is_file() and path.stat().st_size == 0:
        aside = path.with_name(f"{path.name}.empty-{int(time.time())}")
        path.rename(aside)
        print(
            f"society: warning: {path} was empty (0 bytes); kept as {aside.name}, starting a new one", file=sys.stderr
        )


def _sqlite_engine(path: Path) -> Engine:
    if path.is_dir():
        raise DatabaseDamaged(f"{path} is a folder, not the conversation's database; move it aside")
    _set_aside_if_empty(path)
    engine = create_engine(f"sqlite:///{path.resolve()}", connect_args={"timeout": BUSY_TIMEOUT_S})

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

    return engine


def _server_engine(url: str, schema: str | None) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SocietyError(f"{DATABASE_URL_ENV} is not a URL; write postgresql+psycopg://user@host/db") from None
    if parsed.get_backend_name() != "postgresql":
        raise SocietyError(f"{DATABASE_URL_ENV} names {parsed.get_backend_name()}; use postgresql+psycopg://...")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the one installed
    # pre_ping: a server restarted under a long-running page is reconnected, not an error.
    # A user's schema alone on the search path: their tables, and no other user's by mistake.
    options = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(parsed, pool_pre_ping=True, connect_args=options)


def engine_for(path: Path | None = None, url: str | None = None, schema: str | None = None) -> Engine:
    """One engine per database per process, migrated to the latest schema: the server at
    `url` when given (in `schema`, a user's, when given), else the SQLite file at `path`. A
    damaged database is one line (DatabaseDamaged) and is never changed."""
    key = f"{url}#{schema or ''}" if url else str(Path(path).resolve())
    if key in _engines:
        return _engines[key]
    try:
        if url:
            engine = _server_engine(url, schema)
            migrate(engine, schema)
        else:
            # Opening a new file, one process at a time: another would take the file a first
            # process has just created, still empty, for a damaged one and move it aside.
            from filelock import FileLock

            with FileLock(f"{key}.lock", mode=0o666):
                engine = _sqlite_engine(Path(path))
                migrate(engine)
    except DatabaseError as err:
        engine.dispose()
        reason = str(err.orig).strip().splitlines()[0] if err.orig else type(err).__name__
        if url and isinstance(err, OperationalError):  # refused, unknown host or database, wrong password
            raise UnavailableError(f"cannot reach the database at {engine.url.render_as_string()} ({reason})") from None
        raise DatabaseDamaged(
            f"the database {url and engine.url.render_as_string() or path} cannot be read ({reason}); it is left"
            " as it is: move it aside to start a new conversation, or restore a copy"
        ) from None
    _engines[key] = engine
    return engine


def forget_engine(url: str) -> None:
    """Close and drop the engines of `url`, every schema's (a test's throwaway database
    before it is dropped)."""
    for key in [k for k in _engines if k.partition("#")[0] == url]:
        _engines.pop(key).dispose()


def reserve_ids(conn: Connection, table: str, count: int) -> list[int]:
    """`count` new ids for rows of `table` inserted with explicit ids (many at once). SQLite:
    after the largest (the write lock is held: BEGIN IMMEDIATE); Postgres: from the table's
    identity sequence, so concurrent writers never take the same ids."""
    if is_postgres(conn):
        rows = conn.execute(
            text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"), {"n": count}
        )
        return [row[0] for row in rows]
    first = (conn.execute(text(f"SELECT max(id) FROM {table}")).scalar() or 0) + 1
    return list(range(first, first + count))
