"""Attack suite, file tools: paths a compromised model would give `read_file`, `write_file`,
`edit_file` and `list_dir`, including races against a process swapping folders and files for
symlinks while the tool runs. Each case is one attempt with its expected outcome.

Classes (docs/security.md): 4 FIFOs and devices, 5 check-then-open races, 6 VCS metadata and
start-up files, 9 policy leaks, plus the path tricks that were already blocked."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from society.tools.approval import Guard, allow_all, refuse_all
from society.tools.files import edit_grounder, file_tools
from society.tools.settings import ToolSettings

RACE_TRIES = 1500  # per race; each try is one tool call against a live swapper


@pytest.fixture
def workspace(tmp_path):
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("HOST-SECRET\n")
    (folder / "host-only-name").write_text("x")
    return folder


def tools(workspace, approver=None, **settings):
    guard = Guard(ToolSettings(workspace=workspace, **settings), approver or refuse_all)
    return {tool.name: tool for tool in file_tools(guard)}


async def call(tool, **arguments):
    return await tool.run_json(arguments, None)


async def outcome(tool, **arguments) -> str:
    """The result text, or the refusal as 'refused: ...'."""
    try:
        return await call(tool, **arguments)
    except (OSError, ValueError) as err:
        return f"refused: {err}"


# -- path tricks that were blocked and must stay so ---------------------------------------------

PATH_TRICKS = {
    "dotdot": "../outside/secret.txt",
    "dotdot_deep": "a/b/../../../outside/secret.txt",
    "absolute": "{outside}/secret.txt",
    "home": "~/.bashrc",
    "etc": "/etc/passwd",
    "nul": "secret.txt\x00.txt",
    "empty": "",
    "proc_self": "/proc/self/environ",
}


@pytest.mark.parametrize("name", PATH_TRICKS)
async def test_path_tricks_are_refused_for_every_tool(name, workspace, outside):
    box = tools(workspace)
    path = PATH_TRICKS[name].format(outside=outside)
    for tool, extra in (("read_file", {}), ("write_file", {"content": "x"}), ("list_dir", {})):
        result = await outcome(box[tool], path=path, **extra)
        assert result.startswith("refused"), (tool, result)
        assert "HOST-SECRET" not in result
    assert (outside / "secret.txt").read_text() == "HOST-SECRET\n"


async def test_unicode_look_alikes_stay_inside_the_workspace(workspace, outside):
    box = tools(workspace)
    await outcome(box["write_file"], path="\uff0e\uff0e/outside/secret.txt", content="x")  # full-width dots
    await outcome(box["write_file"], path="\u2025/outside/secret.txt", content="x")  # two-dot leader
    assert (outside / "secret.txt").read_text() == "HOST-SECRET\n"


async def test_a_very_long_name_is_an_error_not_a_crash(workspace):
    result = await outcome(tools(workspace)["write_file"], path="a" * 4000, content="x")
    assert result.startswith("refused")


@pytest.mark.parametrize("planted", ["dir_link", "file_link", "dangling_link", "link_in_middle"])
async def test_planted_symlinks_are_never_followed(planted, workspace, outside):
    links = {
        "dir_link": ("d", outside, "d/secret.txt"),
        "file_link": ("f", outside / "secret.txt", "f"),
        "dangling_link": ("n", outside / "new.txt", "n"),
        "link_in_middle": ("m", outside, "m/../workspace/x"),
    }
    name, target, path = links[planted]
    os.symlink(target, workspace / name)
    box = tools(workspace, approver=allow_all)
    for tool, extra in (
        ("read_file", {}),
        ("write_file", {"content": "PWNED"}),
        ("edit_file", {"old_text": "HOST", "new_text": "PWNED"}),
    ):
        result = await outcome(box[tool], path=path, **extra)
        assert result.startswith("refused") and "HOST-SECRET" not in result, (tool, result)
    assert (outside / "secret.txt").read_text() == "HOST-SECRET\n"
    assert not (outside / "new.txt").exists()


async def test_a_hard_link_to_a_host_file_is_neither_read_nor_written_through(workspace, outside):
    os.link(outside / "secret.txt", workspace / "hard.txt")
    box = tools(workspace)
    read = await outcome(box["read_file"], path="hard.txt")
    assert read.startswith("refused") and "HOST-SECRET" not in read
    await outcome(box["edit_file"], path="hard.txt", old_text="HOST", new_text="PWNED")
    await outcome(box["write_file"], path="hard.txt", content="PWNED")
    assert (outside / "secret.txt").read_text() == "HOST-SECRET\n"


async def test_listing_planted_links_does_not_tell_whether_host_paths_exist(workspace, outside):
    os.symlink(outside / "host-only-name", workspace / "exists")
    os.symlink(outside / "no-such-name", workspace / "missing")
    os.symlink(outside, workspace / "folder")
    listing = await call(tools(workspace)["list_dir"], path=".")
    lines = sorted(listing.splitlines()[1:])
    assert lines == [
        "exists (symlink, not followed)",
        "folder (symlink, not followed)",
        "missing (symlink, not followed)",
    ]
    refused = await outcome(tools(workspace)["list_dir"], path="folder")
    assert refused.startswith("refused") and "host-only-name" not in refused


# -- 4. FIFOs and devices ----------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["read_file", "edit_file", "write_file"])
async def test_a_planted_fifo_blocks_nothing(tool, workspace):
    os.mkfifo(workspace / "pipe")
    box = tools(workspace)
    extra = {"read_file": {}, "edit_file": {"old_text": "a", "new_text": "b"}, "write_file": {"content": "x"}}[tool]
    ticks = 0

    async def heartbeat():  # the event loop must stay free while the tool runs
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    started = time.monotonic()
    result = await asyncio.wait_for(outcome(box[tool], path="pipe", **extra), 10)
    beat.cancel()
    assert time.monotonic() - started < 2
    assert result.startswith("refused") and "not a regular file" in result


async def test_a_device_is_not_read(workspace):
    os.mknod(workspace / "zero", 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero (root, as in CI)
    result = await asyncio.wait_for(outcome(tools(workspace)["read_file"], path="zero"), 10)
    assert result.startswith("refused") and "not a regular file" in result


# -- 5. check-then-open races --------------------------------------------------------------------------


class Swapper:
    """Flips `path` between a real folder (or file) and a symlink to `target` as fast as it can."""

    def __init__(self, path: Path, target: Path, real_file: bool = False):
        self.path, self.target, self.real_file = path, target, real_file
        self.stop = threading.Event()
        self.flips = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _make_real(self):
        if self.real_file:
            self.path.write_text("harmless\n")
        else:
            self.path.mkdir()
            (self.path / "secret.txt").write_text("harmless\n")

    def _clear(self):
        if self.path.is_symlink() or self.path.is_file():
            self.path.unlink()
        elif self.path.is_dir():
            shutil.rmtree(self.path)

    def _run(self):
        while not self.stop.is_set():
            try:
                self._clear()
                self._make_real()
                time.sleep(0)
                if self.real_file:
                    self.path.unlink()
                else:
                    for child in self.path.iterdir():
                        child.unlink()
                    self.path.rmdir()
                os.symlink(self.target, self.path)
                time.sleep(0)
                self.path.unlink()
                self.flips += 1
            except OSError:
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


RACES = {
    "read_folder_swap": ("read_file", "d/secret.txt", {}),
    "write_folder_swap": ("write_file", "d/secret.txt", {"content": "PWNED\n"}),
    "edit_folder_swap": ("edit_file", "d/secret.txt", {"old_text": "harmless", "new_text": "PWNED"}),
    "list_folder_swap": ("list_dir", "d", {}),
    "read_file_swap": ("read_file", "f", {}),
    "write_file_swap": ("write_file", "f", {"content": "PWNED\n"}),
    "edit_file_swap": ("edit_file", "f", {"old_text": "harmless", "new_text": "PWNED"}),
}


@pytest.mark.parametrize("resolver", ["openat2", "walk"])
@pytest.mark.parametrize("name", RACES)
async def test_swapping_in_symlinks_while_a_tool_runs_never_leads_out(name, resolver, workspace, outside, monkeypatch):
    """Each race twice: with the kernel's openat2, and with the O_NOFOLLOW walk that kernels
    older than 5.6 get."""
    from society.tools import beneath

    if resolver == "walk":
        monkeypatch.setattr(beneath, "_openat2_works", False)
    else:
        probe = beneath.open_beneath(str(workspace), ".", os.O_RDONLY | beneath.O_DIRECTORY)
        os.close(probe)
        fd = beneath.open_beneath(str(outside), "secret.txt", os.O_RDONLY)
        os.close(fd)
        if beneath._openat2_works is not True:
            pytest.skip("this kernel has no openat2 (the walk variant covers it)")
    tool, path, extra = RACES[name]
    real_file = path == "f"
    target = outside / "secret.txt" if real_file else outside
    box = tools(workspace, approver=allow_all)
    leaked = 0
    with Swapper(workspace / path.split("/")[0], target, real_file=real_file) as swapper:
        for _ in range(RACE_TRIES):
            result = await outcome(box[tool], path=path, **extra)
            leaked += "HOST-SECRET" in result or "host-only-name" in result
    assert swapper.flips > 50, "the swapper did not race"
    assert leaked == 0
    assert (outside / "secret.txt").read_text() == "HOST-SECRET\n"
    assert sorted(p.name for p in outside.iterdir()) == ["host-only-name", "secret.txt"]


# -- 6. VCS metadata and start-up files ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".git/hooks/pre-commit",
        "sub/.git/config",
        ".bashrc",
        ".profile",
        ".envrc",
        ".vscode/tasks.json",
        ".hg/hgrc",
    ],
)
async def test_vcs_metadata_and_start_up_files_need_approval(path, workspace):
    (workspace / ".git").mkdir()
    (workspace / ".git" / "config").write_text("[core]\n")
    headless = tools(workspace)
    for tool, extra in (
        ("write_file", {"content": "[core]\n\tfsmonitor = touch /tmp/pwned\n"}),
        ("edit_file", {"old_text": "[core]", "new_text": "[x]"}),
    ):
        result = await outcome(headless[tool], path=path, **extra)
        assert result.startswith("refused") and "write_protected" in result, result
    assert (workspace / ".git" / "config").read_text() == "[core]\n"
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()


async def test_an_approved_protected_write_goes_through(workspace):
    asked = []

    async def approver(action, detail):
        asked.append(action)
        return True

    await call(tools(workspace, approver=approver)["write_file"], path=".gitignore", content="*.pyc\n")
    assert asked == []  # .gitignore runs nothing
    await call(tools(workspace, approver=approver)["write_file"], path=".envrc", content="export A=1\n")
    assert asked == ["write_protected"]
    assert (workspace / ".envrc").read_text() == "export A=1\n"


# -- 9. policy leaks and credentials in read roots --------------------------------------------------------


async def test_a_denied_read_does_not_leak_through_the_edit_retry(workspace):
    (workspace / "notes.txt").write_text("TOP-SECRET-NOTES\n")
    guard = Guard(ToolSettings(workspace=workspace, policies={"read_file": "deny"}))
    ground = edit_grounder(guard)
    grounding = ground(
        {"path": "notes.txt", "old_text": "absent", "new_text": "x"}, "in notes.txt change TOP to BOTTOM"
    )
    assert grounding is None or "TOP-SECRET" not in grounding.note + str(grounding.properties)


@pytest.mark.parametrize(
    "secret",
    ["/etc/shadow", "/etc/gshadow", "{home}/.ssh/id_ed25519", "{home}/.aws/credentials", "{data}/society.db"],
)
async def test_credentials_inside_read_roots_are_refused(secret, workspace, tmp_path):
    from society.paths import data_dir

    home = tmp_path / "homes" / "user"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE-KEY")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("AWS-SECRET")
    (data_dir() / "society.db").write_text("CONVERSATION")
    box = tools(workspace, approver=allow_all, read_roots=[Path("/etc"), tmp_path / "homes", data_dir()])
    result = await outcome(box["read_file"], path=secret.format(home=home, data=data_dir()))
    assert result.startswith("refused") and "not available to agents" in result
    listing = await outcome(box["list_dir"], path=str(home / ".ssh"))
    assert listing.startswith("refused")
    assert "readable" in await call(box["read_file"], path=str(_plain_file(home)))


def _plain_file(home: Path) -> Path:
    (home / "notes.txt").write_text("readable")
    return home / "notes.txt"


async def test_writes_to_write_roots_still_ask_first(workspace, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    result = await outcome(
        tools(workspace, write_roots=[shared])["write_file"], path=str(shared / "x.txt"), content="x"
    )
    assert result.startswith("refused") and not (shared / "x.txt").exists()


# -- issue 38: homes, other users' data, programs run later ---------------------------------------

HOME_SECRETS = [
    ".config/gh/hosts.yml",
    ".cache/huggingface/token",
    ".config/gcloud/credentials.db",
    ".cargo/credentials.toml",
    ".ollama/id_ed25519",
    ".local/share/keyrings/login.keyring",
    ".config/chromium/Default/Login Data",
    ".mozilla/firefox/x.default/logins.json",
]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home folder as this process's own ($HOME), full of programs' credentials."""
    folder = tmp_path / "people" / "ken"  # (tmp_path / "home" is the data folder: tests/conftest.py)
    for relative in HOME_SECRETS:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text("HOME-CREDENTIAL")
    (folder / "notes.txt").write_text("readable")
    monkeypatch.setenv("HOME", str(folder))
    return folder


@pytest.mark.parametrize("relative", HOME_SECRETS)
async def test_every_hidden_entry_of_a_home_read_root_is_refused(relative, home, workspace):
    box = tools(workspace, approver=allow_all, read_roots=[home])
    result = await outcome(box["read_file"], path=str(home / relative))
    assert result.startswith("refused") and "HOME-CREDENTIAL" not in result
    assert "readable" in await call(box["read_file"], path=str(home / "notes.txt"))


async def test_every_hidden_entry_of_a_home_is_hidden_in_the_sandbox(home, workspace):
    from society.tools import sandbox

    if sandbox.bwrap() is None:
        pytest.skip("bubblewrap is not installed (.ci/run installs it)")
    settings = ToolSettings(workspace=workspace, read_roots=[home])
    paths = " ".join(f"'{home / relative}'" for relative in HOME_SECRETS)
    result = await sandbox.run(f"cat {paths} {home}/notes.txt; grep -r HOME {home}", settings)
    assert "HOME-CREDENTIAL" not in result.output and "readable" in result.output


@pytest.mark.parametrize(
    "relative",
    [
        ".config/git/config",
        ".bash_aliases",
        ".local/bin/ls",
        ".config/autostart/evil.desktop",
        ".config/systemd/user/evil.service",
        ".local/lib/python3.11/site-packages/evil.pth",
    ],
)
async def test_a_writable_home_keeps_what_runs_later(relative, home, workspace):
    box = tools(workspace, approver=allow_all, write_roots=[home])
    result = await outcome(box["write_file"], path=str(home / relative), content="touch /tmp/pwned")
    assert result.startswith("refused") and not (home / relative).exists()


@pytest.mark.parametrize("name", ["evil.pth", "sitecustomize.py"])
async def test_python_start_up_files_in_a_write_root_need_approval(name, workspace, tmp_path):
    site = tmp_path / "site-packages"
    site.mkdir()
    asked = []

    async def approver(action, detail):
        asked.append(action)
        return action != "write_protected"

    box = tools(workspace, approver=approver, write_roots=[site], policies={"write_outside_workspace": "auto"})
    result = await outcome(box["write_file"], path=str(site / name), content="import os")
    assert "write_protected" in asked and result.startswith("refused") and not (site / name).exists()


async def test_a_folder_of_programs_needs_approval(workspace, tmp_path, monkeypatch):
    programs = tmp_path / "bin"
    programs.mkdir()
    monkeypatch.setenv("PATH", f"{programs}{os.pathsep}{os.environ['PATH']}")
    box = tools(workspace, write_roots=[programs], policies={"write_outside_workspace": "auto"})
    result = await outcome(box["write_file"], path=str(programs / "git"), content="#!/bin/sh\ntouch /tmp/pwned")
    assert result.startswith("refused") and not (programs / "git").exists()


async def test_a_read_root_holding_the_server_data_folder_hides_every_users_data(workspace):
    from society.paths import data_dir, settings_dir
    from society.storage import users
    from society.storage.store import Store

    users.add("bob")
    with users.as_user("bob"):
        Store()  # bob's conversation database
        bobs = data_dir() / "society.db"
    with users.as_user("alice"):
        box = tools(data_dir() / "workspace", approver=allow_all, read_roots=[settings_dir()])
        for path in (bobs, settings_dir() / "users.json"):
            result = await outcome(box["read_file"], path=str(path))
            assert result.startswith("refused") and "not available to agents" in result
