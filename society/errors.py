"""One error type for everything the user should read as a sentence, not a traceback.

Each entry point catches `SocietyError` alone: the terminal prints its one line and exits
with `exit_code`, the API answers with `http_status` and the line. Anything else is a bug
and is reported as one (with the log's traceback), never dressed up as the user's mistake.
Subclasses also keep the built-in base they always had (ValueError, LookupError...), so
code that caught those still does.
"""

from __future__ import annotations

EXIT_USAGE = 2  # bad input or settings: fix and run again
EXIT_FAILED = 1  # the request was fine; the work could not be done now


class SocietyError(Exception):
    """A problem the user can act on; the message says what to do."""

    exit_code = EXIT_USAGE
    http_status = 400


class NotFoundError(SocietyError, LookupError):
    """Something named by number or name does not exist."""

    http_status = 404


class UnavailableError(SocietyError, RuntimeError):
    """The request was fine but cannot be served now (no model, no GPU, offline)."""

    exit_code = EXIT_FAILED
    http_status = 503


class LearningError(SocietyError, ValueError):
    """A learning command cannot run as asked (too little data, unknown adapter)."""
