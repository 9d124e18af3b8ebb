"""Where the society keeps its data: one folder per user, shared by every entry point.

On a shared server each user (society/storage/users.py) has a folder of their own inside it,
`users/NAME/` (their conversation, memories, workspace, adapters), while the server's
settings (the model list, tools, memory, learning, MCP servers) stay in the folder itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

HOME_ENV = "SOCIETY_HOME"
USER_ENV = "SOCIETY_USER"  # a process that works for one user (a learning cycle started for them)
_DATA_DIR: ContextVar[Path | None] = ContextVar("society_data_dir", default=None)
_USER: ContextVar[str | None] = ContextVar("society_user", default=None)


# Lowercase: a folder name on every file system and a Postgres schema name without quoting.
# \Z, not $: "$" also matches before a final newline, and "carol\n" is not a name.
USER_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")


def current_user() -> str | None:
    """The user whose data the calls inside work on (society/storage/users.py as_user), else
    `$SOCIETY_USER`; None: the single-user default, the data folder itself."""
    user = _USER.get() or os.environ.get(USER_ENV) or None
    if user is not None and not USER_NAME.match(user):
        from society.errors import SocietyError

        raise SocietyError(f"{USER_ENV}={user!r}: a user name is 1-32 lowercase letters, digits or _ (e.g. alice)")
    return user


@contextmanager
def working_for(user: str | None) -> Iterator[None]:
    """Work on `user`'s data for the calls inside and the tasks they start (checked names
    only: society/storage/users.py as_user)."""
    token = _USER.set(user)
    try:
        yield
    finally:
        _USER.reset(token)


@contextmanager
def using_data_dir(folder: Path) -> Iterator[Path]:
    """Work in another data folder for the calls inside (and the tasks they start), without
    touching the process's environment: an eval run's scratch conversations."""
    token = _DATA_DIR.set(Path(folder))
    try:
        yield Path(folder)
    finally:
        _DATA_DIR.reset(token)


def data_dir() -> Path:
    """The data folder: the one `using_data_dir` set, else `$SOCIETY_HOME`, else the
    platform's user data folder; for a user of a shared server, their folder inside it.

    Every entry point (terminal, web page, API, headless run) from any working directory
    resolves to the same folder, which is what makes the conversation one conversation.
    """
    user = current_user()
    if user:
        path = settings_dir() / "users" / user
        path.mkdir(parents=True, exist_ok=True)
        return path
    return settings_dir()


def settings_dir() -> Path:
    """The folder of the settings files, the server's whichever user is served."""
    override = _DATA_DIR.get() or os.environ.get(HOME_ENV)
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


# Every file and folder of the data folder, by name: what it holds and, for settings files,
# the function that reads and checks it ("module:function", imported only when asked).
DATA_FILES = {
    "society.db": "the conversation, memories, prompts, rewards, tuning data (SQLite; or SOCIETY_DATABASE_URL)",
    "society.db.lock": "one process at a time creates and migrates society.db",
    "models.json": "the model ladder, when SOCIETY_CONFIG does not name another list",
    "tools.json": "workspace, read/write roots, approval policies, sandbox limits, search",
    "memory.json": "embedding model and recall settings",
    "learning.json": "when and how the society learns",
    "mcp.json": "MCP servers (Claude Desktop's mcpServers format)",
    "model.lock": "one model call at a time across processes",
    "turn.lock": "one turn of the conversation at a time, whichever door it comes from",
    "society.log": "library logs and tracebacks",
    "learning.log": "the last background learning cycle's output",
    "workspace/": "the executor's folder (the only one its commands may write)",
    "chroma/": "the vector index (derived from society.db; rebuilt when unreadable)",
    "mcp-logs/": "each MCP server's standard error",
    "evals/": "evaluation reports",
    "adapters/": "LoRA adapters trained by the learning cycle",
    "ui/": "the chat page's settings and uploads (Chainlit)",
    "users.json": "a shared server's users and their token digests (society users)",
    "users/": "each user's own data folder on a shared server (their society.db, chroma/, workspace/...)",
}
SETTINGS_FILES = {
    "tools": ("tools.json", "society.tools.settings:load_settings"),
    "memory": ("memory.json", "society.memory.settings:load_settings"),
    "learning": ("learning.json", "training.settings:load_settings"),
}


def database_path() -> Path:
    return data_dir() / "society.db"


def turn_lock_path() -> Path:
    """The lock that lets the one conversation take one turn at a time across processes."""
    return data_dir() / "turn.lock"


MODEL_LOCK_ENV = "SOCIETY_MODEL_LOCK"


def model_lock_path() -> Path:
    """The lock file that lets one model call run at a time across all processes of the
    machine: the GPU is the machine's, whatever data folder a process uses (`society eval`
    runs its tasks in scratch folders beside the live chat). In the system's temporary
    folder, readable and writable by every user (see the gate); `$SOCIETY_MODEL_LOCK`
    names another file."""
    import tempfile

    override = os.environ.get(MODEL_LOCK_ENV)
    return Path(override).expanduser() if override else Path(tempfile.gettempdir()) / "society-model.lock"


def log_to_file() -> Path:
    """Send library logs (AutoGen's runtime logs every agent error with a traceback) and
    library warnings to `society.log` in the data folder, and keep progress bars off, so the
    terminal shows the conversation and one clear line per problem."""
    import logging

    logging.captureWarnings(True)  # warnings.warn(...) from any library: to the log
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars inside the chat
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    path = data_dir() / "society.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    return path
