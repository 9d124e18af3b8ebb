"""Who uses the models next. One call at a time on the machine (an in-process lock, then a
machine-wide file lock: the GPU is the machine's); a server elsewhere takes calls up to its
own room, whatever this machine does (society/model_servers.py). And the user first: while a turn is being
played, and for QUIET_S after it, background calls (the judge, the rolling summary, memory
work, prompt evolution) wait, and one already running is cancelled and run again once the
conversation is idle. The user's next message never waits behind the judge of the last
answer.

Preemption reaches calls of this process; another process's background work (a learning
cycle) only shares the machine lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from society.model_servers import SLOT_POLL_S, THIS_MACHINE, AdvisorySlots, FileSlots, Slot

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")
LOCK_TIMEOUT_S = 900
QUIET_S = 1.5  # background work starts this long after a turn: the user may be about to speak


class ModelQueue:
    def __init__(self, lock_path: Path, shared: Engine | None = None):
        """`shared`: the Postgres that every host of a server reaches (remote servers' slots
        are its advisory locks); None on one host (lock files)."""
        from filelock import FileLock

        self._shared = shared
        self._in_process: dict[str, asyncio.Semaphore] = {}
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
        """The user's turn is being played: background calls wait, a running one yields."""
        self._turns += 1
        self._idle.clear()
        for task in list(self._background):
            if not task.done():
                task.cancel()
                self.preempted += 1
        try:
            yield
        finally:
            self._turns -= 1
            if self._turns == 0:
                self._turn_ended = time.monotonic()
                self._idle.set()

    @asynccontextmanager
    async def model(self, slot: Slot = THIS_MACHINE) -> AsyncIterator[None]:
        """Hold `slot` (this machine's models, or room on a server elsewhere) for one call."""
        waiting = self._in_process.setdefault(slot.key, asyncio.Semaphore(slot.capacity))
        async with waiting:
            if slot.remote:
                slots = AdvisorySlots(slot, self._shared) if self._shared is not None else FileSlots(slot)
                acquire, release = slots.acquire, slots.release
            else:
                acquire, release = self._acquire, self._machine.release
            held = await _taken(acquire, release, time.monotonic() + LOCK_TIMEOUT_S)
            try:
                yield
            finally:
                if held:
                    release()  # at once, even in a task being cancelled

    def _acquire(self, deadline: float, stop: threading.Event) -> bool:
        """Take the machine lock; False (not taken) while a learning cycle holds the GPU
        with it (the ladder then offers only CPU rungs, which need no lock against it), or
        once the caller gave up (`stop`)."""
        from filelock import Timeout

        from society.gpu_claim import claim_of_another

        while not stop.is_set():
            if claim_of_another():
                return False
            try:
                self._machine.acquire(timeout=SLOT_POLL_S)
                return True
            except Timeout:
                if time.monotonic() > deadline:
                    raise
        return False

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


async def _taken(
    acquire: Callable[[float, threading.Event], bool], release: Callable[[], object], deadline: float
) -> bool:
    """`acquire(deadline, stop)` in a worker thread: whether it took the lock. A caller
    cancelled while it waits (the user spoke over background work, a client went away)
    leaves at once: the thread stops polling, and what it took meanwhile is given back, so
    no process waits on a lock nobody holds."""
    stop = threading.Event()
    waiting = asyncio.ensure_future(asyncio.to_thread(acquire, deadline, stop))
    try:
        return await asyncio.shield(waiting)
    except asyncio.CancelledError:
        stop.set()

        def give_back(done: asyncio.Future) -> None:
            if not done.cancelled() and done.exception() is None and done.result():
                release()

        waiting.add_done_callback(give_back)
        raise
