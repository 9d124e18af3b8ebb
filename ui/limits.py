"""What one client may take from the server: a request budget per client and door, and a
deadline for sending a request, so neither a flood nor a slow client starves the others.

Budgets are kept per (door, address): the REST API, the WebSocket and the chat page each
have their own, so a script flooding the API from this machine (every local client has the
address 127.0.0.1) leaves the page and the socket their full budget, and WebSocket and page
messages are counted like requests. The request deadline is a uvicorn protocol: a client
that has not sent a whole request (headers and body) within REQUEST_READ_S of starting it
is disconnected, and the number of connections is capped, so a few hundred half-open
connections cannot hold every descriptor.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

RATE_PER_MINUTE = 60
REQUEST_READ_S = 10.0
MAX_CONNECTIONS = 200  # uvicorn answers 503 beyond this (WebSockets and requests in flight)
_PRUNE_AT = 10_000  # windows kept before idle ones are dropped


class Refusal(str):
    """A refusal's line, with the seconds until the client may try again (Retry-After)."""

    retry_after: int = 60

    def __new__(cls, line: str, retry_after: int) -> Refusal:
        made = super().__new__(cls, line)
        made.retry_after = retry_after
        return made


class Budget:
    """At most `per_minute` uses per key in any sliding minute."""

    def __init__(self, per_minute: int = RATE_PER_MINUTE):
        self.per_minute = per_minute
        self._used: dict[tuple[str, str], deque[float]] = {}

    def refusal(self, door: str, client: str, count: bool = True) -> Refusal | None:
        """None when `client` may use `door` now (the use is counted, unless not `count`);
        else the line to show."""
        now = time.monotonic()
        if len(self._used) > _PRUNE_AT:
            self._used = {key: used for key, used in self._used.items() if used and now - used[-1] < 60}
        used = self._used.setdefault((door, client), deque())
        while used and now - used[0] > 60:
            used.popleft()
        if len(used) >= self.per_minute:
            wait = max(1, int(60 - (now - used[0])) + 1)
            return Refusal(
                f"more than {self.per_minute} {door} requests a minute from {client}; try again in {wait} s", wait
            )
        if count:
            used.append(now)
        return None


class RequestDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline on reading each request: armed when a
    connection opens and when the next request on it starts, cleared once the request is
    read whole (or upgraded to a WebSocket). uvicorn itself only times out idle keep-alive
    connections, so a client that sends half its headers and waits held its socket forever."""

    read_s = REQUEST_READ_S
    _deadline: asyncio.TimerHandle | None = None
    _upgraded = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._upgraded:
            return
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            if self._deadline is None and data:
                self._arm()
        else:
            self._clear()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        # The upgrade happens at the request's headers, while h11 still reads SEND_BODY, so
        # data_received would re-arm the deadline: it closed every WebSocket (the page's, the
        # API's) REQUEST_READ_S after it opened. The connection is the WebSocket's now.
        self._upgraded = True
        self._clear()
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._clear()  # the keep-alive timeout takes over until the next request starts

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._clear()
        self._deadline = self.loop.call_later(self.read_s, self._too_slow)

    def _clear(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing() and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self.logger.info("closed a connection that sent no whole request in %.0f s", self.read_s)
            self.transport.close()


def serve(app, host: str, port: int, workers: int = 1) -> None:
    """Run `app` with uvicorn under these limits; with several `workers`, `app` is the import
    string of a factory each worker process calls."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=RequestDeadline,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        workers=workers,
        factory=isinstance(app, str),
    )
