"""Paths no agent tool may touch freely, shared by the file tools and the sandbox.

- Secret: credentials of the user and the system (`~/.ssh`, `/etc/shadow`, the society's own
  database and tokens). Never read or written by a tool, and hidden inside the sandbox even
  when a configured read root contains them.
- Protected: files another program runs as the user later. A planted `.git/hooks/pre-commit`
  or `core.fsmonitor` in `.git/config` runs on the user's next `git status`; a start-up file
  runs in the user's next shell; editor settings can start tasks when a folder is opened. The
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


def is_protected(parts: tuple[str, ...] | list[str]) -> bool:
    """Whether a path (its components) is VCS metadata, editor settings or a start-up file."""
    return any(part in VCS_DIRS or part in EDITOR_DIRS for part in parts) or bool(parts and parts[-1] in STARTUP_FILES)


def secret_reason(real: Path, data_folder: Path, workspace: Path) -> str | None:
    """Why `real` (a resolved absolute path) holds secrets, or None. The workspace is the
    agents' own folder and never secret, wherever it lies."""
    if real == workspace or real.is_relative_to(workspace):
        return None
    if any(part in SECRET_NAMES for part in real.parts):
        return "it holds credentials"
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
    for root in bound:
        candidates = [Path(p) for p in SECRET_SYSTEM_PATHS] + [data_folder]
        # A read root may be a home folder or a folder of homes: look two levels down.
        homes = [root, *(p for p in _subfolders(root))]
        candidates += [home / name for home in homes for name in SECRET_NAMES]
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
