"""The model registry: `OAI_CONFIG_LIST.json`, AutoGen's list format extended with what the
ladder needs (backend, VRAM need, abilities, roles allowed).

A malformed file stops with one error naming the entry and the field; it never half-loads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from roles import ROLE_NAMES  # names only: importing roles loads no AutoGen
from society.errors import SocietyError
from society.paths import data_dir

CONFIG_ENV = "SOCIETY_CONFIG"
CONFIG_NAME = "OAI_CONFIG_LIST.json"
BACKENDS = ("ollama", "openai", "llama_cpp")
ABILITIES = ("reasoning", "tools")
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


class ConfigError(SocietyError, ValueError):
    """The model list cannot be used; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class ModelEntry:
    """One rung of the model ladder."""

    model: str
    backend: str
    base_url: str | None = None
    api_key: str | None = None
    model_path: str | None = None
    vram_mb: int = 0
    abilities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("*",)
    context_window: int = 4096
    max_tokens: int = 512
    timeout_s: float = 120.0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def on_gpu(self) -> bool:
        return self.vram_mb > 0

    def allows(self, role: str) -> bool:
        return "*" in self.roles or role in self.roles

    def has(self, ability: str) -> bool:
        return ability in self.abilities

    def resolved_model_path(self) -> Path:
        """The GGUF file of an embedded entry; `pkg:PACKAGE/FILE` names a file shipped in a package."""
        if not self.model_path:
            raise ConfigError(f"{self.model}: field 'model_path' is required for llama_cpp")
        if self.model_path.startswith("pkg:"):
            package, _, filename = self.model_path[4:].partition("/")
            import importlib.util

            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise FileNotFoundError(f"package {package!r} is not installed")
            return Path(next(iter(spec.submodule_search_locations))) / filename
        return Path(self.model_path).expanduser()


T = TypeVar("T")


def read_json_object(path: Path) -> dict[str, Any]:
    """A settings file holding one JSON object; {} when the file does not exist."""
    if not path.exists():
        return {}
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; a settings file holds one JSON object")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text (binary, or saved as UTF-16?); save it as UTF-8 JSON") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must hold one JSON object")
    return raw


def config_path() -> Path:
    """`$SOCIETY_CONFIG`, else the data folder's copy, else the one shipped with the project."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    user_copy = data_dir() / CONFIG_NAME
    if user_copy.exists():
        return user_copy
    repo_copy = Path(__file__).resolve().parent.parent / CONFIG_NAME
    if repo_copy.exists():
        return repo_copy
    return Path(__file__).resolve().parent / CONFIG_NAME  # wheel install: force-included copy


def load_entries(path: Path | None = None) -> list[ModelEntry]:
    """Read and validate the model list, in order of preference."""
    path = path or config_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; set {CONFIG_ENV} or create it") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: must be a non-empty JSON list of model entries")
    entries = [_parse_entry(path, index, item) for index, item in enumerate(raw, start=1)]
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        if entry.model in seen:
            raise ConfigError(f"{path}: entry {index} ({entry.model}): field 'model' repeats an earlier entry")
        seen.add(entry.model)
    return entries


def _parse_entry(path: Path, index: int, item: Any) -> ModelEntry:
    where = f"{path}: entry {index}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a JSON object, got {type(item).__name__}")
    model = item.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{where}: field 'model' must be a non-empty string")
    where = f"{where} ({model})"

    def fail(name: str, expected: str) -> ConfigError:
        return ConfigError(f"{where}: field '{name}' must be {expected}, got {item.get(name)!r}")

    backend = item.get("api_type", "openai")
    if backend not in BACKENDS:
        raise fail("api_type", "one of " + ", ".join(BACKENDS))
    base_url = item.get("base_url")
    if backend == "ollama" and base_url is None:
        base_url = os.environ.get("OLLAMA_HOST", DEFAULT_OLLAMA_URL)
        if not base_url.startswith("http"):
            base_url = "http://" + base_url
    if backend == "openai" and not isinstance(base_url, str):
        raise fail("base_url", "the server's URL (for example http://127.0.0.1:8000/v1)")
    if base_url is not None and not (isinstance(base_url, str) and base_url.startswith(("http://", "https://"))):
        raise fail("base_url", "an http:// or https:// URL")
    model_path = item.get("model_path")
    if backend == "llama_cpp" and not (isinstance(model_path, str) and model_path):
        raise fail("model_path", "a path to a GGUF file or pkg:PACKAGE/FILE")

    def integer(name: str, default: int, minimum: int) -> int:
        value = item.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise fail(name, f"an integer >= {minimum}")
        return value

    def names(name: str, default: tuple[str, ...], allowed: tuple[str, ...] | None) -> tuple[str, ...]:
        value = item.get(name, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(name, "a list of strings")
        if allowed is not None and any(v not in allowed for v in value):
            raise fail(name, "a list drawn from " + ", ".join(allowed))
        return tuple(value)

    roles = names("roles", ("*",), ("*", *ROLE_NAMES, "selector", "summarizer"))
    timeout = item.get("timeout", 120)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise fail("timeout", "a positive number of seconds")
    options = item.get("options", {})
    if not isinstance(options, dict):
        raise fail("options", "a JSON object")
    return ModelEntry(
        model=model,
        backend=backend,
        base_url=base_url.rstrip("/") if base_url else None,
        api_key=item.get("api_key"),
        model_path=model_path,
        vram_mb=integer("vram_mb", 0, 0),
        abilities=names("abilities", (), ABILITIES),
        roles=roles,
        context_window=integer("context_window", 4096, 512),
        max_tokens=integer("max_tokens", 512, 1),
        timeout_s=float(timeout),
        options=options,
    )
