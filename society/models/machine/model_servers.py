"""Where a model runs, and how many calls it takes at once.

A rung on this machine (the embedded model, a server whose list entry gives no card of its
own) shares this machine's GPU and CPU with every other: one call at a time across all its
processes (model.lock). A rung on a server elsewhere (a household's GPU box, a vLLM host;
its entry says its card's memory, `server_vram_mb`) has its own card: calls to it serialize per
server, not per machine, and a server that queues its own requests (Ollama with
OLLAMA_NUM_PARALLEL, vLLM's batches) gets up to `parallel` calls at once. Across processes
the slots are file locks on one host, or advisory locks on a shared Postgres, which every
host of a household server reaches.
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from society.models.config import ModelEntry

LOCAL = "local"
SLOT_POLL_S = 0.05  # how often a waiting call tries its slot again


@dataclass(frozen=True)
class Slot:
    """What a call waits for: this machine ("local", one call at a time, model.lock) or one
    server elsewhere (its URL) with room for `capacity` calls at once."""

    key: str
    capacity: int = 1

    @property
    def remote(self) -> bool:
        return self.key != LOCAL


THIS_MACHINE = Slot(LOCAL)


def server_of(entry: ModelEntry) -> str | None:
    """`scheme://host:port` of the server behind `entry`; None for the embedded model."""
    if entry.kind.in_process or not entry.base_url:
        return None
    split = urlsplit(entry.base_url)
    port = split.port or (443 if split.scheme == "https" else 80)
    host = split.hostname or ""
    return f"{split.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def is_remote(entry: ModelEntry) -> bool:
    """Whether `entry` runs on another machine's GPU: its list entry says how much memory
    that card has (`server_vram_mb`). Said, not guessed from the address: a sibling Docker
    container (http://ollama:11434) shares this machine's card, and an SSH tunnel makes a
    GPU box elsewhere look like localhost."""
    return entry.server_vram_mb is not None and server_of(entry) is not None


def slot_for(entry: ModelEntry, entries: list[ModelEntry]) -> Slot:
    """The slot a call to `entry` takes; a remote server's room is the largest `parallel`
    any entry on it declares (one server, one queue)."""
    if not is_remote(entry):
        return Slot(LOCAL)
    server = server_of(entry)
    capacity = max((e.parallel for e in entries if server_of(e) == server), default=1)
    return Slot(str(server), max(1, capacity))


class FileSlots:
    """A server's slots across this host's processes: one lock file per slot."""

    def __init__(self, slot: Slot):
        from filelock import FileLock

        name = f"society-server-{zlib.crc32(slot.key.encode()):08x}"
        folder = Path(tempfile.gettempdir())
        self._locks = [
            FileLock(str(folder / f"{name}-{i}.lock"), thread_local=False, mode=0o666) for i in range(slot.capacity)
        ]
        self._held = None

    def try_acquire(self) -> bool:
        """Take a free slot now (a non-blocking lock: cheap enough for the event loop)."""
        from filelock import Timeout

        for lock in self._locks:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            self._held = lock
            return True
        return False

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()


class AdvisorySlots:
    """A server's slots across hosts: session advisory locks (server, slot) on the shared
    Postgres, each on a connection of its own, freed by the server if a holder dies."""

    def __init__(self, slot: Slot, engine: Engine):
        self._engine = engine
        self._server = zlib.crc32(slot.key.encode()) - 2**31  # the first key is a signed int4
        self._capacity = slot.capacity
        self._held = None

    def try_acquire(self) -> bool:
        """Take a free slot now (one round trip per slot; run it off the event loop)."""
        from sqlalchemy import func, select

        conn = self._engine.connect()
        for index in range(self._capacity):
            args = {"server": self._server, "slot": index}
            if conn.execute(select(func.pg_try_advisory_lock(args["server"], args["slot"]))).scalar_one():
                conn.commit()  # the lock is the session's: held until released
                self._held = (conn, args)
                return True
        conn.close()
        return False

    def release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        conn, args = held
        from sqlalchemy import func, select

        try:
            conn.execute(select(func.pg_advisory_unlock(args["server"], args["slot"])))
            conn.commit()
        finally:
            conn.close()
