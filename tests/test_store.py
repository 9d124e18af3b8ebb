"""The conversation log: migrations, several writers at once, and a process killed mid-turn."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import create_engine, text

from society.storage.migrations import MIGRATIONS, migrate
from society.storage.store import Store
from tests.conftest import ROOT, society


def test_migrations_apply_once_on_an_empty_database(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert migrate(engine) == [m.__name__ for m in MIGRATIONS]
    assert migrate(engine) == []
    with engine.connect() as conn:
        tables = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert {"turns", "messages", "summaries", "calls", "fallbacks", "team_state", "_migrations"} <= tables


def test_database_uses_write_ahead_logging():
    store = Store()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


WRITER = textwrap.dedent(
    """
    import sys
    from society.storage.store import Store
    store = Store()
    for i in range(200):
        turn = store.begin_turn(f"{sys.argv[1]} says {i}", "test")
        store.add_message(turn.turn_id, "planner", f"answer {i} to {sys.argv[1]}")
        store.end_turn(turn.turn_id, "done")
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path, database):
    Store()  # migrate first, as any entry point does on start
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name], cwd=ROOT) for name in ("alice", "bob")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    store = Store()
    counts = store.counts()
    assert (counts["messages"], counts["turns"]) == (800, 400)
    for name in ("alice", "bob"):
        contents = [m.content for m in store.last_messages(800) if m.content.startswith(name)]
        assert contents == [f"{name} says {i}" for i in range(200)]


def test_processes_opening_a_new_database_at_once_migrate_it_once(database):
    opener = "from society.storage.store import Store; Store().begin_turn('hello', 'test')"
    openers = [subprocess.Popen([sys.executable, "-c", opener], cwd=ROOT) for _ in range(3)]
    assert [p.wait(timeout=120) for p in openers] == [0, 0, 0]
    with Store().engine.connect() as conn:
        names = [row[0] for row in conn.execute(text("SELECT name FROM _migrations"))]
    assert sorted(names) == sorted(m.__name__ for m in MIGRATIONS)
    assert Store().counts()["turns"] == 3


def test_process_killed_mid_turn_loses_no_acknowledged_message(tmp_path, database):
    """SIGKILL a real `society chat` while the embedded model works on a second turn."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    chat = subprocess.Popen(
        [sys.executable, "-m", "society.cli", "chat"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    chat.stdin.write("Say hello.\n")
    chat.stdin.flush()
    store = Store()
    deadline = time.time() + 240
    while time.time() < deadline and store.counts()["messages"] < 2:  # first turn answered
        time.sleep(0.1)
    assert store.counts()["messages"] >= 2, "the first turn was never answered"
    chat.stdin.write("Write a long story about a cat.\n")
    chat.stdin.flush()
    while time.time() < deadline and store.counts()["messages"] < 3:
        time.sleep(0.02)
    chat.send_signal(signal.SIGKILL)
    chat.wait(timeout=30)

    history = json.loads(society("history", "--json", "--last", "10", cwd=tmp_path).stdout)
    contents = [m["content"] for m in history]
    assert contents[0] == "Say hello." and history[1]["role"] == "planner"
    assert "Write a long story about a cat." in contents
    second_turn = next(m["turn_id"] for m in history if m["content"].startswith("Write a long story"))
    assert Store().turn_status(second_turn) == "running"  # killed before it could finish
    # The next process marks the killed turn as interrupted and continues the conversation.
    assert Store().mark_interrupted_turns() == [second_turn]
    assert Store().turn_status(second_turn) == "interrupted"
    assert contents.count("Say hello.") == 1  # nothing written twice either


def test_a_turn_is_interrupted_when_its_process_is_gone_here_or_its_lease_ran_out_elsewhere(database):
    from datetime import UTC, datetime, timedelta

    from society.storage import store as store_module

    store = Store()
    mine = store.begin_turn("asked here", "test").turn_id
    elsewhere = store.begin_turn("asked on another host", "test").turn_id
    gone = store.begin_turn("asked by a process that died", "test").turn_id
    old = (datetime.now(UTC) - timedelta(seconds=store_module.LEASE_S + 5)).isoformat()
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE turns SET host = 'elsewhere', pid = 1 WHERE id = :id"), {"id": elsewhere})
        conn.execute(text("UPDATE turns SET pid = 999999999 WHERE id = :id"), {"id": gone})
    assert store.mark_interrupted_turns() == [gone]  # another host's live lease is its own business
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE turns SET heartbeat_at = :old WHERE id = :id"), {"old": old, "id": elsewhere})
    assert store.mark_interrupted_turns() == [elsewhere]
    with store.engine.begin() as conn:  # a live process here keeps its turn, beat or not
        conn.execute(text("UPDATE turns SET heartbeat_at = :old WHERE id = :id"), {"old": old, "id": mine})
    assert store.mark_interrupted_turns() == []
    store.renew_lease(mine)
    assert store.turn_status(mine) == "running"


def test_the_turn_lock_is_held_by_one_holder_at_a_time(database):
    from society.turn_lock import AdvisoryTurnLock, FileTurnLock, turn_lock

    store = Store()
    first, second = turn_lock(store), turn_lock(store)
    assert isinstance(first, AdvisoryTurnLock if database == "postgres" else FileTurnLock)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
