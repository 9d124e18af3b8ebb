"""Paths no agent tool may touch freely, shared by the file tools and the sandbox.

- Secret: credentials of the user and the system (`~/.ssh`, `/etc/shadow`, the society's own
  data folder, every user's: databases and tokens; every hidden entry of a home folder).
  Never read or written by a tool, and hidden inside the sandbox even when a configured read
  root contains them.
- Protected: files another program runs as the user later. A planted `.git/hooks/pre-commit`
  or `core.fsmonitor` in `.git/config` runs on the user's next `git status`; a start-up file
  runs in the user's next shell; a `.pth` file in every Python start; anything in a folder on
  PATH when its name is typed; editor settings can start tasks when a folder is opened. The
  file tools write them only with the user's approval of that exact write (policy
  `write_protected`, default ask); inside the sandbox the existing ones are read-only.
"""

from __future__ import annotations

import os
from pathlib import Path

VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", ".jj", ".pijul"})
EDITOR_DIRS = frozenset({".vscode", ".idea", ".devcontainer"})
STARTUP_FILES = frozenset(
    {
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".bash_logout",
        ".profile",
        ".zshrc",
        ".zshenv",
        ".zprofile",
        ".zlogin",
        ".zlogout",
        ".cshrc",
        ".tcshrc",
        ".kshrc",
        ".inputrc",
        ".envrc",
        ".gitconfig",
        ".gitmodules",
        ".gitattributes",
        ".pre-commit-config.yaml",
    }
)
SECRET_NAMES = frozenset(
    {
        ".ssh",
        ".gnupg",
        ".aws",
        ".azure",
        ".kube",
        ".docker",
        ".netrc",
        ".pgpass",
        ".git-credentials",
        ".npmrc",
        ".pypirc",
        ".vault-token",
    }
)
SECRET_SYSTEM_PATHS = (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
)


# Files Python runs at every start of an interpreter that sees them.
PYTHON_STARTUP = frozenset({"sitecustomize.py", "usercustomize.py"})


def is_protected(parts: tuple[str, ...] | list[str], real: Path | None = None) -> bool:
    """Whether a path is VCS metadata, editor settings, a start-up file (shell, git, Python's
    `.pth` and sitecustomize) or lies in a folder of programs (one on PATH) or a home's
    hidden folders (`real`, the resolved path, for those two)."""
    if any(part in VCS_DIRS or part in EDITOR_DIRS for part in parts):
        return True
    name = parts[-1] if parts else (real.name if real else "")
    if name in STARTUP_FILES or name in PYTHON_STARTUP or name.endswith(".pth"):
        return True
    if real is None:
        return False
    return in_program_folder(real) or hidden_in_home(real) is not None


def in_program_folder(real: Path) -> bool:
    """Whether `real` lies in a folder the user's shell runs programs from (PATH, ~/.local/bin)."""
    folders = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p] + [str(Path.home() / ".local" / "bin")]
    return any(real.is_relative_to(os.path.realpath(folder)) for folder in folders if os.path.isabs(folder))


def home_folders() -> list[Path]:
    """The home folders of this machine's people: this process's, /root, and each folder in
    /home and /Users, resolved."""
    homes = {Path.home(), Path("/root")}
    for base in (Path("/home"), Path("/Users")):
        homes.update(_subfolders(base))
    return sorted({Path(os.path.realpath(home)) for home in homes})


def hidden_in_home(real: Path) -> Path | None:
    """The hidden entry of a home that `real` is or lies in (`~/.config`, `~/.cache/gh`,
    `~/.bash_aliases`), else None. Programs keep their settings and credentials there (gh,
    huggingface, gcloud, cargo, Ollama's key, keyrings, browser logins) under names no list
    can cover, so every one of them is denied."""
    for home in home_folders():
        if real != home and real.is_relative_to(home):
            first = real.relative_to(home).parts[0]
            if first.startswith("."):
                return home / first
    return None


def secret_reason(real: Path, data_folder: Path, workspace: Path) -> str | None:
    """Why `real` (a resolved absolute path) holds secrets, or None. The workspace is the
    agents' own folder and never secret, wherever it lies."""
    if real == workspace or real.is_relative_to(workspace):
        return None
    if any(part in SECRET_NAMES for part in real.parts):
        return "it holds credentials"
    if hidden_in_home(real) is not None:
        return "it is a hidden folder or file of a home (programs' settings and credentials)"
    for system in SECRET_SYSTEM_PATHS:
        if real == Path(system) or real.is_relative_to(system):
            return "it is a system credentials file"
    data_folder = Path(os.path.realpath(data_folder))
    if real == data_folder or real.is_relative_to(data_folder):
        return "it is the society's own data (conversation, settings, tokens)"
    return None


def secret_mounts(bound: list[Path], data_folder: Path) -> list[Path]:
    """What to hide inside the sandbox: every secret path inside a bound folder."""
    hidden: list[Path] = []
    data_folder = Path(os.path.realpath(data_folder))
    home_entries = [entry for home in home_folders() for entry in _hidden_entries(home)]
    for root in bound:
        candidates = [Path(p) for p in SECRET_SYSTEM_PATHS] + [data_folder]
        # A read root may be a home folder or a folder of homes: look two levels down.
        homes = [root, *(p for p in _subfolders(root))]
        candidates += [home / name for home in homes for name in SECRET_NAMES]
        candidates += home_entries
        for path in candidates:
            if (path == root or path.is_relative_to(root)) and os.path.lexists(path) and path not in hidden:
                hidden.append(path)
    return hidden


def _subfolders(root: Path, limit: int = 200) -> list[Path]:
    try:
        with os.scandir(root) as entries:
            return [
                Path(e.path) for _, e in zip(range(limit), entries, strict=False) if e.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []


def _hidden_entries(home: Path) -> list[Path]:
    try:
        with os.scandir(home) as entries:
            return [Path(e.path) for e in entries if e.name.startswith(".")]
    except OSError:
        return []
