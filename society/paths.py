"""Where the society keeps its data: one folder per user, shared by every entry point."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "SOCIETY_HOME"


def data_dir() -> Path:
    """The data folder: `$SOCIETY_HOME`, else the platform's user data folder.

    Every entry point (terminal, web page, API, headless run) from any working directory
    resolves to the same folder, which is what makes the conversation one conversation.
    """
    override = os.environ.get(HOME_ENV)
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir("society", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Derived files that can be rebuilt (exported models): `$SOCIETY_CACHE`, else the
    platform's user cache folder; shared by all data folders of the user."""
    override = os.environ.get("SOCIETY_CACHE")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("society", appauthor=False))


def database_path() -> Path:
    return data_dir() / "society.db"


def model_lock_path() -> Path:
    """The lock file that lets one model call run at a time across all processes."""
    return data_dir() / "model.lock"


def log_to_file() -> Path:
    """Send library logs (AutoGen's runtime logs every agent error with a traceback) to
    `society.log` in the data folder, so the terminal shows one clear line per problem."""
    import logging

    path = data_dir() / "society.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    return path
