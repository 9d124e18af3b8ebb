"""Who uses the models next. One call at a time on the machine (an in-process lock, then a
machine-wide file lock: the GPU is the machine's); a server elsewhere takes calls up to its
own room, whatever this machine does (model_servers.py). And the user first: while a turn
is being played, and for QUIET_S after it, background calls (the judge, the rolling summary, memory
work, prompt evolution) wait, and one already running is cancelled and run again once the
conversation is idle. The user's next message never waits behind the judge of the last
answer.

Across processes: while a user's turn plays, its process keeps a marker beside the machine
lock (`<lock>.turn-<pid>`); a call of another process made outside any turn of its own (a
learning cycle's, `society rewards --calibrate`) waits for the marker to go before it takes
the machine lock, so the user's calls never queue behind a run of background calls. A
marker whose process is gone counts for nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from society.models.machine.model_servers import SLOT_POLL_S, THIS_MACHINE, AdvisorySlots, FileSlots, Slot

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")
LOCK_TIMEOUT_S = 900
QUIET_S = 1.5  # background work starts this long after a turn: the user may be about to speak
YIELD_POLL_S = 0.2  # how often a call outside any turn looks whether another process's turn ended


class ModelQueue:
    def __init__(self, lock_path: Path, shared: Engine | None = None):
        """`shared`: the Postgres that every host of a server reaches (remote servers' slots
        are its advisory locks); None on one host (lock files)."""
        from filelock import FileLock

        self._shared = shared
        self._lock_name = lock_path.name
        self._marker = lock_path.with_name(f"{lock_path.name}.turn-{os.getpid()}")
        # thread_local=False: the lock is taken in a worker thread and released in another;
        # mode 0o666: one lock for every user of the machine, as there is one GPU.
        self._machine = FileLock(str(lock_path), thread_local=False, mode=0o666)
        self._turns = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._turn_ended = 0.0
        self._background: set[asyncio.Task] = set()
        self._closing = False  # the process is ending: no next message will come
        self.preempted = 0  # background calls cancelled for the user, for the figures

    @contextmanager
    def turn(self) -> Iterator[None]:
        """The user's turn is being played: background calls wait, a running one yields
        (another process's too: see `_others_playing`)."""
        self._turns += 1
        self._idle.clear()
        if self._turns == 1:
            self._marker.touch()
        for task in list(self._background):
            if not task.done():
                task.cancel()
                self.preempted += 1
        try:
            yield
        finally:
            self._turns -= 1
            if self._turns == 0:
                self._marker.unlink(missing_ok=True)
                self._turn_ended = time.monotonic()
                self._idle.set()

    def _others_playing(self) -> bool:
        """Whether a user's turn plays in another live process of this machine."""
        import psutil

        for marker in self._marker.parent.glob(f"{self._lock_name}.turn-*"):
            pid = marker.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            if psutil.pid_exists(int(pid)) and time.time() - marker.stat().st_mtime < LOCK_TIMEOUT_S:
                return True
            marker.unlink(missing_ok=True)  # its process ended without removing it
        return False

    @asynccontextmanager
    async def model(self, slot: Slot = THIS_MACHINE) -> AsyncIterator[None]:
        """Hold `slot` (this machine's models, or room on a server elsewhere) for one call.
        Waiting holds no thread: a server serving many users' conversations has many calls
        waiting at once, and the few that hold a slot need the worker threads to finish."""
        async with _room(slot):
            if slot.remote and self._shared is not None:
                advisory = AdvisorySlots(slot, self._shared)
                try_once, release, off_loop = (lambda: advisory.try_acquire() or None), advisory.release, True
            elif slot.remote:
                files = FileSlots(slot)
                try_once, release, off_loop = (lambda: files.try_acquire() or None), files.release, False
            else:
                if self._turns == 0:  # not the user's: another process's turn goes first
                    while self._others_playing():
                        await asyncio.sleep(YIELD_POLL_S)
                try_once, release, off_loop = self._try_machine, self._machine.release, False
            held = await _taken(try_once, release, time.monotonic() + LOCK_TIMEOUT_S, off_loop)
            try:
                yield
            finally:
                if held:
                    release()  # at once, even in a task being cancelled

    def _try_machine(self) -> bool | None:
        """Take the machine lock now (True); False (not taken, and not to be) while a
        learning cycle holds the GPU with it: the ladder then offers only CPU rungs, which
        need no lock against it; None: another call holds it."""
        from filelock import Timeout

        from society.models.machine.gpu_claim import claim_of_another

        if claim_of_another():
            return False
        try:
            self._machine.acquire(timeout=0)
        except Timeout:
            return None
        return True

    def closing(self) -> None:
        """The conversation is closing (a headless run's end, Ctrl-C): background work runs
        at once, without waiting for a quiet that only a next message would break."""
        self._closing = True

    @property
    def ending(self) -> bool:
        """Whether the conversation is closing (long optional work should not start)."""
        return self._closing

    async def quiet(self) -> None:
        """Return once no turn has played for QUIET_S: for background work that is no model
        call yet competes for the CPU (memory consolidation's embeddings)."""
        while True:
            await self._idle.wait()
            left = QUIET_S - (time.monotonic() - self._turn_ended)
            if (left <= 0 or self._closing) and self._idle.is_set():
                return
            await asyncio.sleep(max(left, 0.05))

    async def background(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` (one model call, which takes its slot with `model`) when no turn is
        being played; cancelled by a turn that starts meanwhile, waiting for its slot or
        running, it waits for the turn to end and runs again."""
        while True:
            await self.quiet()
            task = asyncio.ensure_future(work())  # no await since quiet(): no turn began
            self._background.add(task)
            try:
                return await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    task.cancel()
                    raise  # this caller itself is being cancelled
                continue  # preempted by the user: again, once the turn is over
            finally:
                self._background.discard(task)


# This process's calls waiting for each slot, whichever conversation makes them (one
# server process serves many users), per event loop.
_ROOMS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = weakref.WeakKeyDictionary()


def _room(slot: Slot) -> asyncio.Semaphore:
    rooms = _ROOMS.setdefault(asyncio.get_running_loop(), {})
    return rooms.setdefault(slot.key, asyncio.Semaphore(slot.capacity))


async def _taken(
    try_once: Callable[[], bool | None], release: Callable[[], object], deadline: float, off_loop: bool
) -> bool:
    """Try a lock every SLOT_POLL_S until `try_once()` says: True (taken), False (go on
    without it); None is "not yet". A try that makes a round trip runs `off_loop`, in a
    worker thread; if its caller is cancelled meanwhile (the user spoke over background work,
    a client went away), what it took is given back, so no process waits on a lock nobody
    holds."""
    while True:
        if off_loop:
            attempt = asyncio.ensure_future(asyncio.to_thread(try_once))
            try:
                got = await asyncio.shield(attempt)
            except asyncio.CancelledError:

                def give_back(done: asyncio.Future) -> None:
                    if not done.cancelled() and done.exception() is None and done.result():
                        release()

                attempt.add_done_callback(give_back)
                raise
        else:
            got = try_once()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {LOCK_TIMEOUT_S} s for a model that stayed busy")
        await asyncio.sleep(SLOT_POLL_S)
