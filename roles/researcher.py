"""Researcher: web search, reading pages and MCP servers."""

from roles.base import RoleSpec

ROLE = RoleSpec(
    name="researcher",
    description="Searches the web, reads pages and asks MCP servers for facts the team lacks.",
    ready=True,
    triggers=(r"\b(search|look up|google|browse|web|news|latest)\b", r"検索|調べ|ニュース|最新"),
    required=("cite where each fact came from",),
)
