"""Real MCP servers as separate processes: mcp-server-time (PyPI, through uvx), the reference
server-everything (npm) and Playwright MCP driving Debian chromium."""

import json
import shutil
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from society.storage.store import Store
from society.tools.mcp_config import McpServer, load_servers, mcp_path
from society.tools.toolbox import Toolbox
from tests.conftest import scripted_gate, society

TIME = McpServer("time", command="uvx", args=("--from", "mcp-server-time==2026.10.19", "mcp-server-time"))
EVERYTHING = McpServer("everything", command="npx", args=("-y", "@modelcontextprotocol/server-everything@2026.8.31"))
PLAYWRIGHT = McpServer(
    "browser",
    command="npx",
    args=(
        "-y",
        "@playwright/mcp@0.0.83",
        "--headless",
        "--isolated",
        "--no-sandbox",
        "--browser",
        "chromium",
        "--executable-path",
        "/usr/bin/chromium",
        "--output-dir",
        "/tmp/society-playwright-mcp",
    ),
)

needs_uvx = pytest.mark.skipif(not shutil.which("uvx"), reason="uvx is not installed")
needs_npx = pytest.mark.skipif(not shutil.which("npx"), reason="node's npx is not installed")


def texts(result):
    return "".join(part.content for part in result.result if hasattr(part, "content"))


@needs_uvx
@needs_npx
async def test_servers_start_on_first_use_and_a_broken_one_does_not_stop_the_rest():
    reports = []
    broken = McpServer(
        "broken", command="python3", args=("-c", "import sys; sys.stderr.write('no API key'); sys.exit(1)")
    )
    box = Toolbox([], {"time": TIME, "everything": EVERYTHING, "broken": broken}, notify=reports.append)
    assert box.server_status() == {"time": "not started", "everything": "not started", "broken": "not started"}
    names = [tool["name"] for tool in await box.list_tools()]
    try:
        assert "time__get_current_time" in names and "everything__echo" in names
        assert box.server_status()["broken"] == "failed to start: no API key"
        assert any("'broken'" in line and "no API key" in line for line in reports)
        now = await box.call_tool("time__get_current_time", {"timezone": "Asia/Tokyo"})
        assert not now.is_error and "Asia/Tokyo" in texts(now)
        echo = await box.call_tool("everything__echo", {"message": "こんにちは"})
        assert "こんにちは" in texts(echo)
        assert (await box.call_tool("nope__tool", {})).is_error
    finally:
        await box.stop()


@needs_npx
@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed (.ci/run installs it)")
async def test_playwright_mcp_reads_a_local_page_in_chromium():
    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            body = "<html><title>Shrine</title><body><h1>Fushimi Inari</h1><p>Ten thousand gates.</p></body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    Thread(target=server.serve_forever, daemon=True).start()
    box = Toolbox([], {"browser": PLAYWRIGHT})
    try:
        names = [tool["name"] for tool in await box.list_tools()]
        assert "browser__browser_navigate" in names, box.server_status()
        page = await box.call_tool("browser__browser_navigate", {"url": f"http://127.0.0.1:{server.server_port}/"})
        assert not page.is_error and "Page Title: Shrine" in texts(page), texts(page)
        snapshot = await box.call_tool("browser__browser_snapshot", {})
        assert "Fushimi Inari" in texts(snapshot) and "Ten thousand gates" in texts(snapshot), texts(snapshot)
    finally:
        await box.stop()
        server.shutdown()


@needs_uvx
async def test_the_researcher_lists_and_calls_a_configured_server_through_the_team():
    from society.assemble import open_conversation

    mcp_path().write_text(json.dumps({"mcpServers": {"time": TIME.to_json()}}))
    store = Store()
    call = {"tool": "time__get_current_time", "arguments": {"timezone": "Asia/Tokyo"}}
    replies = [json.dumps(call), json.dumps({"tool": "answer", "arguments": {"text": "Tokyo time found."}}), "Done."]
    gate, client = scripted_gate(replies, store)
    conversation = open_conversation(store, gate, enabled=["planner", "researcher"])
    try:
        messages = [m async for m in conversation.turn("@researcher what time is it in Tokyo?")]
    finally:
        await conversation.close()
    kinds = [(m.role, m.kind) for m in messages]
    assert ("researcher", "tool_call") in kinds and ("researcher", "tool_result") in kinds
    result = next(m for m in messages if m.kind == "tool_result")
    assert result.content.startswith("time__get_current_time returned:") and "Asia/Tokyo" in result.content
    # The researcher was shown the server's tools, as text with a constraining schema.
    first = client.create_calls[0]
    assert "time__get_current_time" in json.dumps(first["extra_create_args"]["response_format"])
    assert [m.kind for m in store.turn_messages(messages[0].turn_id)].count("tool_result") == 1


def test_mcp_commands_manage_the_file(tmp_path):
    added = society("mcp", "add", "time", "--", "uvx", "mcp-server-time", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert society("mcp", "add", "docs", "--url", "http://127.0.0.1:9/mcp", cwd=tmp_path).returncode == 0
    assert list(load_servers()) == ["time", "docs"]
    assert load_servers()["time"].args == ("mcp-server-time",)
    listed = society("mcp", "list", cwd=tmp_path)
    assert "time: uvx mcp-server-time" in listed.stdout and "docs: http://127.0.0.1:9/mcp" in listed.stdout
    assert society("mcp", "remove", "docs", cwd=tmp_path).returncode == 0
    assert list(load_servers()) == ["time"]
    missing = society("mcp", "remove", "docs", cwd=tmp_path)
    assert missing.returncode == 2 and "no MCP server named 'docs'" in missing.stderr
    mcp_path().write_text('{"mcpServers": {"x": {"args": []}}}')
    bad = society("mcp", "list", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "server 'x'" in bad.stderr and "'command'" in bad.stderr
