"""Researcher: web search, reading pages and MCP servers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from roles.base import Kit, RoleSpec

if TYPE_CHECKING:
    from society.tools.toolbox import Toolbox


def toolbox(kit: Kit) -> Toolbox:
    """web_search and fetch_url, plus every tool of the MCP servers in mcp.json."""
    from society.tools.mcp_config import load_servers
    from society.tools.toolbox import Toolbox
    from society.tools.web import web_tools

    return Toolbox(web_tools(kit.guard), load_servers(), kit.guard, kit.notify)


ROLE = RoleSpec(
    name="researcher",
    description="Searches the web, reads pages and asks MCP servers for facts the team lacks.",
    ready=True,
    tool_iterations=3,
    toolbox=toolbox,
    triggers=(r"\b(search|look up|google|browse|web|news|latest)\b", r"検索|調べ|ニュース|最新"),
    required=("cite where each fact came from",),
)
