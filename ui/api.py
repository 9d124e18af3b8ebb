"""The HTTP API: the same never-ending conversation through four doors, each its own module:
REST with monitoring and Prometheus metrics (rest_door.py), an OpenAI-compatible
`/v1/chat/completions` so Open WebUI, editors and the `openai` SDK join the conversation
(openai_door.py), a WebSocket that streams each agent message as it is stored
(socket_door.py), and import/export (transfer_door.py). This module is the house around
them: the guard every request passes, the page, the errors.

Bound to 127.0.0.1 by default; any other address needs an API token (checked as a Bearer
token or `?token=` on the WebSocket). Bodies over MAX_BODY_BYTES are refused, each client has
a request budget per minute on each door (ui/limits.py), and every error is JSON with one
clear line, never a trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from society.conversation import Conversation
from society.errors import SocietyError
from society.storage.users import as_user
from ui import PAGE_PATH, openai_door, rest_door, socket_door, transfer_door
from ui.door import Doors, problem
from ui.hub import Hubs
from ui.limits import RATE_PER_MINUTE
from ui.rest_door import PANEL_PATH
from ui.transfer_door import MAX_IMPORT_BYTES

MAX_BODY_BYTES = 256_000
# The page may load only its own scripts, styles and images: an image in a message (markdown
# from a model or an injected page) is not fetched from anywhere else, so a message cannot
# send what it holds to another server, or reach the viewer's LAN, when it is shown.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' data: blob:;"
    " script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline';"
    " font-src 'self' data:; connect-src 'self'; frame-ancestors 'self'; base-uri 'self';"
    " form-action 'self'"
)


def page_login(request: Request) -> dict[str, Any] | None:
    """The metadata of the page login a request carries (Chainlit's signed cookie or a
    bearer JWT), or None when it carries none that Chainlit would accept."""
    from chainlit.auth.cookie import get_token_from_cookies
    from chainlit.auth.jwt import decode_jwt

    token = get_token_from_cookies(request.cookies)
    bearer = request.headers.get("authorization", "")
    if not token and bearer.lower().startswith("bearer "):
        token = bearer[7:].strip()
    if not token:
        return None
    try:
        return decode_jwt(token).metadata or {}
    except Exception:  # noqa: BLE001 - not a login of this server: Chainlit refuses it itself
        return None


PUBLIC_PATHS = frozenset({"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})
DOCS_ASSETS = "/static-offline-docs/"


class BodyLimit:
    """Refuses request bodies over `limit` bytes however they are sent: a Content-Length
    over it at once, a chunked body (no length) as soon as what arrived passes it. The body
    is read here, at most `limit` bytes, and handed on whole."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = MAX_IMPORT_BYTES if scope.get("path") == "/import" else self.limit
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            size += len(message.get("body", b""))
            if size > limit:
                return await problem(413, f"the request body is over {limit} bytes")(scope, receive, send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def create_app(
    conversation_factory: Callable[[], Conversation] | None = None,
    token: str | None = None,
    page: bool = False,
    rate_per_minute: int = RATE_PER_MINUTE,
    page_prepared: bool = False,
    exposed: bool = False,
) -> FastAPI:
    """The API over one conversation; `token`, when set, is required on every request (the
    page asks for it at login). `page` mounts the Chainlit chat at /ui; Chainlit is one
    app per process, so only `society ui` (and the browser test's server) mounts it."""
    from society.tools.secrets import register_secret

    register_secret("SOCIETY_API_TOKEN", token)  # never shown in a tool result, however it got there
    hubs = Hubs(conversation_factory, token, rate_per_minute, exposed)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        await hubs.close()

    # The API's own page (/docs) with its scripts served from here: it works offline.
    app = FastAPIOffline(
        title="society", description="One never-ending conversation with a local agent society.", lifespan=lifespan
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.url.path == "/":
            return RedirectResponse(PAGE_PATH if page else "/docs")
        address = request.client.host if request.client else "unknown"
        if page and request.url.path.startswith(PAGE_PATH):
            # The page's scripts, styles and socket: Chainlit's login takes the token.
            return await page_request(request, call_next, address)
        if request.url.path in PUBLIC_PATHS or request.url.path.startswith(DOCS_ASSETS):
            return await call_next(request)  # the API's description; calls from /docs still need the token
        bearer = request.headers.get("authorization", "")
        allowed, user, refused = hubs.admit(bearer.removeprefix("Bearer ").strip() or None, address)
        if refused:
            return problem(429, refused, refused.retry_after)
        if not allowed and not bearer and page and request.url.path == PANEL_PATH and request.method == "GET":
            # The page's monitoring panel, from whichever worker: its login cookie is its token
            # here (a GET that changes nothing, so no other site can make use of the cookie).
            metadata = page_login(request)
            if metadata is not None and hubs.still_valid(metadata):
                allowed, user = True, metadata.get("society_user")
        if not allowed:
            return problem(401, "missing or wrong API token (send Authorization: Bearer TOKEN)")
        # A user's budget is theirs, whatever address (one proxy, one household NAT) they come from.
        client = f"user {user}" if user else address
        if refused := hubs.budget.refusal("API", client):
            return problem(429, refused, refused.retry_after)
        try:
            with as_user(user):  # the request, and the tasks it starts, work on this user's conversation
                return await call_next(request)
        except Exception as err:  # noqa: BLE001 - never a stack trace to the client
            logging.getLogger("society.api").exception("%s %s failed", request.method, request.url.path)
            return problem(500, f"internal error ({type(err).__name__}); the traceback is in society.log")

    async def page_request(request: Request, call_next, address: str):
        """A request of the page: its login cookie (or bearer) checked again against the
        users as they are now, so a removed or re-keyed user's cookie neither works nor
        renews (/auth/jwt); wrong passwords at the login counted like wrong tokens."""
        login = request.url.path == f"{PAGE_PATH}/login" and request.method == "POST"
        if login and (refused := hubs.wrong_tokens.refusal("wrong token", address, count=False)):
            return problem(429, refused, refused.retry_after)
        metadata = page_login(request)
        if metadata is not None and not hubs.still_valid(metadata):
            response = problem(401, "this login no longer holds (user removed or given a new token); log in again")
            response.delete_cookie("access_token", path="/")
            return response
        response = await call_next(request)
        if login and response.status_code == 401:
            hubs.wrong_tokens.refusal("wrong token", address)
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return problem(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(SocietyError)  # a damaged database, a broken setting: one line, its status
    async def society_error(_request: Request, err: SocietyError):
        return problem(err.http_status, str(err))

    @app.exception_handler(StarletteHTTPException)  # routing's 404 and 405 too, in the same shape
    async def http_error(_request: Request, err: StarletteHTTPException):
        return problem(err.status_code, str(err.detail))

    doors = Doors(hubs)  # each door's routes reach the hub of the user the guard admitted
    for door in (rest_door, openai_door, socket_door, transfer_door):
        app.include_router(door.routes(doors))
    if page:
        from ui import hub as page_hubs
        from ui import mount_page

        page_hubs.current = hubs
        mount_page(app, page_prepared)
    return app
