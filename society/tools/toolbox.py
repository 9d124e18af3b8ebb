"""A role's tools as one AutoGen workbench: its own Python tools plus the tools of every MCP
server the user configured. Servers start on first use and stay up; one that fails to start
or dies is reported by name, its tools drop out, and it is tried again a little later, while
everything else keeps working."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from typing import Any

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool, TextResultContent, ToolResult, ToolSchema, Workbench

from society.toolcalls.grounding import Grounder
from society.tools.approval import Guard
from society.tools.mcp_config import McpServer, last_log_line, server_params
from society.tools.secrets import redact

START_TIMEOUT_S = 120  # a first `npx`/`uvx` start downloads the server
LIST_TIMEOUT_S = 30
RETRY_AFTER_S = 60
SEPARATOR = "__"  # MCP tools are named server__tool, so two servers never clash


def one_line(err: BaseException) -> str:
    """An exception as one short line; task groups are unwrapped to their first cause."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}"[:240] if text else type(err).__name__


class _Server:
    def __init__(self, config: McpServer):
        self.config = config
        self.bench: Any = None
        self.tools: list[ToolSchema] = []
        self.failed_at = 0.0
        self.error: str | None = None


class Toolbox(Workbench):
    def __init__(
        self,
        tools: list[BaseTool[Any, Any]],
        servers: Mapping[str, McpServer] | None = None,
        guard: Guard | None = None,
        notify: Callable[[str], None] | None = None,
        grounders: Mapping[str, Grounder] | None = None,
    ):
        """`grounders`: per tool name, how to correct a small model's arguments from what the
        call names (see society/toolcalls/client.py); the model gate applies them."""
        self._tools = {tool.name: tool for tool in tools}
        self.grounders = dict(grounders or {})
        self._servers = {name: _Server(s) for name, s in (servers or {}).items() if not s.disabled}
        self._routes: dict[str, tuple[str, str]] = {}
        self._guard = guard
        self.notify = notify or (lambda line: None)
        self._lock = asyncio.Lock()

    # -- servers ----------------------------------------------------------------------------

    async def _ensure(self, server: _Server) -> None:
        if server.bench is not None or time.monotonic() - server.failed_at < RETRY_AFTER_S:
            return
        from autogen_ext.tools.mcp import McpWorkbench

        command = server.config.command
        if command and not shutil.which(command, path={**os.environ, **server.config.env}.get("PATH")):
            server.failed_at, server.error = time.monotonic(), f"failed to start: command '{command}' not found"
            self.notify(f"MCP server '{server.config.name}' {server.error}; its tools are unavailable")
            return
        bench = McpWorkbench(server_params(server.config))
        try:
            await asyncio.wait_for(bench.start(), START_TIMEOUT_S)
            server.tools = await asyncio.wait_for(bench.list_tools(), LIST_TIMEOUT_S)
        except BaseException as err:  # noqa: BLE001 - any failure of one server is reported, not raised
            if isinstance(err, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
                raise
            said = last_log_line(server.config.name) if server.config.command else None
            await self._drop(server, bench, f"failed to start: {said or one_line(err)}")
            return
        server.bench, server.error = bench, None

    async def _drop(self, server: _Server, bench: Any, why: str) -> None:
        server.failed_at, server.error, server.bench, server.tools = time.monotonic(), why, None, []
        self.notify(f"MCP server '{server.config.name}' {why}; its tools are unavailable, the rest keep working")
        try:
            await asyncio.wait_for(bench.stop(), 5)
        except BaseException:  # noqa: BLE001 - it is already broken; stopping is best effort
            pass

    def server_status(self) -> dict[str, str]:
        """Each server: 'up (N tools)', 'not started' or its last error."""
        status = {}
        for name, server in self._servers.items():
            if server.bench is not None:
                status[name] = f"up ({len(server.tools)} tools)"
            else:
                status[name] = server.error or "not started"
        return status

    # -- the Workbench interface --------------------------------------------------------------

    async def list_tools(self) -> list[ToolSchema]:
        async with self._lock:
            await asyncio.gather(*(self._ensure(s) for s in self._servers.values()))
        schemas: list[ToolSchema] = [tool.schema for tool in self._tools.values()]
        self._routes = {}
        for name, server in self._servers.items():
            for tool in server.tools:
                routed = f"{name}{SEPARATOR}{tool['name']}"
                self._routes[routed] = (name, tool["name"])
                schemas.append(ToolSchema(**{**tool, "name": routed}))
        return schemas

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
        call_id: str | None = None,
    ) -> ToolResult:
        """Run one tool; its result, written by something untrusted (a command, a page, a
        server), has every known secret value redacted before anyone stores or shows it."""
        result = await self._call(name, arguments, cancellation_token, call_id)
        parts = [
            TextResultContent(content=redact(part.content)) if isinstance(part, TextResultContent) else part
            for part in result.result
        ]
        return ToolResult(name=result.name, result=parts, is_error=result.is_error)

    async def _call(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
        call_id: str | None = None,
    ) -> ToolResult:
        arguments = dict(arguments or {})
        cancellation_token = cancellation_token or CancellationToken()
        try:
            if name in self._tools:
                tool = self._tools[name]
                value = await tool.run_json(arguments, cancellation_token, call_id=call_id)
                return self._result(name, tool.return_value_as_string(value))
            if name not in self._routes:
                known = ", ".join([*self._tools, *self._routes]) or "none"
                return self._result(name, f"there is no tool named {name}; tools: {known}", error=True)
            server_name, tool_name = self._routes[name]
            if self._guard:
                await self._guard.check(f"mcp:{server_name}", f"{tool_name} {json.dumps(arguments)[:200]}")
            return await self._call_mcp(self._servers[server_name], name, tool_name, arguments, cancellation_token)
        except Exception as err:  # noqa: BLE001 - a failed tool is a result the model reads
            return self._result(name, one_line(err), error=True)

    async def _call_mcp(
        self, server: _Server, name: str, tool: str, arguments: dict[str, Any], token: CancellationToken
    ) -> ToolResult:
        bench = server.bench
        if bench is None:
            return self._result(name, f"MCP server '{server.config.name}' is not running: {server.error}", error=True)
        result = await bench.call_tool(tool, arguments, token)
        if result.is_error:
            try:  # an error may mean the server died: a cheap request tells
                await asyncio.wait_for(bench.list_tools(), 5)
            except BaseException as err:  # noqa: BLE001
                if isinstance(err, asyncio.CancelledError):
                    raise
                await self._drop(server, bench, f"stopped ({one_line(err)})")
        return ToolResult(name=name, result=result.result, is_error=result.is_error)

    @staticmethod
    def _result(name: str, text: str, error: bool = False) -> ToolResult:
        return ToolResult(name=name, result=[TextResultContent(content=text)], is_error=error)

    async def start(self) -> None:
        await self.list_tools()

    async def stop(self) -> None:
        for server in self._servers.values():
            if server.bench is not None:
                bench, server.bench = server.bench, None
                try:
                    await asyncio.wait_for(bench.stop(), 10)
                except BaseException:  # noqa: BLE001 - shutting down: best effort
                    pass

    async def reset(self) -> None:
        return None

    async def save_state(self) -> Mapping[str, Any]:
        return {}

    async def load_state(self, state: Mapping[str, Any]) -> None:
        return None
