"""Native Windows: every entry point starts without what Windows lacks (`resource`, `fcntl`,
`os.fork`, `os.kill(pid, 0)`, `preexec_fn`), as tests/windows_like.py takes them away, and
the executor's commands are refused in one line there instead of failing oddly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from society.storage.store import Store
from tests.conftest import ROOT, chat_completion, recording_server, write_config

pytestmark = pytest.mark.slow


def windows_like(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.windows_like", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )


def test_every_module_imports_without_posix_only_modules():
    done = windows_like("--import-all")
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[1]) > 80


def test_help_status_and_a_turn_run_there(tmp_path, monkeypatch):
    assert windows_like("--help").returncode == 0
    with recording_server(lambda method, path, body: (200, chat_completion("Hello from the stand-in."))) as (
        url,
        received,
    ):
        write_config(tmp_path / "m.json", [{"model": "stand-in", "api_type": "openai", "base_url": url}], monkeypatch)
        # A turn a killed process left running: finding it dead asked os.kill(pid, 0) before.
        store = Store()
        stale = store.begin_turn("a question from a killed run", "cli").turn_id
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE turns SET pid = 2147480000 WHERE id = :id"), {"id": stale})
        store.engine.dispose()
        status = windows_like("status")
        assert status.returncode == 0, status.stderr[-3000:]
        assert "stand-in" in status.stdout
        said = windows_like("run", "hello")
        assert said.returncode == 0, said.stderr[-3000:]
        assert "Hello from the stand-in." in said.stdout
    assert any(r["path"].endswith("/chat/completions") and r["body"]["messages"] for r in received)
    with Store().engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM turns WHERE id = :id"), {"id": stale}).scalar() == "interrupted"


def test_background_learning_starts_without_preexec_fn():
    code = (
        "import sys, tests.windows_like; from training.schedule import maybe_start; "
        "pid = maybe_start(10, 5, [sys.executable, '-c', 'pass']); print('started', pid)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0 and done.stdout.startswith("started "), done.stderr[-2000:]


async def test_commands_are_refused_in_one_line_where_there_is_no_posix(tmp_path, monkeypatch):
    from society.tools import sandbox
    from society.tools.approval import Guard, ToolRefused
    from society.tools.settings import ToolSettings
    from society.tools.shell import shell_tools

    monkeypatch.setattr(sandbox, "posix", lambda: False)
    (run_command,) = shell_tools(Guard(ToolSettings(workspace=tmp_path, allow_unsandboxed=True)))
    with pytest.raises(ToolRefused, match="WSL2"):
        await run_command.run_json({"command": "ls"}, None)
