"""Secret values that must never reach a model, the conversation or the page.

A tool result is written by something the society does not trust (a sandboxed command, a
web page, an MCP server), so before it is stored or shown every known secret value in it is
replaced by `[redacted NAME]`. Known secrets are the values of environment variables whose
names say they are secrets (tokens, keys, passwords) and values registered at run time (the
API token a server was started with)."""

from __future__ import annotations

import os
import re

# Names of environment variables that hold secrets: OPENAI_API_KEY, SOCIETY_API_TOKEN,
# AWS_SECRET_ACCESS_KEY, PGPASSWORD, GITHUB_TOKEN, HF_TOKEN, DATABASE_URL (credentials)...
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|COOKIE|API_?KEY|ACCESS_KEY|PRIVATE|_KEY$|DATABASE_URL", re.I
)
MIN_SECRET_CHARS = 6  # shorter values ("1", "true") would redact ordinary words
_registered: dict[str, str] = {}


def register_secret(name: str, value: str | None) -> None:
    """Treat `value` as a secret from now on (the API token a server was started with)."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _registered[value] = name


def secret_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables whose names mark them as secrets, by name."""
    environ = dict(os.environ if environ is None else environ)
    return {name: value for name, value in environ.items() if SECRET_NAME.search(name)}


def _known() -> list[tuple[str, str]]:
    values = {value: name for name, value in secret_environment().items() if len(value) >= MIN_SECRET_CHARS}
    values.update(_registered)
    return sorted(values.items(), key=lambda item: len(item[0]), reverse=True)  # longest first


def redact(text: str) -> str:
    """`text` with every known secret value replaced by `[redacted NAME]`."""
    for value, name in _known():
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return text
