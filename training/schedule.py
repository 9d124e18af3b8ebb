"""The learning cycle starts by itself every `every_interactions` turns: `society learn` in a
separate process at low CPU priority, so the conversation never waits for it (the model lock
is taken only by the chat; training runs on its own copy of the base model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

from society.listeners import TurnEvent, TurnListener
from society.paths import USER_ENV, current_user, data_dir
from society.storage.store import Store

STATE = "learning-state.json"


def _state() -> dict:
    path = data_dir() / STATE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def running(state: dict) -> bool:
    import psutil  # not os.kill(pid, 0): on Windows that sends Ctrl+C to the console

    pid = state.get("pid")
    if not pid:
        return False
    try:
        # A cycle this process started and nobody waited for stays a zombie once it ends: that
        # is not running (it read as running for good, and no cycle ever started again).
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # gone, or another user's
        return psutil.pid_exists(pid)


def low_priority() -> dict:
    """Popen arguments for a background process that yields to the chat: its own session
    and `nice 10` on POSIX, a new process group below normal priority on Windows (which has
    no preexec_fn)."""
    if hasattr(os, "nice"):
        return {"start_new_session": True, "preexec_fn": lambda: os.nice(10)}
    flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(subprocess, "BELOW_NORMAL_PRIORITY_CLASS", 0)
    return {"creationflags": flags}


def _write_state(state: dict) -> None:
    path = data_dir() / STATE
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(state), encoding="utf-8")
    partial.replace(path)


def record_outcome(ok: bool, what: str) -> None:
    """Keep how the last cycle ended (`what`: what it deployed, or its error in one line),
    for `society status`, the page's monitoring panel and `society lineage`."""
    import time

    state = _state()
    state["last"] = {"ok": ok, "what": " ".join(what.split())[:300], "at": time.strftime("%Y-%m-%d %H:%M")}
    _write_state(state)


def last_line() -> str | None:
    """One line on how the last learning cycle ended, or None before the first."""
    state = _state()
    last = state.get("last")
    if running(state):
        return f"learning: a cycle is running (pid {state['pid']}, log: learning.log)"
    if not last:
        return None
    if last["ok"]:
        return f"learning: last cycle {last['at']}: {last['what']}"
    return f"learning: last cycle FAILED {last['at']}: {last['what']} (details: learning.log)"


def maybe_start(turns_done: int, every: int, command: list[str] | None = None) -> int | None:
    """Start a cycle when `every` turns have passed since the last one; its pid, or None."""
    state = _state()
    if every <= 0 or turns_done - state.get("at_turn", 0) < every or running(state):
        return None
    log = open(data_dir() / "learning.log", "ab")  # noqa: SIM115 - the child process owns it
    # The cycle learns from, and for, the user whose conversation this is (a shared server).
    user = {USER_ENV: current_user()} if current_user() else {}
    process = subprocess.Popen(
        command or [sys.executable, "-m", "society.cli", "learn"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **user},
        **low_priority(),
    )
    _write_state({**state, "at_turn": turns_done, "pid": process.pid})
    return process.pid


class LearningListener(TurnListener):
    """Every `every_interactions` turns (learning.json) a learning cycle starts in its own
    process; SOCIETY_LEARN=0 turns that off (the tests do)."""

    def __init__(self, store: Store, notify: Callable[[str], None]):
        self.store = store
        self.notify = notify

    async def turn_ended(self, event: TurnEvent) -> None:
        if event.status != "done" or os.environ.get("SOCIETY_LEARN", "1") == "0":
            return
        from training.settings import load_settings

        pid = maybe_start(self.store.counts()["turns"], load_settings().every_interactions)
        if pid:
            self.notify(f"learning cycle started in the background (pid {pid}, log: learning.log)")
