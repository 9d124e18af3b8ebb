"""Attack suite, web: addresses an injected page would have the researcher fetch to reach
the user's own network (server-side request forgery, class 7 in docs/security.md). Each case
is one attempt with its expected outcome; no request may reach the local service unasked."""

from __future__ import annotations

from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest

from society.tools import web
from society.tools.approval import Guard, ToolRefused, allow_all
from society.tools.settings import ToolSettings
from society.tools.web import WebUnavailable, is_private_address, web_tools


@contextmanager
def serving(handler):
    """The port of a local HTTP server answering with `handler` (a BaseHTTPRequestHandler)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()


@contextmanager
def recording_server():
    """("127.0.0.1:PORT", the paths asked for) of a server that answers every GET with a pixel."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    with serving(Handler) as port:
        yield f"127.0.0.1:{port}", hits


@pytest.fixture
def service():
    """A local service (an admin panel on loopback) that records every request it gets."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path.startswith("/redirect-to/"):
                self.send_response(302)
                self.send_header("location", self.path.removeprefix("/redirect-to/").replace("|", "/"))
                self.end_headers()
                return
            data = b"<html><body><p>LOCAL-ADMIN-PANEL</p></body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    with serving(Handler) as port:
        yield port, hits


def fetcher(tmp_path, approver=None, **policies):
    settings = ToolSettings(workspace=tmp_path, policies={**ToolSettings(workspace=tmp_path).policies, **policies})
    tools = {tool.name: tool for tool in web_tools(Guard(settings, approver) if approver else Guard(settings))}
    return tools["fetch_url"]


LOCAL_ADDRESSES = {
    "loopback": "http://127.0.0.1:{port}/",
    "localhost": "http://localhost:{port}/",
    "ipv6_loopback": "http://[::1]:{port}/",
    "unspecified": "http://0.0.0.0:{port}/",
    "short_form": "http://127.1:{port}/",
    "decimal": "http://2130706433:{port}/",
    "hex": "http://0x7f000001:{port}/",
    "ipv4_mapped": "http://[::ffff:127.0.0.1]:{port}/",
    "userinfo_trick": "http://example.com@127.0.0.1:{port}/",
}


@pytest.mark.parametrize("name", LOCAL_ADDRESSES)
async def test_local_addresses_need_approval_and_are_never_contacted_unasked(name, service, tmp_path):
    port, hits = service
    url = LOCAL_ADDRESSES[name].format(port=port)
    with pytest.raises((ToolRefused, WebUnavailable, ValueError)):
        await fetcher(tmp_path).run_json({"url": url}, None)
    assert hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[fd00::1]/",
        "http://100.64.0.1/",
    ],
    ids=["cloud_metadata", "private_10", "private_192", "unique_local", "carrier_nat"],
)
async def test_private_networks_are_refused_before_any_connection(url, tmp_path):
    with pytest.raises(ToolRefused, match="fetch_private"):
        await fetcher(tmp_path).run_json({"url": url}, None)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/", "//127.0.0.1/"])
async def test_other_schemes_are_refused(url, tmp_path):
    with pytest.raises(ValueError, match="http"):
        await fetcher(tmp_path, approver=allow_all).run_json({"url": url}, None)


async def test_a_redirect_to_another_local_host_is_checked_again(service, tmp_path):
    port, hits = service
    approved = []

    async def approve_first_host_only(action, detail):
        approved.append(detail)
        return detail.startswith("http://127.0.0.1")

    url = f"http://127.0.0.1:{port}/redirect-to/http:||localhost:{port}|admin"
    with pytest.raises(ToolRefused):
        await fetcher(tmp_path, approver=approve_first_host_only).run_json({"url": url}, None)
    assert hits == [f"/redirect-to/http:||localhost:{port}|admin"]  # the redirect target was never requested
    assert len(approved) == 2


async def test_a_name_that_resolves_publicly_but_connects_locally_is_caught(service, tmp_path, monkeypatch):
    """DNS rebinding: the first lookup says public, the connection lands on loopback."""
    port, hits = service

    async def public(host, port):
        return ["93.184.216.34"]

    monkeypatch.setattr(web, "_addresses", public)
    with pytest.raises(ToolRefused, match="fetch_private"):
        await fetcher(tmp_path).run_json({"url": f"http://127.0.0.1:{port}/"}, None)
    assert len(hits) <= 1  # the headers may have been sent; no body reached the model


async def test_an_approved_local_fetch_works(service, tmp_path):
    port, hits = service
    text = await fetcher(tmp_path, approver=allow_all).run_json({"url": f"http://127.0.0.1:{port}/"}, None)
    assert "LOCAL-ADMIN-PANEL" in text and hits == ["/"]


async def test_the_policy_can_allow_local_fetches_without_asking(service, tmp_path):
    port, _ = service
    text = await fetcher(tmp_path, fetch_private="auto").run_json({"url": f"http://localhost:{port}/"}, None)
    assert "LOCAL-ADMIN-PANEL" in text


def test_address_classification():
    for address in (
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "fe80::1",
        "fd12::1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "2002:7f00:1::",
    ):
        assert is_private_address(address), address
    for address in ("93.184.216.34", "2606:4700:4700::1111", "1.1.1.1"):
        assert not is_private_address(address), address


# -- issue 38: compressed bombs ------------------------------------------------------------------


@pytest.fixture
def bomb_service():
    """A page of 200 MB of spaces sent gzip-compressed (200 kB), once or twice over."""
    import gzip

    once = gzip.compress(b" " * 200_000_000, compresslevel=9)
    bodies = {"/once": (once, "gzip"), "/twice": (gzip.compress(once), "gzip, gzip")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            data, encoding = bodies[self.path]
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-encoding", encoding)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    with serving(Handler) as port:
        yield port


@pytest.mark.parametrize("path", ["/once", "/twice"])
async def test_a_compressed_page_is_never_inflated_past_the_fetch_limit(path, bomb_service, tmp_path):
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            await fetcher(tmp_path, allow_all).run_json({"url": f"http://127.0.0.1:{bomb_service}{path}"}, None)
        except WebUnavailable as err:
            assert path == "/twice" and "only one gzip or deflate layer" in str(err)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 60_000_000  # 3 MB read, then parsed; was the whole 200 MB (2.5 GB in the attack) at once
