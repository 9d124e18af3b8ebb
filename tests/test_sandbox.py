"""The executor's sandbox, against real bubblewrap: each escape is tried for real."""

import asyncio
import os
import time

import psutil
import pytest

from society.tools import sandbox
from society.tools.approval import Guard, ToolRefused
from society.tools.settings import Limits, ToolSettings
from society.tools.shell import shell_tools
from tests.conftest import json_server

pytestmark = pytest.mark.skipif(sandbox.bwrap() is None, reason="bubblewrap is not installed (.ci/run installs it)")


@pytest.fixture
def settings(tmp_path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return ToolSettings(workspace=workspace, limits=Limits(timeout_s=5))


async def run(command, settings, **kw):
    return await sandbox.run(command, settings, **kw)


async def test_commands_run_in_the_workspace_and_can_write_there(settings):
    result = await run("pwd; echo made > out.txt; cat out.txt", settings)
    assert result.exit_code == 0 and result.sandboxed
    assert str(settings.workspace) in result.output and "made" in result.output
    assert (settings.workspace / "out.txt").read_text() == "made\n"


async def test_writing_outside_the_workspace_is_contained(settings, tmp_path):
    target = tmp_path / "escaped.txt"
    result = await run(f"echo x > {target}; echo y > /usr/escaped; echo z > $HOME/../escaped2; touch /tmp/t", settings)
    assert not target.exists() and not os.path.exists("/usr/escaped")
    assert not (tmp_path / "escaped2").exists()
    assert "Read-only file system" in result.output or "No such file" in result.output


async def test_reading_outside_the_bound_folders_is_contained(settings, tmp_path):
    secret = tmp_path / "secret" / "key.txt"
    secret.parent.mkdir()
    secret.write_text("TOP-SECRET")
    result = await run(f"cat {secret}; ls /root; cat /etc/shadow", settings)
    assert "TOP-SECRET" not in result.output
    assert result.exit_code != 0


async def test_the_network_is_cut_unless_allowed(settings):
    with json_server(lambda method, path: (200, {"ok": True})) as url:
        port = url.rsplit(":", 1)[1]
        probe = (
            f"python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/').read())\""
        )
        cut = await run(probe, settings)
        allowed = await run(probe, settings, network=True)
    assert cut.exit_code != 0 and "ok" not in cut.output
    assert allowed.exit_code == 0 and "ok" in allowed.output


async def test_a_fork_bomb_is_contained(settings):
    before = len(psutil.pids())
    started = time.monotonic()
    result = await run(":(){ :|:& };:", settings, timeout_s=5)
    assert time.monotonic() - started < 20
    await asyncio.sleep(0.5)
    assert len(psutil.pids()) < before + 20, "processes of the bomb outlived the sandbox"
    assert result.process_cap in ("cgroup", "rlimit")


async def test_a_command_that_never_ends_is_killed_with_everything_it_started(settings):
    marker = "sleep 4242"
    started = time.monotonic()
    result = await run(f"({marker} &) ; {marker} & while true; do :; done", settings, timeout_s=2)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 10
    await asyncio.sleep(0.3)
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "4242"]]
    assert leftovers == []
    assert "timed out after 2 s" in result.render()


async def test_huge_output_is_truncated_with_a_note(settings):
    result = await run("seq 1 200000", settings)
    rendered = result.render()
    assert len(rendered) < settings.limits.output_chars + 500
    assert rendered.splitlines()[1] == "1" and rendered.splitlines()[-2] == "200000"
    assert "output truncated" in rendered


async def test_without_bubblewrap_commands_are_refused_unless_allowed(settings, monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    (run_command,) = shell_tools(Guard(settings))
    with pytest.raises(ToolRefused, match="bubblewrap"):
        await run_command.run_json({"command": "echo hi"}, None)
    settings.allow_unsandboxed = True
    # Allowed, but still asked: a headless guard refuses.
    with pytest.raises(ToolRefused, match="approval"):
        await run_command.run_json({"command": "echo hi"}, None)
