"""Who uses the models next. One call at a time on the machine (an in-process lock, then a
machine-wide file lock: the GPU is the machine's), and the user first: while a turn is being
played, and for QUIET_S after it, background calls (the judge, the rolling summary, memory
work, prompt evolution) wait, and one already running is cancelled and run again once the
conversation is idle. The user's next message never waits behind the judge of the last
answer.

Preemption reaches calls of this process; another process's background work (a learning
cycle) only shares the machine lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
LOCK_TIMEOUT_S = 900
QUIET_S = 1.5  # background work starts this long after a turn: the user may be about to speak


class ModelQueue:
    def __init__(self, lock_path: Path):
        from filelock import FileLock

        self._local = asyncio.Lock()
        # thread_local=False: the lock is taken in a worker thread and released in another;
        # mode 0o666: one lock for every user of the machine, as there is one GPU.
        self._machine = FileLock(str(lock_path), thread_local=False, mode=0o666)
        self._turns = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._turn_ended = 0.0
        self._background: asyncio.Task | None = None
        self._closing = False  # the process is ending: no next message will come
        self.preempted = 0  # background calls cancelled for the user, for the figures

    @contextmanager
    def turn(self) -> Iterator[None]:
        """The user's turn is being played: background calls wait, a running one yields."""
        self._turns += 1
        self._idle.clear()
        if self._background is not None and not self._background.done():
            self._background.cancel()
            self.preempted += 1
        try:
            yield
        finally:
            self._turns -= 1
            if self._turns == 0:
                self._turn_ended = time.monotonic()
                self._idle.set()

    @asynccontextmanager
    async def model(self) -> AsyncIterator[None]:
        """Hold the models for one call of the user's turn."""
        async with self._local:
            held = await asyncio.to_thread(self._acquire)
            try:
                yield
            finally:
                if held:
                    self._machine.release()

    def _acquire(self) -> bool:
        """Take the machine lock; False (not taken) while a learning cycle holds the GPU
        with it: the ladder then offers only CPU rungs, which need no lock against it."""
        from filelock import Timeout

        from society.gpu_claim import claim_of_another

        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            if claim_of_another():
                return False
            try:
                self._machine.acquire(timeout=1.0)
                return True
            except Timeout:
                if time.monotonic() > deadline:
                    raise

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
        """Run `work` (one model call) when no turn is being played; cancelled by a turn
        that starts meanwhile, it waits for the turn to end and runs again."""
        while True:
            await self.quiet()
            async with self.model():
                if not self._idle.is_set():
                    continue  # a turn started while this call waited for the lock
                task = asyncio.ensure_future(work())
                self._background = task
                try:
                    return await task
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise  # this caller itself is being cancelled
                    continue  # preempted by the user: again, once the turn is over
                finally:
                    self._background = None
