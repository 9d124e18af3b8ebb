"""The conversation's turn lock: turns from different doors (terminal, page, API, headless
runs) and different processes never interleave. On the SQLite file it is a file lock beside
it; on a Postgres server, which processes on several hosts share, a session advisory lock
on a connection of its own: the server frees it when the holder's connection ends, so a
killed process never leaves it taken."""

from __future__ import annotations

import zlib

from sqlalchemy import func, select

from society.paths import turn_lock_path
from society.storage.store import Store

# Advisory locks are named by a 64-bit number, per database.
TURN_LOCK_KEY = zlib.crc32(b"society: the conversation's turn")


class FileTurnLock:
    def __init__(self) -> None:
        from filelock import FileLock

        self._lock = FileLock(str(turn_lock_path()), thread_local=False)

    def try_acquire(self) -> bool:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()


class AdvisoryTurnLock:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._conn = None
        # One conversation per user: each user's turns are serialized, not everyone's.
        self._key = TURN_LOCK_KEY ^ zlib.crc32((store.schema or "").encode())

    def try_acquire(self) -> bool:
        conn = self._engine.connect()
        got = conn.execute(select(func.pg_try_advisory_lock(self._key))).scalar_one()
        conn.commit()  # the lock is the session's, not the transaction's: held until released
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute(select(func.pg_advisory_unlock(self._key)))
                conn.commit()
            finally:
                conn.close()


def turn_lock(store: Store) -> FileTurnLock | AdvisoryTurnLock:
    return AdvisoryTurnLock(store) if store.url else FileTurnLock()
