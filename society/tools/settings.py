"""Tool settings: `tools.json` in the data folder. Where the executor may read and write, what
needs the user's approval, the sandbox's limits and the search provider.

A malformed file stops with one line naming the field; a missing one means the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from society.models.config import ConfigError
from society.paths import current_user, data_dir, settings_dir
from society.settings import Settings, load, save

SETTINGS_NAME = "tools.json"
Policy = Literal["auto", "ask", "deny"]

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
Positive = Field(gt=0)


class Limits(Settings):
    """What one command may use. Each holds for the command as a whole unless it says
    otherwise; a model's argument can lower the timeout for its call, never raise it."""

    timeout_s: Annotated[float, Positive] = 30.0  # wall clock; the whole process tree is killed after it
    cpu_s: Annotated[int, Positive] = 60  # CPU seconds per process
    memory_mb: Annotated[int, Positive] = 2048  # all the command's processes together (and each one's address space)
    file_mb: Annotated[int, Positive] = 256  # largest file a command may write
    processes: Annotated[int, Positive] = 128  # the whole sandbox, so a fork bomb stops here
    output_chars: Annotated[int, Positive] = 8000  # what the model sees of a command's output
    tmp_mb: Annotated[int, Positive] = 64  # the sandbox's private /tmp and /dev/shm, each
    disk_mb: Annotated[int, Positive] = 512  # how much the command may add to the workspace's disk
    files: Annotated[int, Positive] = 10_000  # how many files and folders the command may make


class ToolSettings(Settings):
    workspace: Path
    read_roots: list[Path] = []
    write_roots: list[Path] = []
    policies: dict[str, Policy] = Field(default_factory=lambda: dict(DEFAULT_POLICIES))
    allow_unsandboxed: bool = False
    search_provider: Literal["ddgs", "searxng"] = "ddgs"
    searxng_url: str | None = None
    limits: Limits = Field(default_factory=Limits)

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, raw: Any) -> Any:
        """The file keeps the search provider in its own object, and lists only the
        policies it changes."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        search = raw.pop("search", None)
        if isinstance(search, dict):
            raw.setdefault("search_provider", search.get("provider", "ddgs"))
            raw.setdefault("searxng_url", search.get("searxng_url"))
        elif search is not None:
            raw["search_provider"] = search  # reported as the wrong type below
        if isinstance(raw.get("policies"), dict):
            raw["policies"] = {**DEFAULT_POLICIES, **raw["policies"]}
        raw.setdefault("workspace", str(default_workspace()))
        if current_user() is not None and _inside(raw["workspace"], settings_dir()):
            # The server's data folder holds every user's: a workspace named inside it (the
            # owner's, saved into the shared tools.json) is each user's own one.
            raw["workspace"] = type(raw["workspace"])(default_workspace())  # str from a file, Path in code
        return raw

    @field_validator("workspace", "read_roots", "write_roots", mode="after")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [Path(p).expanduser() for p in value]
        return Path(value).expanduser()

    @model_validator(mode="after")
    def _searxng_needs_url(self) -> ToolSettings:
        if self.search_provider == "searxng" and not (self.searxng_url or "").startswith("http"):
            raise ValueError("search.searxng_url must be the http(s) address of a SearXNG instance")
        return self

    def policy(self, action: str) -> str:
        if action.startswith("mcp:") and action not in self.policies:
            return self.policies.get("mcp", "auto")
        return self.policies.get(action, "ask")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def settings_path() -> Path:
    return settings_dir() / SETTINGS_NAME


def load_settings() -> ToolSettings:
    """The settings from `tools.json`, or the defaults; the workspace folder is created."""
    settings = load(settings_path(), ToolSettings)
    try:
        settings.workspace.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(
            f"{settings_path()}: field 'workspace' is a file ({settings.workspace}); give a folder"
        ) from None
    return settings


def default_workspace() -> Path:
    """The workspace of whoever is served: a folder in their own data folder."""
    return data_dir() / "workspace"


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).expanduser().resolve().is_relative_to(folder.resolve())


def save_settings(settings: ToolSettings) -> Path:
    """Write `settings` to the shared tools.json; the default workspace is left out, so
    each user of a shared server keeps their own."""
    data = settings.to_json()
    if Path(data["workspace"]) == default_workspace():
        del data["workspace"]
    data["search"] = {"provider": data.pop("search_provider"), "searxng_url": data.pop("searxng_url")}
    return save(settings_path(), data)
