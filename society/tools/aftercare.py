"""What a command may have left in the workspace for the host to run later, undone after
every command (sandboxed or not).

- Set-user-ID and set-group-ID bits: inside the sandbox the command's uid maps to the
  server's, so a copy of bash made setuid there is a setuid binary of the server's user on
  the host (root, when the server runs as root).
- Git configuration that runs programs (core.fsmonitor, core.hooksPath, core.sshCommand,
  pagers, editors, filter and diff drivers, credential helpers, includes) and new hooks.
  Existing `.git` folders are bound read-only inside the sandbox, but a command can move the
  folder holding one away and back, or make a new repository; so every repository's config
  is checked by content after the command: one that changed is put back, a new one loses
  the keys that run programs, a new hook is removed.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

# Keys whose value git runs, or that pull in another file (include.path, includeIf.*.path).
RUNS_PROGRAMS = re.compile(
    r"^\s*(fsmonitor|hookspath|sshcommand|pager|editor|askpass|gitproxy|textconv|clean|smudge|process"
    r"|command|driver|helper|path|program|cmd|tool|viewer|browser|sendmail|sendmailcmd|receivepack|uploadpack)\s*(=|$)",
    re.I,
)


def _walk(workspace: Path):
    """Every (folder, file names, folder names) of the workspace, no links followed. Whole:
    a bound on the walk would be a place to hide a set-ID file behind."""
    for folder, dirs, files in os.walk(workspace, followlinks=False):
        yield Path(folder), files, dirs


def _git_folders(workspace: Path) -> list[Path]:
    return [folder / ".git" for folder, _, dirs in _walk(workspace) if ".git" in dirs]


def snapshot(workspace: Path) -> dict[Path, bytes | None]:
    """Each repository's config as it is before a command, and its hooks (by path)."""
    found: dict[Path, bytes | None] = {}
    for git in _git_folders(workspace):
        config = git / "config"
        found[config] = config.read_bytes() if config.is_file() and not config.is_symlink() else None
        hooks = git / "hooks"
        if hooks.is_dir():
            for hook in hooks.iterdir():
                found[hook] = None
    return found


def _neutralised(config: bytes) -> bytes:
    lines = config.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(line for line in lines if not RUNS_PROGRAMS.match(line)).encode()


def after_command(workspace: Path, before: dict[Path, bytes | None]) -> list[str]:
    """Undo what the command left that the host would run; one line per thing undone."""
    undone: list[str] = []
    for folder, files, dirs in _walk(workspace):
        for name in [*files, *dirs]:
            path = folder / name
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if not stat.S_ISLNK(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(mode) & ~(stat.S_ISUID | stat.S_ISGID), follow_symlinks=False)
                undone.append(f"removed the set-ID bit of {path.relative_to(workspace)}")
        if ".git" in dirs:
            git = folder / ".git"
            config = git / "config"
            if config.is_file() and not config.is_symlink():
                now = config.read_bytes()
                was = before.get(config)
                if was is not None and now != was:
                    config.write_bytes(was)
                    undone.append(f"put back {config.relative_to(workspace)} (the command changed it)")
                elif was is None and _neutralised(now) != now:
                    config.write_bytes(_neutralised(now))
                    undone.append(f"removed the keys that run programs from {config.relative_to(workspace)}")
            hooks = git / "hooks"
            if hooks.is_dir() and not hooks.is_symlink():
                for hook in hooks.iterdir():
                    if hook not in before and not hook.name.endswith(".sample"):
                        if hook.is_dir() and not hook.is_symlink():
                            continue
                        hook.unlink()
                        undone.append(f"removed the new hook {hook.relative_to(workspace)}")
    return undone
