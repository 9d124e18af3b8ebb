"""Tool settings: `tools.json` in the data folder. Where the executor may read and write, what
needs the user's approval, the sandbox's limits and the search provider.

A malformed file stops with one line naming the field; a missing one means the defaults.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from society.config import ConfigError, read_json_object
from society.paths import data_dir

SETTINGS_NAME = "tools.json"
POLICIES = ("auto", "ask", "deny")

# What each kind of action needs by default. Reads and sandboxed commands are safe to run
# unasked; anything that reaches outside the workspace or the sandbox asks first.
DEFAULT_POLICIES = {
    "run_command": "auto",  # inside the sandbox, no network
    "network": "ask",  # a command that wants the network
    "unsandboxed": "ask",  # a command run without bubblewrap (only if allowed at all)
    "read_file": "auto",
    "list_dir": "auto",
    "write_file": "auto",  # inside the workspace
    "edit_file": "auto",  # inside the workspace
    "write_outside_workspace": "ask",
    "web_search": "auto",
    "fetch_url": "auto",
    "fetch_private": "ask",  # fetch_url of a loopback, private or link-local address (SSRF)
    "write_protected": "ask",  # VCS metadata, editor settings, shell start-up files
    "mcp": "auto",  # tools of MCP servers the user configured; `mcp:<server>` overrides
}


@dataclass
class Limits:
    """What one command may use. Each holds for the command as a whole unless it says
    otherwise; a model's argument can lower the timeout for its call, never raise it."""

    timeout_s: float = 30.0  # wall clock; the whole process tree is killed after it
    cpu_s: int = 60  # CPU seconds per process
    memory_mb: int = 2048  # all the command's processes together (and each one's address space)
    file_mb: int = 256  # largest file a command may write
    processes: int = 128  # the whole sandbox, so a fork bomb stops here
    output_chars: int = 8000  # what the model sees of a command's output
    tmp_mb: int = 64  # the sandbox's private /tmp and /dev/shm, each
    disk_mb: int = 512  # how much the command may add to the workspace's disk
    files: int = 10_000  # how many files and folders the command may make


@dataclass
class ToolSettings:
    workspace: Path
    read_roots: list[Path] = field(default_factory=list)
    write_roots: list[Path] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    allow_unsandboxed: bool = False
    search_provider: str = "ddgs"
    searxng_url: str | None = None
    limits: Limits = field(default_factory=Limits)

    def policy(self, action: str) -> str:
        if action.startswith("mcp:") and action not in self.policies:
            return self.policies.get("mcp", "auto")
        return self.policies.get(action, "ask")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["workspace"] = str(self.workspace)
        data["read_roots"] = [str(p) for p in self.read_roots]
        data["write_roots"] = [str(p) for p in self.write_roots]
        return data


def settings_path() -> Path:
    return data_dir() / SETTINGS_NAME


def _fail(field_name: str, why: str) -> ConfigError:
    return ConfigError(f"{settings_path()}: field '{field_name}' {why}")


def _paths(raw: dict[str, Any], key: str) -> list[Path]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(key, "must be a list of folder paths")
    return [Path(v).expanduser() for v in value]


def load_settings() -> ToolSettings:
    """The settings from `tools.json`, or the defaults; the workspace folder is created."""
    path = settings_path()
    raw = read_json_object(path)
    workspace = raw.get("workspace", str(data_dir() / "workspace"))
    if not isinstance(workspace, str) or not workspace:
        raise _fail("workspace", "must be a folder path")
    policies = dict(DEFAULT_POLICIES)
    given = raw.get("policies", {})
    if not isinstance(given, dict):
        raise _fail("policies", "must be an object of action: auto|ask|deny")
    for action, value in given.items():
        if value not in POLICIES:
            raise _fail(f"policies.{action}", f"must be one of {', '.join(POLICIES)}, got {value!r}")
        policies[action] = value
    limits = Limits()
    given_limits = raw.get("limits", {})
    if not isinstance(given_limits, dict):
        raise _fail("limits", "must be an object")
    for name, value in given_limits.items():
        if name not in Limits.__dataclass_fields__:
            raise _fail(f"limits.{name}", f"is unknown; known: {', '.join(Limits.__dataclass_fields__)}")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise _fail(f"limits.{name}", f"must be a positive number, got {value!r}")
        setattr(limits, name, type(getattr(limits, name))(value))
    search = raw.get("search", {})
    provider = search.get("provider", "ddgs") if isinstance(search, dict) else None
    if provider not in ("ddgs", "searxng"):
        raise _fail("search.provider", f"must be 'ddgs' or 'searxng', got {provider!r}")
    searxng_url = search.get("searxng_url")
    if provider == "searxng" and not (isinstance(searxng_url, str) and searxng_url.startswith("http")):
        raise _fail("search.searxng_url", "must be the http(s) address of a SearXNG instance")
    settings = ToolSettings(
        workspace=Path(workspace).expanduser(),
        read_roots=_paths(raw, "read_roots"),
        write_roots=_paths(raw, "write_roots"),
        policies=policies,
        allow_unsandboxed=bool(raw.get("allow_unsandboxed", False)),
        search_provider=provider,
        searxng_url=searxng_url,
        limits=limits,
    )
    settings.workspace.mkdir(parents=True, exist_ok=True)
    return settings


def save_settings(settings: ToolSettings) -> Path:
    path = settings_path()
    data = settings.to_json()
    data["search"] = {"provider": data.pop("search_provider"), "searxng_url": data.pop("searxng_url")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
