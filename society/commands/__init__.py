"""The `society` command's groups, one module each; `society/cli.py` puts them together.

Commands raise `SocietyError` (society/errors.py) for anything the user can fix; the root
group prints its one line and exits with its code, so no command catches errors itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import typer

from society.errors import EXIT_FAILED, EXIT_USAGE

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "fail", "guard"]
T = TypeVar("T")


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print one line naming what to fix and return the exit to raise."""
    print(f"society: error: {message}", file=sys.stderr)
    return typer.Exit(code)


def guard(work: Callable[[], T]) -> T:
    """Run a conversation command: library logs go to society.log, Ctrl-C is one line."""
    from society.paths import log_to_file

    log_to_file()
    try:
        return work()
    except KeyboardInterrupt:
        raise fail("interrupted; what was said so far is saved", 130) from None
