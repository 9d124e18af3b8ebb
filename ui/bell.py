"""Live page updates across workers and hosts: on a Postgres server every stored message is
announced (NOTIFY, society/storage/store.py), and one thread per process LISTENs and wakes the pages
following that conversation, so a message said through another worker, host or door shows
at once. The pages still poll the database (ui/app.py follow): on SQLite, and while the
server is being reconnected, that is what shows new messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from society.storage.store import MESSAGES_CHANNEL, Store

RECONNECT_S = 2.0


class Bell:
    """One LISTEN connection per process and database; `wait` returns when a message of the
    given conversation is stored, or after `timeout`."""

    def __init__(self, store: Store):
        # psycopg's own URL form (SQLAlchemy's names the driver in the scheme).
        self._dsn = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._waiting: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._listen, name="society-bell", daemon=True).start()

    async def wait(self, conversation: str, timeout: float) -> None:
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiting.setdefault(conversation, set()).add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            with self._lock:
                self._waiting.get(conversation, set()).discard(waiter)

    def _listen(self) -> None:
        import psycopg

        while True:
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {MESSAGES_CHANNEL}")
                    for note in conn.notifies():
                        with self._lock:
                            waiters = list(self._waiting.get(note.payload, ()))
                        for loop, event in waiters:
                            loop.call_soon_threadsafe(event.set)
            except psycopg.Error:
                time.sleep(RECONNECT_S)  # the server restarts: the pages' polling covers meanwhile


_bells: dict[str, Bell] = {}


async def next_message(store: Store, timeout: float) -> None:
    """Return when a message may have been stored in `store`'s conversation: announced by the
    server at once, else after `timeout` (SQLite: the page polls)."""
    if not store.url:
        await asyncio.sleep(timeout)
        return
    bell = _bells.get(store.url)
    if bell is None:
        bell = _bells[store.url] = Bell(store)
    await bell.wait(store.schema or "", timeout)
