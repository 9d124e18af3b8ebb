"""MCP servers the user configured: `mcp.json` in the data folder, in the `mcpServers` format
Claude Desktop and most MCP clients share:

    {"mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "Asia/Tokyo"}},
        "docs": {"url": "http://127.0.0.1:8000/mcp", "headers": {"Authorization": "Bearer ..."}}}}

`command`/`args`/`env` start a stdio server; `url` reaches a streamable-HTTP one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from society.models.config import ConfigError, read_json_object
from society.paths import data_dir, settings_dir

MCP_FILE = "mcp.json"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True)
class McpServer:
    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    disabled: bool = False

    def describe(self) -> str:
        target = self.url or " ".join([self.command or "", *self.args])
        return f"{self.name}: {target}" + (" (disabled)" if self.disabled else "")

    def to_json(self) -> dict[str, Any]:
        if self.url:
            data: dict[str, Any] = {"url": self.url}
            if self.headers:
                data["headers"] = self.headers
        else:
            data = {"command": self.command, "args": list(self.args)}
            if self.env:
                data["env"] = self.env
        if self.disabled:
            data["disabled"] = True
        return data


def mcp_path() -> Path:
    return settings_dir() / MCP_FILE


# What each field must be, as the one-line error says it.
EXPECTED = {
    "url": "an http(s) address",
    "headers": "an object of string values",
    "command": "a program to start (stdio)",
    "args": "a list of strings",
    "env": "an object of string values",
    "disabled": "true or false",
}


def _server_model():
    """The pydantic model of one server in the mcpServers format (built on first use)."""
    from typing import Annotated

    from pydantic import BaseModel, ConfigDict, Field

    class ServerFields(BaseModel):
        model_config = ConfigDict(extra="ignore", strict=True)

        command: Annotated[str, Field(pattern=r"\S")] | None = None
        args: list[str] = []
        env: dict[str, str] = {}
        url: Annotated[str, Field(pattern=r"^https?://")] | None = None
        headers: dict[str, str] = {}
        disabled: bool = False

    return ServerFields


def parse_server(name: str, raw: Any) -> McpServer:
    from pydantic import ValidationError

    where = f"{mcp_path()}: server '{name}'"
    if not NAME.match(name):
        raise ConfigError(f"{where}: names use letters, digits, _ and -, up to 32 characters")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be an object with 'command' or 'url'")
    try:
        fields = _server_model().model_validate_json(json.dumps(raw))
    except ValidationError as err:
        field_name = str(err.errors()[0]["loc"][0])
        raise ConfigError(f"{where}: field '{field_name}' must be {EXPECTED.get(field_name, 'valid')}") from None
    if fields.url:
        return McpServer(name, url=fields.url, headers=fields.headers, disabled=fields.disabled)
    if not fields.command:
        raise ConfigError(f"{where}: give 'command' (stdio) or 'url' (streamable HTTP)")
    return McpServer(name, command=fields.command, args=tuple(fields.args), env=fields.env, disabled=fields.disabled)


def load_servers() -> dict[str, McpServer]:
    """The configured servers, in file order; none when the file does not exist."""
    path = mcp_path()
    servers = read_json_object(path).get("mcpServers", {} if not path.exists() else None)
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}: must hold an object with an 'mcpServers' object")
    return {name: parse_server(name, value) for name, value in servers.items()}


def save_servers(servers: dict[str, McpServer]) -> Path:
    from society.settings import save

    return save(mcp_path(), {"mcpServers": {name: server.to_json() for name, server in servers.items()}})


def server_params(server: McpServer) -> Any:
    """autogen-ext's parameters for `server`. A stdio server gets this process's environment
    plus its own `env`: `uvx` and `npx` need PATH, HOME, proxies and caches, and the bare
    environment other clients pass is the most common reason servers fail to start. Secrets
    of this process (API tokens, keys) are left out: a server gets a secret only when its
    own `env` in mcp.json names it."""
    import os

    from autogen_ext.tools.mcp import StdioServerParams, StreamableHttpServerParams

    from society.tools.secrets import secret_environment

    if server.url:
        return StreamableHttpServerParams(url=server.url, headers=server.headers or None)
    # The server's stderr goes to its own log, not over the user's terminal; a server that
    # fails to start is then reported with the last line it wrote there.
    log = server_log(server.name)
    return StdioServerParams(
        command="/bin/sh",
        args=["-c", 'exec "$0" "$@" 2>>"$SOCIETY_MCP_LOG"', server.command or "", *server.args],
        env={
            **{k: v for k, v in os.environ.items() if k not in secret_environment()},
            **server.env,
            "SOCIETY_MCP_LOG": str(log),
        },
        read_timeout_seconds=60,
    )


def server_log(name: str) -> Path:
    folder = data_dir() / "mcp-logs"
    folder.mkdir(exist_ok=True)
    return folder / f"{name}.log"


def last_log_line(name: str) -> str | None:
    path = server_log(name)
    if not path.exists():
        return None
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 4096))
        lines = [line.strip() for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else None
