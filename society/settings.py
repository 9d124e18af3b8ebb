"""Settings declared once, as pydantic models read from JSON files in the data folder.

A missing file or field means the default; an unknown name, a wrong type or a value out of
range stops with one line naming the file, the field and what it must be. Writes replace the
file atomically. `society config show|set` (society/commands/config.py) lists and edits every
field of every model here through the table in society/paths.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from society.models.config import ConfigError, read_json_object

M = TypeVar("M", bound=BaseModel)


class Settings(BaseModel):
    """Base of every settings model: unknown fields are errors; numbers and booleans are not
    read from strings ("5" is not 5), so a typo never silently means something else."""

    model_config = ConfigDict(extra="forbid", strict=True)


def one_line(path: Path, err: ValidationError) -> str:
    """The first validation error as one line: file, field, what it must be, what it got."""
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{path}: unknown setting '{field}'; see: society config show"
    message = first["msg"].removeprefix("Input ").removeprefix("Value error, ")
    message = message[0].lower() + message[1:]
    if not field:  # a rule over several fields: its message names them
        return f"{path}: {message}"
    return f"{path}: field '{field}' {message}, got {first.get('input')!r}"


def load(path: Path, model: type[M]) -> M:
    """The settings in `path` (a JSON object), or the defaults."""
    raw: dict[str, Any] = read_json_object(path)
    try:
        # Validated as JSON: strict, yet a path or a date may be written as the string it is.
        return model.model_validate_json(json.dumps(raw))
    except ValidationError as err:
        raise ConfigError(one_line(path, err)) from None


def save(path: Path, data: dict[str, Any]) -> Path:
    """Write `data` as the settings file, atomically (a reader sees the old or the new file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
