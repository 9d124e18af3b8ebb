"""Secret values that must never reach a model, the conversation or the page.

A tool result is written by something the society does not trust (a sandboxed command, a
web page, an MCP server), so before it is stored or shown every known secret value in it is
replaced by `[redacted NAME]`, however it is written out (reversed, hex, base64, split up),
and so is anything shaped like a credential; memories get the same. Known secrets are the
values of environment variables whose names say they are secrets (tokens, keys, passwords)
and values registered at run time (the API token a server was started with)."""

from __future__ import annotations

import base64
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


# Credentials by their shape, whoever's they are (a key an injected page planted or a command
# read from a file): private key blocks, OpenAI/Anthropic-style keys, GitHub, GitLab, Hugging
# Face, AWS access keys, Slack, Google API keys, JSON web tokens.
CREDENTIAL = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\b(?:sk|rk)-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{40,}|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\bhf_[A-Za-z0-9]{30,}|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\bAIza[0-9A-Za-z_-]{35}|\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
)
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
HEX_RUN = re.compile(r"\b[0-9a-fA-F]{2}(?:[:\s]?[0-9a-fA-F]{2}){11,}\b")
TOKEN_RUN = re.compile(r"[A-Za-z0-9_-]{20,}")
MIN_SPLIT_CHARS = 12  # letters and digits a secret needs before its pieces are looked for apart


def redact(text: str) -> str:
    """`text` with every secret replaced by `[redacted NAME]`: each known value as it is,
    reversed, in hex, in base64 (at any alignment) or split by spaces and punctuation; and
    anything shaped like a credential, also inside base64, hex or reversed."""
    if not text:
        return text
    known = _known()  # the environment read once per text, not once per run looked at
    for value, name in known:
        for form in _forms(value):
            if form in text:
                text = _cover(text, form, f"[redacted {name}]")
        text = _without_pieces(text, value, f"[redacted {name}]")
    text = CREDENTIAL.sub("[redacted credential]", text)
    text = BASE64_RUN.sub(lambda m: _if_hidden(m.group(0), _from_base64, known), text)
    text = HEX_RUN.sub(lambda m: _if_hidden(m.group(0), _from_hex, known), text)
    return TOKEN_RUN.sub(lambda m: _if_hidden(m.group(0), lambda run: run[::-1], known), text)


def _forms(value: str) -> list[str]:
    """How a value may be written out: itself, reversed, hex, and the part of its base64 that
    does not depend on what comes before or after it (three alignments, two alphabets)."""
    raw = value.encode()
    forms = [value, value[::-1], raw.hex(), raw.hex().upper()]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        core = encoded[(4 if offset else 0) : len(encoded) - 4]
        if len(core) >= 8:
            forms += [core, core.replace("+", "-").replace("/", "_")]
    return forms


def _cover(text: str, form: str, mark: str) -> str:
    """Every `form` in `text` replaced by `mark`, with the base64 run around it."""
    if form.isalnum() or not set(form) - set("+/_-"):
        found = re.compile(r"[A-Za-z0-9+/_-]*" + re.escape(form) + r"[A-Za-z0-9+/_-]*={0,2}")
        return found.sub(mark, text)
    return text.replace(form, mark)


def _without_pieces(text: str, value: str, mark: str) -> str:
    """`value` split up ("sk-abc def", "s k - a b c", "sk-abc" + "def") replaced by `mark`:
    found among the letters and digits alone, then covered in the text as written."""
    wanted = "".join(c for c in value if c.isalnum())
    if len(wanted) < MIN_SPLIT_CHARS:
        return text
    positions = [i for i, c in enumerate(text) if c.isalnum()]
    letters = "".join(text[i] for i in positions)
    at = letters.find(wanted)
    while at >= 0:
        start, end = positions[at], positions[at + len(wanted) - 1] + 1
        text = text[:start] + mark + text[end:]
        positions = [i for i, c in enumerate(text) if c.isalnum()]
        letters = "".join(text[i] for i in positions)
        at = letters.find(wanted)
    return text


def _if_hidden(run: str, decode, known: list[tuple[str, str]]) -> str:
    """`run` as it is, or `[redacted ...]` when what it decodes to holds a secret."""
    try:
        decoded = decode(run)
    except (ValueError, UnicodeDecodeError):
        return run
    if not decoded or decoded == run:
        return run
    for value, name in known:
        if value in decoded:
            return f"[redacted {name}]"
    return "[redacted credential]" if CREDENTIAL.search(decoded) else run


def _from_base64(run: str) -> str:
    padded = run + "=" * (-len(run) % 4)
    alphabet = base64.urlsafe_b64decode if ("-" in run or "_" in run) else base64.b64decode
    return alphabet(padded).decode("utf-8")


def _from_hex(run: str) -> str:
    return bytes.fromhex(re.sub(r"[:\s]", "", run)).decode("utf-8")
