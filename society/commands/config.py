"""`society config`: every setting of the data folder's settings files, listed and edited
from one command. A value is checked by the file's own reader before it is kept, so a bad
one is refused with the reader's one line and the file stays as it was."""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any

import typer

from society.models.config import ConfigError

app = typer.Typer(help="Settings: show every one, set one (tools.json, memory.json, learning.json).")


def _reader(group: str):
    from society.paths import SETTINGS_FILES

    module, function = SETTINGS_FILES[group][1].split(":")
    return getattr(import_module(module), function)


def _path(group: str) -> Path:
    from society.paths import SETTINGS_FILES, settings_dir

    return settings_dir() / SETTINGS_FILES[group][0]


def _flat(prefix: str, value: Any) -> dict[str, Any]:
    if hasattr(value, "model_dump"):  # a settings model (society/settings.py)
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flat(f"{prefix}.{key}", inner))
        return flat
    return {prefix: value}


def current() -> dict[str, Any]:
    """Every setting as `group.field[.field]`: its value now (defaults included)."""
    from society.paths import SETTINGS_FILES

    found: dict[str, Any] = {}
    for group in SETTINGS_FILES:
        found.update(_flat(group, _reader(group)()))
    return found


@app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """List every setting and its value (defaults included)."""
    values = current()
    if as_json:
        print(json.dumps(values, ensure_ascii=False, default=str))
        return
    for key, value in values.items():
        print(f"{key} = {json.dumps(value, ensure_ascii=False, default=str)}")


def _parse(text: str, like: Any) -> Any:
    """`text` as the type the setting has now: JSON for numbers, booleans, lists; else text."""
    if isinstance(like, str) or like is None and text[:1] not in "[{0123456789-tfn":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@app.command("set")
def set_value(
    key: Annotated[str, typer.Argument(help="GROUP.FIELD, e.g. tools.limits.timeout_s (see: society config show)")],
    value: Annotated[str, typer.Argument(help="The new value: a number, true/false, a JSON list, or text.")],
) -> None:
    """Set one setting in its file; the file's reader checks it before it is kept."""
    from society.paths import SETTINGS_FILES

    group, _, field = key.partition(".")
    known = current()
    if group not in SETTINGS_FILES or key not in known and not any(k.startswith(key + ".") for k in known):
        if not (group == "tools" and field.startswith("policies.")):  # new actions such as mcp:SERVER
            raise ConfigError(f"unknown setting {key!r}; see: society config show")
    path = _path(group)
    before = path.read_bytes() if path.exists() else None
    data = json.loads(before) if before else {}
    parts = field.split(".")
    if group == "tools" and parts[0] in ("search_provider", "searxng_url"):
        parts = ["search", "provider" if parts[0] == "search_provider" else "searxng_url"]
    target = data
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = _parse(value, known.get(key))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    try:
        _reader(group)()
    except ConfigError:
        if before is None:
            path.unlink()
        else:
            path.write_bytes(before)
        raise
    print(f"{key} = {json.dumps(current().get(key, target[parts[-1]]), ensure_ascii=False, default=str)} ({path})")
