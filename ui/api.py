"""The HTTP API: the same never-ending conversation over REST, a WebSocket that streams each
agent message as it is stored, an OpenAI-compatible `/v1/chat/completions` (so Open WebUI,
editors and the `openai` SDK join the conversation), monitoring and Prometheus metrics.

Bound to 127.0.0.1 by default; any other address needs an API token (checked as a Bearer
token or `?token=` on the WebSocket). Bodies over MAX_BODY_BYTES are refused, each client has
a request budget per minute on each door (ui/limits.py), and every error is JSON with one
clear line, never a trace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from society.conversation import MAX_INPUT_CHARS, Chunk, Conversation
from society.errors import SocietyError
from society.paths import current_user
from society.store import USER, Message
from society.users import as_user
from ui import PAGE_PATH
from ui.hub import Hub, Hubs
from ui.limits import RATE_PER_MINUTE
from ui.openai_door import (
    background_task,
    client_messages,
    completion,
    completion_body,
    completion_events,
    cut_at_stop,
    message_text,
    remember_exchange,
)

MAX_BODY_BYTES = 256_000
MAX_IMPORT_BYTES = 16_000_000  # a conversation export (about 40,000 turns); larger ones: `society import`
MAX_ID = 2**62  # ids are SQLite integers; larger numbers name nothing
MODEL_NAME = "society"
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


PANEL_PATH = "/monitoring/panel"
PUBLIC_PATHS = frozenset({"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})
DOCS_ASSETS = "/static-offline-docs/"


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, description="What the user says.")
    think: bool = Field(False, description="Reasoning mode: the planner thinks first.")


class FeedbackRequest(BaseModel):
    good: bool = Field(description="Thumbs up (true) or down (false).")
    comment: str | None = Field(None, max_length=2000)
    message_id: int | None = Field(None, ge=1, le=MAX_ID, description="The answer to rate; left out, the last answer.")


class OpenAIMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's calls of the client's tools
    tool_call_id: str | None = None  # a tool message: the call it answers
    name: str | None = None


class CompletionRequest(BaseModel):
    model: str = MODEL_NAME
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None  # {"include_usage": true}: a last chunk with the usage
    # Honoured for the answer's model calls (not the team's tool calls or routing).
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    stop: str | list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    n: int = Field(1, ge=1, le=1, description="One conversation gives one answer: n must be 1.")
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None

    def sampling(self) -> dict[str, Any]:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        cap = self.max_completion_tokens or self.max_tokens
        found = {"max_tokens": cap, "stop": stop[:4] if stop else None, "temperature": self.temperature}
        return {k: v for k, v in found.items() if v is not None}


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


def model_card() -> dict[str, Any]:
    return {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "society"}


def is_stop(frame: dict[str, Any]) -> bool:
    """A WebSocket frame asking to stop the turn: {"type": "stop"}."""
    try:
        return json.loads(frame.get("text") or "{}").get("type") == "stop"
    except (ValueError, AttributeError):
        return False


# OpenAI's error types by status, so the `openai` SDK and Open WebUI show the message.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(status: int, detail: str) -> dict[str, Any]:
    """An error as OpenAI words it ({"error": {"message", "type", "code", "param"}}), with
    the status and detail this API has always given beside them."""
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {
        "error": {"message": detail, "type": kind, "code": status, "param": None, "status": status, "detail": detail}
    }


def problem(status: int, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(error_body(status, detail), status_code=status, headers=headers)


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

    def hub() -> Hub:
        """The hub of the user this request works for (the guard below says who)."""
        return hubs.current()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        await hubs.close()

    # The API's own page (/docs) with its scripts served from here: it works offline.
    app = FastAPIOffline(
        title="society", description="One never-ending conversation with a local agent society.", lifespan=lifespan
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    def conversation() -> Conversation:
        return hub().conversation()

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

    async def run_turn(
        text: str,
        think: bool = False,
        stream: bool = False,
        instructions: str | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> AsyncIterator[Message | Chunk]:
        try:
            async with aclosing(hub().turn(text, think, "api", stream, instructions, sampling)) as said:
                async for message in said:
                    yield message
        except SocietyError as err:
            raise HTTPException(err.http_status, str(err)) from None

    async def client_call(body: CompletionRequest, instructions: str | None):
        """One model call for a client's own job: its messages as it sent them (with its
        tools, when it offers some: a call of one comes back as tool_calls), the planner's
        model, the user's turn first on the machine. Nothing is stored or done."""
        from autogen_core.models import SystemMessage

        from society.gate import Turn, in_turn

        gate = conversation().gate
        messages = [SystemMessage(content=instructions)] if instructions else []
        messages += client_messages(body.messages)
        tools = [t["function"] for t in body.tools or () if isinstance(t, dict) and isinstance(t.get("function"), dict)]
        args: dict[str, Any] = {"tools": tools} if tools else {}
        if tools and body.tool_choice == "required":
            args["tool_choice"] = "required"
        async with hub().turn_lock:  # not in the middle of a turn of the conversation
            try:
                with in_turn(Turn(sampling=body.sampling())):
                    return await gate.create("planner", messages, **args)
            except SocietyError as err:
                raise HTTPException(err.http_status, str(err)) from None

    def answer_of(messages: list[Message]) -> str:
        texts = [m.content for m in messages if m.role != USER and m.is_text]
        return texts[-1] if texts else ""

    @app.post("/chat/stop", summary="Stop the turn being played; what was said so far is kept")
    async def stop() -> dict[str, Any]:
        return {"stopped": hub().stop()}

    @app.post("/chat", summary="Say something; the team's messages of the turn come back")
    async def chat(body: ChatRequest) -> dict[str, Any]:
        async with aclosing(run_turn(body.message, body.think)) as said:
            messages = [m async for m in said]
        return {
            "turn_id": messages[0].turn_id,
            "answer": answer_of(messages),
            "messages": [m.to_dict() for m in messages],
        }

    @app.get("/history", summary="The newest messages of the conversation, oldest first")
    async def history(last: int = Query(20, ge=1, le=1000)) -> list[dict[str, Any]]:
        return [m.to_dict() for m in conversation().store.last_messages(last)]

    @app.post("/feedback", summary="Thumbs up or down on the last answer")
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        try:
            reward = hub().feedback(body.good, body.comment, body.message_id)
        except SocietyError as err:
            raise HTTPException(err.http_status, str(err)) from None
        if reward is None:
            raise HTTPException(409, "there is no answer to rate yet")
        return {"message_id": reward.message_id, "reward": reward.reward, "explicit": reward.explicit}

    @app.get("/export", summary="The whole conversation as JSON (exact) or Markdown (readable)")
    async def export(format: Literal["json", "markdown"] = "json") -> PlainTextResponse:  # noqa: A002 - the query's name
        from society import transcript

        store = conversation().store
        if format == "json":
            body, media = await asyncio.to_thread(transcript.export_json, store), "application/json"
        else:
            body, media = await asyncio.to_thread(transcript.export_markdown, store), "text/markdown; charset=utf-8"
        name = f"society-conversation.{'json' if format == 'json' else 'md'}"
        return PlainTextResponse(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @app.post("/import", summary="Add an exported conversation (the body: a JSON or Markdown export)")
    async def import_(request: Request) -> dict[str, Any]:
        from society import transcript
        from society.memory.consolidate import consolidate

        try:
            raw = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPException(400, "the body is not UTF-8 text; send the file society export wrote") from None
        data = await asyncio.to_thread(transcript.parse, raw)  # a big file never holds up other requests
        async with hub().turn_lock:  # not in the middle of a turn
            turns, messages = await asyncio.to_thread(transcript.import_data, conversation().store, data)
            if turns:  # what was imported is recalled from the next message on, like what was said
                await asyncio.to_thread(consolidate, conversation().memory_bank)
        return {"turns": turns, "messages": messages}

    @app.get("/monitoring/status", summary="GPU, VRAM, CPU, RAM, the model loaded and tokens per second")
    async def monitoring() -> dict[str, Any]:
        return await hub().live()

    @app.get(PANEL_PATH, summary="The monitoring panel's rows, as the chat page shows them")
    async def monitoring_panel(language: str = Query("en", max_length=35)) -> dict[str, Any]:
        from ui.monitor import panel

        return panel(await hub().live(), language)

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (the owner's)")
    async def prometheus() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST

        if current_user() is not None:  # the figures count every user's turns: the server's, not one user's
            raise HTTPException(403, "metrics are the server owner's; use SOCIETY_API_TOKEN")

        hub().conversation()  # the counters start from the database when it opens
        await hub().live()  # VRAM gauges as of this scrape

        return PlainTextResponse(hubs.metrics.exposition().decode(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", summary="OpenAI-compatible: the one model this API answers as")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model}", summary="OpenAI-compatible: one model")
    async def model(model: str) -> dict[str, Any]:
        if model != MODEL_NAME:
            raise HTTPException(404, f"no model {model!r}; this API answers as {MODEL_NAME!r}")
        return model_card()

    @app.post("/v1/chat/completions", summary="OpenAI-compatible: the last user message continues the conversation")
    async def completions(body: CompletionRequest):
        """The last user message is this turn's message (the conversation already holds what
        came before, so a client's history is not replayed); system and developer messages
        are instructions for this turn."""
        said = [m for m in body.messages if m.role == "user"]
        if not said:
            raise HTTPException(400, "messages has no user message")
        if (body.response_format or {}).get("type", "text") != "text":
            raise HTTPException(
                400, "response_format: only 'text' is served (the team answers in prose); ask for JSON in the message"
            )
        text = message_text(said[-1].content)
        instructions = (
            "\n".join(message_text(m.content) for m in body.messages if m.role in ("system", "developer")) or None
        )
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        sampling = body.sampling()
        if background_task(text) or body.tools:
            # A client's own job (Open WebUI's title, tags, follow-ups) or its own tools: one
            # model call, not a turn of the conversation, no search, no action of the team.
            reply = await client_call(body, instructions)
            if body.tools and not background_task(text) and isinstance(reply.content, str):
                await asyncio.to_thread(remember_exchange, conversation().store, body.messages, text, reply.content)
            if body.stream:
                events = completion_events(completion_id, created, body.model, reply, sampling.get("stop"))
                return StreamingResponse(iter(list(events)), media_type="text/event-stream")
            return completion(completion_id, created, body.model, reply, sampling.get("stop"))
        if not body.stream:
            async with aclosing(run_turn(text, instructions=instructions, sampling=sampling)) as said:
                messages = [m async for m in said]
            answer = cut_at_stop(answer_of(messages), sampling.get("stop"))
            last = next((m for m in reversed(messages) if m.role != USER and m.is_text), None)
            capped = (
                last is not None
                and "max_tokens" in sampling
                and (last.completion_tokens or 0) >= sampling["max_tokens"]
            )
            return completion_body(
                completion_id,
                created,
                body.model,
                {"role": "assistant", "content": answer},
                "length" if capped else "stop",
                sum(m.prompt_tokens or 0 for m in messages),
                sum(m.completion_tokens or 0 for m in messages),
            )

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

        async def stream() -> AsyncIterator[str]:
            yield chunk({"role": "assistant"})
            streaming: str | None = None  # the role whose answer is going out chunk by chunk
            sent = False  # messages after the first are set apart by a blank line
            used = {"prompt_tokens": 0, "completion_tokens": 0}
            try:
                async with aclosing(run_turn(text, stream=True, instructions=instructions, sampling=sampling)) as said:
                    async for item in said:
                        if isinstance(item, Chunk):
                            if streaming != item.role:
                                streaming, text_ = item.role, ("\n\n" if sent else "") + item.text
                            else:
                                text_ = item.text
                            sent = True
                            yield chunk({"content": text_})
                        elif item.role != USER and item.is_text:
                            used["prompt_tokens"] += item.prompt_tokens or 0
                            used["completion_tokens"] += item.completion_tokens or 0
                            if streaming != item.role:  # not streamed (a tool's result, a whole reply)
                                yield chunk({"content": ("\n\n" if sent else "") + item.content})
                                sent = True
                            streaming = None
            except HTTPException as err:
                # An error event, as OpenAI sends one: the SDK raises it instead of taking the
                # words for the answer.
                yield f"data: {json.dumps(error_body(err.status_code, str(err.detail)), ensure_ascii=False)}\n\n"
                yield "data: [DONE]\n\n"
                return
            yield chunk({}, "stop")
            if (body.stream_options or {}).get("include_usage"):
                usage = {**used, "total_tokens": used["prompt_tokens"] + used["completion_tokens"]}
                payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
                yield f"data: {json.dumps({**payload, 'model': body.model, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.websocket("/ws")
    async def socket(websocket: WebSocket, token_param: str | None = Query(None, alias="token")):
        allowed, user, refused = hubs.admit(
            token_param or websocket.headers.get("authorization", "").removeprefix("Bearer ").strip() or None,
            websocket.client.host if websocket.client else "unknown",
        )
        if refused:
            await websocket.close(code=4429, reason=refused[:120])
            return
        if not allowed:
            await websocket.close(code=4401, reason="missing or wrong API token")
            return
        with as_user(user):
            await converse(websocket)

    async def converse(websocket: WebSocket) -> None:
        """One socket's turns, for the user the socket said it is."""
        user = current_user()
        client = f"user {user}" if user else websocket.client.host if websocket.client else "unknown"
        if refused := hubs.budget.refusal("WebSocket", client):
            await websocket.close(code=4429, reason=refused)
            return
        await websocket.accept()
        frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        playing = asyncio.Event()  # this socket's turn is being played

        async def read() -> None:
            """Frames as they come, also during a turn: {"type": "stop"} or a closed socket
            stops this socket's turn; messages sent meanwhile wait their turn."""
            while True:
                frame = await websocket.receive()
                if playing.is_set() and (frame["type"] == "websocket.disconnect" or is_stop(frame)):
                    hub().stop()
                frames.put_nowait(frame)
                if frame["type"] == "websocket.disconnect":
                    return

        reader = asyncio.create_task(read())
        try:
            while True:
                frame = await frames.get()
                if frame["type"] == "websocket.disconnect":
                    return
                if is_stop(frame):
                    continue  # nothing (more) to stop
                if refused := hubs.budget.refusal("WebSocket", client):
                    await websocket.send_json({"type": "error", "detail": refused})
                    continue
                raw = frame.get("text")
                try:
                    if raw is None:
                        raise ValueError("a binary frame")
                    request = ChatRequest.model_validate_json(raw)
                except ValueError:
                    await websocket.send_json(
                        {"type": "error", "detail": 'send {"message": "..."} as JSON text, or {"type": "stop"}'}
                    )
                    continue
                playing.set()
                try:
                    async with aclosing(run_turn(request.message, request.think, stream=True)) as said:
                        async for item in said:
                            if isinstance(item, Chunk):
                                await websocket.send_json({"type": "chunk", "role": item.role, "text": item.text})
                            else:
                                await websocket.send_json({"type": "message", "message": item.to_dict()})
                    await websocket.send_json({"type": "done"})
                except HTTPException as err:
                    await websocket.send_json({"type": "error", "detail": str(err.detail)})
                finally:
                    playing.clear()
        except (WebSocketDisconnect, RuntimeError):  # RuntimeError: sent to a socket already closed
            return
        finally:
            reader.cancel()

    if page:
        from ui import hub as page_hubs
        from ui import mount_page

        page_hubs.current = hubs
        mount_page(app, page_prepared)
    return app
