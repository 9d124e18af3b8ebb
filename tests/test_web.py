"""The researcher's web tools against a local HTTP server, and offline."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from society.tools.approval import Guard
from society.tools.settings import ToolSettings
from society.tools.web import WebUnavailable, web_tools

ARTICLE = """<!doctype html><html><head><title>Kyoto guide</title></head><body>
<nav>Home | About | Login</nav>
<article><h1>Visiting Kyoto</h1>
<p>Fushimi Inari has thousands of vermilion torii gates climbing the mountain behind the shrine.</p>
<p>伏見稲荷大社は千本鳥居で知られています。朝早く行くと人が少ないです。</p>
<p>Arashiyama's bamboo grove is best visited early in the morning before the crowds arrive.</p>
</article><footer>Copyright 2026</footer></body></html>"""


@pytest.fixture
def site():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/big":
                body = ("<p>" + "word " * 2000 + "</p>") * 20
            elif self.path == "/missing":
                self.send_response(404)
                self.end_headers()
                return
            else:
                body = ARTICLE
            data = body.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def tools(tmp_path, **settings):
    # The test site is on loopback, which fetch_url otherwise asks about (tests/test_attacks_web.py).
    policies = {**ToolSettings(workspace=tmp_path).policies, "fetch_private": "auto"}
    guard = Guard(ToolSettings(workspace=tmp_path, policies=policies, **settings))
    return {tool.name: tool for tool in web_tools(guard)}


async def test_fetch_url_returns_the_readable_text_as_markdown(site, tmp_path):
    text = await tools(tmp_path)["fetch_url"].run_json({"url": site + "/kyoto"}, None)
    assert "vermilion torii" in text and "千本鳥居" in text
    assert "Login" not in text  # navigation is not article text


async def test_fetch_url_caps_what_it_returns(site, tmp_path):
    text = await tools(tmp_path)["fetch_url"].run_json({"url": site + "/big", "max_chars": 1000}, None)
    assert len(text) < 1200 and "[truncated:" in text


async def test_fetch_url_failures_are_one_clear_line(site, tmp_path):
    fetch = tools(tmp_path)["fetch_url"]
    with pytest.raises(WebUnavailable, match="answered 404") as missing:
        await fetch.run_json({"url": site + "/missing"}, None)
    with pytest.raises(WebUnavailable, match="could not fetch") as offline:
        await fetch.run_json({"url": "http://127.0.0.1:9/"}, None)
    for err in (missing, offline):
        assert "\n" not in str(err.value)


async def test_search_offline_is_one_clear_line(tmp_path):
    search = tools(tmp_path, search_provider="searxng", searxng_url="http://127.0.0.1:9")["web_search"]
    with pytest.raises(WebUnavailable, match="SearXNG at http://127.0.0.1:9 did not answer") as err:
        await search.run_json({"query": "kyoto"}, None)
    assert "\n" not in str(err.value)
