"""The users of a shared server, each with their own never-ending conversation.

A user is a name and an API token. Their conversation, memories, prompt versions, rewards
and tuning data live apart from every other user's: in a folder of their own
(`users/NAME/` in the data folder: the SQLite file, the vector index, the workspace) and,
on a Postgres server, in a schema of their own (`user_NAME`), the only one on their
connections' search path. The token is shown once, when the user is added; the server
keeps its SHA-256 digest in `users.json` beside the settings. Without users the server is
one person's, as on a laptop: the default conversation, no login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from society.errors import SocietyError
from society.paths import USER_NAME, settings_dir, working_for

USERS_FILE = "users.json"


class UserError(SocietyError, ValueError):
    """A user name or token that cannot be used; the message says what to change."""

    http_status = 400


def check_name(name: str) -> str:
    if not USER_NAME.match(name or ""):
        raise UserError(
            f"user name {name!r}: use 1-32 lowercase letters, digits or _, starting with a letter (e.g. alice)"
        )
    return name


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def table() -> dict[str, dict[str, str]]:
    """The users and their token digests, as users.json has them now."""
    from society.models.config import read_json_object

    return read_json_object(settings_dir() / USERS_FILE)


def _write(users: dict[str, dict[str, str]]) -> None:
    from society.settings import save

    save(settings_dir() / USERS_FILE, users)


def names() -> list[str]:
    return sorted(table())


def add(name: str) -> str:
    """Add `name` with a new token, or give them a new one (the old stops working); the
    token, shown this once."""
    check_name(name)
    token = secrets.token_urlsafe(24)
    users = table()
    users[name] = {"token_sha256": digest(token)}
    _write(users)
    return token


def remove(name: str) -> None:
    """Take `name`'s token away; their conversation stays where it is (nothing is deleted)."""
    users = table()
    if name not in users:
        raise UserError(f"no user {name!r}; see: society users list")
    del users[name]
    _write(users)


def by_token(token: str | None, known: dict[str, dict[str, str]] | None = None) -> str | None:
    """The user whose token `token` is, or None (`known`: the table, when already read).
    Every digest is compared in constant time."""
    if not token:
        return None
    given = digest(token)
    found = None
    for name, entry in (table() if known is None else known).items():
        if hmac.compare_digest(given, str(entry.get("token_sha256", ""))):
            found = name
    return found


@contextmanager
def as_user(name: str | None) -> Iterator[None]:
    """Work on `name`'s conversation for the calls inside and the tasks they start; None is
    the default conversation."""
    with working_for(check_name(name) if name is not None else None):
        yield
