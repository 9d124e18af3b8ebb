"""The researcher's web tools: `web_search` (DuckDuckGo through `ddgs`, or a SearXNG
instance) and `fetch_url` (a page as readable Markdown, extracted by trafilatura). Both are
capped in size and time; offline they fail with one line and the team goes on.

`fetch_url` takes its address from a model that may be reading an attacker's page, so it
must not become a way into the user's own network (server-side request forgery): an address
on loopback, a private or unique-local network, link-local (cloud metadata at
169.254.169.254) or any other non-public range needs the `fetch_private` approval (default
ask). The name is resolved first, the address actually connected to is checked again (a
name can resolve differently the second time), and every redirect is checked the same way.
Proxies from the environment are not used: the address connected to must be the page's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Annotated
from urllib.parse import urljoin, urlsplit

from society.tools import as_tool
from society.tools.approval import Guard

SEARCH_TIMEOUT_S = 15
FETCH_TIMEOUT_S = 20
MAX_FETCH_BYTES = 3_000_000
MAX_PAGE_CHARS = 6000
USER_AGENT = "Mozilla/5.0 (compatible; society-researcher/0.1)"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class BoundedDecoder:
    """A response body's content encoding undone here, never past the bytes still wanted:
    httpx decodes a chunk whole, and 2 kB sent as "gzip, gzip" came out as 2.5 GB before any
    cap was counted. One layer of gzip or deflate, or none; anything else is refused."""

    def __init__(self, encoding: str, url: str):
        import zlib

        layers = [e.strip().lower() for e in encoding.split(",") if e.strip() and e.strip().lower() != "identity"]
        if len(layers) > 1 or (layers and layers[0] not in ("gzip", "x-gzip", "deflate")):
            raise WebUnavailable(f"{url} sent its page encoded as {encoding!r}; only one gzip or deflate layer is read")
        self._zlib = zlib
        self._inflate = None
        if layers:
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16 if "gzip" in layers[0] else zlib.MAX_WBITS)

    def decode(self, raw: bytes, wanted: int) -> bytes:
        """At most `wanted` bytes of what `raw` (the next bytes as sent) holds."""
        if self._inflate is None:
            return raw[: max(0, wanted)]
        if wanted <= 0:
            return b""
        try:
            # What a full `wanted` left undecoded stays so: the fetch stops there.
            return self._inflate.decompress(self._inflate.unconsumed_tail + raw, wanted)
        except self._zlib.error as err:
            raise WebUnavailable(f"the page's compressed body is damaged ({err})") from None


class WebUnavailable(RuntimeError):
    """The web could not be reached; the message is one line saying why."""


def _ddgs(query: str, max_results: int) -> list[dict]:
    from ddgs import DDGS
    from ddgs.exceptions import DDGSException

    try:
        return DDGS(timeout=SEARCH_TIMEOUT_S).text(query, max_results=max_results) or []
    except DDGSException as err:
        raise WebUnavailable(f"web search failed (offline or rate-limited): {str(err).splitlines()[0][:160]}") from None


async def _searxng(url: str, query: str, max_results: int) -> list[dict]:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=SEARCH_TIMEOUT_S) as client:
            response = await client.get(url.rstrip("/") + "/search", params={"q": query, "format": "json"})
            response.raise_for_status()
    except httpx.HTTPError as err:
        raise WebUnavailable(f"SearXNG at {url} did not answer: {type(err).__name__}: {err}"[:200]) from None
    results = response.json().get("results", [])[:max_results]
    return [{"title": r.get("title", ""), "href": r.get("url", ""), "body": r.get("content", "")} for r in results]


def page_to_markdown(body: bytes, content_type: str, url: str) -> str:
    """Readable text of a fetched page: trafilatura's Markdown for HTML, the text otherwise."""
    if "html" in content_type or body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        import trafilatura

        text = trafilatura.extract(body, url=url, output_format="markdown", include_links=True, with_metadata=True)
        if not text:  # pages with almost no prose: take every text node rather than nothing
            text = trafilatura.html2txt(body)
        return text or ""
    return body.decode("utf-8", errors="replace")


def is_private_address(address: str) -> bool:
    """Whether an IP address is anything but a public unicast one (IPv4 inside IPv6 too)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
    return not ip.is_global or ip.is_multicast


async def _addresses(host: str, port: int) -> list[str]:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise WebUnavailable(f"could not resolve {host}: {err.strerror or err}") from None
    return sorted({info[4][0] for info in found})


class _Reach:
    """Asks for `fetch_private` once per host of one fetch, before a private address is used."""

    def __init__(self, guard: Guard):
        self.guard = guard
        self.approved: set[str] = set()

    async def check(self, url: str, addresses: list[str]) -> None:
        host = urlsplit(url).hostname or ""
        private = [a for a in addresses if is_private_address(a)]
        if private and host not in self.approved:
            await self.guard.check("fetch_private", f"{url} (resolves to {', '.join(private)}, not a public address)")
            self.approved.add(host)


async def _checked_url(url: str, reach: _Reach) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) address")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    await reach.check(url, await _addresses(parts.hostname, port))
    return url


def _connected_address(response) -> str | None:
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    return peer[0] if peer else None


def web_tools(guard: Guard) -> list:
    settings = guard.settings

    async def web_search(
        query: Annotated[str, "what to search the web for"],
        max_results: Annotated[int, "how many results, 1 to 10"] = 5,
    ) -> str:
        """Search the web. Example: "search for rust news" -> {"query": "rust news"} (検索, 調べて)"""
        await guard.check("web_search", query)
        count = max(1, min(10, max_results))
        if settings.search_provider == "searxng" and settings.searxng_url:
            results = await _searxng(settings.searxng_url, query, count)
        else:
            results = await asyncio.to_thread(_ddgs, query, count)
        if not results:
            return f"no results for {query!r}"
        return "\n".join(
            f"{i}. {r.get('title', '')}\n   {r.get('href', '')}\n   {r.get('body', '')[:300]}"
            for i, r in enumerate(results, 1)
        )

    async def fetch_url(
        url: Annotated[str, "the http or https address of the page"],
        max_chars: Annotated[int, "most characters of text to return"] = MAX_PAGE_CHARS,
    ) -> str:
        """Fetch a web page by its address. Example: "open https://a.org" -> {"url": "https://a.org"} (ページ, 取得)"""
        import httpx

        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) address")
        await guard.check("fetch_url", url)
        reach = _Reach(guard)
        body = bytearray()
        content_type = ""
        try:
            async with httpx.AsyncClient(
                timeout=FETCH_TIMEOUT_S,
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
            ) as client:
                async with asyncio.timeout(FETCH_TIMEOUT_S):
                    for _ in range(MAX_REDIRECTS + 1):
                        url = await _checked_url(url, reach)
                        async with client.stream("GET", url) as response:
                            connected = _connected_address(response)
                            if connected is None or is_private_address(connected):
                                await reach.check(url, [connected or "unknown"])
                            location = response.headers.get("location")
                            if response.status_code in REDIRECTS and location:
                                url = urljoin(url, location)
                                continue
                            response.raise_for_status()
                            content_type = response.headers.get("content-type", "")
                            decoder = BoundedDecoder(response.headers.get("content-encoding", ""), url)
                            async for chunk in response.aiter_raw():
                                body.extend(decoder.decode(chunk, MAX_FETCH_BYTES - len(body)))
                                if len(body) >= MAX_FETCH_BYTES:
                                    break
                            break
                    else:
                        raise WebUnavailable(f"{url} redirected more than {MAX_REDIRECTS} times")
        except TimeoutError:
            raise WebUnavailable(f"{url} did not answer within {FETCH_TIMEOUT_S} s") from None
        except httpx.HTTPStatusError as err:
            raise WebUnavailable(f"{url} answered {err.response.status_code} {err.response.reason_phrase}") from None
        except httpx.HTTPError as err:
            raise WebUnavailable(f"could not fetch {url}: {type(err).__name__}: {err}"[:200]) from None
        text = await asyncio.to_thread(page_to_markdown, bytes(body), content_type, url)
        limit = max(200, min(max_chars, 50_000))
        if len(text) > limit:
            text = text[:limit] + f"\n[truncated: {len(text) - limit} more characters]"
        return text or f"{url} has no readable text"

    return [as_tool(fn) for fn in (web_search, fetch_url)]
