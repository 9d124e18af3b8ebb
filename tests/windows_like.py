"""`python -m tests.windows_like ARGS...`: the `society` command in a Python without what
native Windows lacks: `resource`, `fcntl`, `termios`, `pwd` and `grp` cannot be imported,
`os.fork`, `os.killpg`, `os.setsid`, `os.getuid` and `os.nice` are gone, `os.kill(pid, 0)`
fails (on Windows it would send Ctrl+C to the console), and `subprocess.Popen` refuses
`preexec_fn` as Windows' does. `--import-all` imports every module of the project instead."""

from __future__ import annotations

import os
import subprocess
import sys

# Libraries with a Windows implementation of their own load their Linux one here first (it
# imports what is blocked below); the project's code is what this checks.
import chromadb.api.rust  # noqa: F401, E402
import filelock  # noqa: F401, E402
import psutil  # noqa: F401, E402

for name in ("resource", "fcntl", "termios", "pwd", "grp"):
    sys.modules[name] = None  # type: ignore[assignment]  # `import resource` -> ImportError
for name in ("fork", "forkpty", "killpg", "setsid", "getuid", "nice"):
    if hasattr(os, name):
        delattr(os, name)

_kill = os.kill


def kill(pid: int, sig: int) -> None:
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if sig == 0 and not caller.startswith("psutil"):  # psutil asks Windows its own way there
        raise AssertionError("os.kill(pid, 0) on Windows sends Ctrl+C to the console; ask psutil instead")
    _kill(pid, sig)


os.kill = kill
_popen_init = subprocess.Popen.__init__


def popen_init(self, *args, preexec_fn=None, **kwargs):
    if preexec_fn is not None:
        raise ValueError("preexec_fn is not supported on Windows platforms")
    _popen_init(self, *args, **kwargs)


subprocess.Popen.__init__ = popen_init


def import_all() -> list[str]:
    import importlib
    import pkgutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    names = []
    for package in ("society", "training", "ui", "roles"):
        for info in pkgutil.walk_packages([str(root / package)], prefix=f"{package}."):
            if info.name.startswith("ui.app"):
                continue  # the Chainlit page runs only inside `society ui`
            importlib.import_module(info.name)
            names.append(info.name)
    return names


if __name__ == "__main__":
    if sys.argv[1:] == ["--import-all"]:
        print(f"imported {len(import_all())} modules")
    else:
        from society.cli import app

        app(sys.argv[1:], prog_name="society")
