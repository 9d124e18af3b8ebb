"""`society mcp`: the MCP servers in mcp.json."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from society.commands import fail, guard

if TYPE_CHECKING:
    pass

app = typer.Typer(help="MCP servers the researcher may use (mcp.json in the data folder).", no_args_is_help=True)


@app.command("list")
def mcp_list(
    check: Annotated[bool, typer.Option("--check", help="Start each server and list its tools.")] = False,
) -> None:
    """List the configured MCP servers (and, with --check, their tools)."""
    from society.tools.mcp_config import load_servers, mcp_path

    servers = guard(load_servers)
    if not servers:
        print(f"no MCP servers configured ({mcp_path()}); add one with: society mcp add NAME -- COMMAND ARGS")
        return
    for server in servers.values():
        print(server.describe())
    if check:
        import asyncio

        from society.tools.toolbox import Toolbox

        async def probe() -> None:
            box = Toolbox([], servers, notify=lambda line: print(line, file=sys.stderr))
            tools = await box.list_tools()
            for name, state in box.server_status().items():
                print(f"{name}: {state}")
            for tool in tools:
                about = (tool.get("description") or "").strip().splitlines()
                print(f"  {tool['name']}: {about[0][:100] if about else ''}")
            await box.stop()

        asyncio.run(probe())


@app.command("add", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def mcp_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short name; its tools are called NAME__TOOL.")],
    url: Annotated[str | None, typer.Option("--url", help="Address of a streamable-HTTP server.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE for a stdio server.")] = None,
) -> None:
    """Add or replace a server: `society mcp add time -- uvx mcp-server-time` or `--url URL`."""
    from society.tools.mcp_config import load_servers, parse_server, save_servers

    command = list(ctx.args)
    if bool(url) == bool(command):
        raise fail("give either a command after -- (stdio) or --url (streamable HTTP)")
    raw: dict = {"url": url} if url else {"command": command[0], "args": command[1:]}
    if env:
        pairs = [item.partition("=") for item in env]
        if any(not key or sep != "=" for key, sep, _ in pairs):
            raise fail("--env takes KEY=VALUE")
        raw["env"] = {key: value for key, _, value in pairs}
    servers = guard(load_servers)
    servers[name] = guard(lambda: parse_server(name, raw))
    print(f"saved {servers[name].describe()} to {save_servers(servers)}")


@app.command("remove")
def mcp_remove(name: Annotated[str, typer.Argument(help="The server's name.")]) -> None:
    """Remove a server from mcp.json."""
    from society.tools.mcp_config import load_servers, save_servers

    servers = guard(load_servers)
    if name not in servers:
        raise fail(f"no MCP server named {name!r}; configured: {', '.join(servers) or 'none'}")
    del servers[name]
    print(f"removed {name} from {save_servers(servers)}")
