"""The HTTP API: the same never-ending conversation over REST, a WebSocket that streams each
agent message as it is stored, an OpenAI-compatible `/v1/chat/completions` (so Open WebUI,
editors and the `openai` SDK join the conversation), monitoring and Prometheus metrics.

Bound to 127.0.0.1 by default; any other address needs an API token (checked as a Bearer
token or `?token=` on the WebSocket). Bodies over MAX_BODY_BYTES are refused, each client has
a request budget per minute, and every error is JSON with one clear line, never a trace.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from society.conversation import MAX_INPUT_CHARS, Conversation, InputError, TurnFailed
from society.gate import NoModelAvailable
from society.store import USER, Message

MAX_BODY_BYTES = 256_000
RATE_PER_MINUTE = 60
MODEL_NAME = "society"


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, description="What the user says.")
    think: bool = Field(False, description="Reasoning mode: the planner thinks first.")


class FeedbackRequest(BaseModel):
    good: bool = Field(description="Thumbs up (true) or down (false).")
    comment: str | None = Field(None, max_length=2000)


class OpenAIMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class CompletionRequest(BaseModel):
    model: str = MODEL_NAME
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False


class Metrics:
    """Prometheus figures of this process."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.turns = Counter("society_turns", "Turns answered", ["status"], registry=self.registry)
        self.latency = Histogram(
            "society_turn_seconds", "Seconds per turn", registry=self.registry, buckets=(1, 2, 5, 10, 30, 60, 120, 300)
        )
        self.tokens_per_second = Gauge(
            "society_tokens_per_second", "Last answer's generation speed", ["model"], registry=self.registry
        )
        self.fallbacks = Counter(
            "society_fallbacks", "Fallbacks down the model ladder", ["from_model"], registry=self.registry
        )
        self.rewards = Histogram(
            "society_reward", "Rewards of answers", registry=self.registry, buckets=(-1, -0.5, 0, 0.5, 1)
        )
        self.vram_used = Gauge("society_vram_used_mb", "VRAM in use (0 without a GPU)", registry=self.registry)
        self.vram_total = Gauge("society_vram_total_mb", "VRAM in all (0 without a GPU)", registry=self.registry)

    def observe_turn(self, status: str, seconds: float, messages: list[Message], fallbacks: list[dict]) -> None:
        self.turns.labels(status).inc()
        self.latency.observe(seconds)
        for message in messages:
            if message.model and message.completion_tokens and message.latency_ms:
                self.tokens_per_second.labels(message.model).set(
                    message.completion_tokens / (message.latency_ms / 1000)
                )
        for fallback in fallbacks:
            self.fallbacks.labels(fallback["from_model"]).inc()


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "detail": detail}}, status_code=status)


def create_app(conversation_factory: Callable[[], Conversation] | None = None, token: str | None = None) -> FastAPI:
    """The API over one conversation; `token`, when set, is required on every request."""
    state: dict[str, Any] = {"conversation": None}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if state["conversation"] is not None:
            await state["conversation"].close()

    app = FastAPI(
        title="society", description="One never-ending conversation with a local agent society.", lifespan=lifespan
    )
    turn_lock = asyncio.Lock()  # one turn at a time: the conversation is one thread
    metrics = Metrics()
    calls: dict[str, deque[float]] = defaultdict(deque)

    def conversation() -> Conversation:
        if state["conversation"] is None:
            state["conversation"] = (conversation_factory or (lambda: Conversation(entry_point="api")))()
        return state["conversation"]

    def authorised(supplied: str | None) -> bool:
        return token is None or (supplied is not None and hmac.compare_digest(supplied, token))

    @app.middleware("http")
    async def guard(request: Request, call_next):
        bearer = request.headers.get("authorization", "")
        if not authorised(bearer.removeprefix("Bearer ").strip() or None):
            return problem(401, "missing or wrong API token (send Authorization: Bearer TOKEN)")
        size = request.headers.get("content-length")
        if size and size.isdigit() and int(size) > MAX_BODY_BYTES:
            return problem(413, f"the request body is over {MAX_BODY_BYTES} bytes")
        client = request.client.host if request.client else "unknown"
        window = calls[client]
        now = time.monotonic()
        while window and now - window[0] > 60:
            window.popleft()
        if len(window) >= RATE_PER_MINUTE:
            return problem(429, f"more than {RATE_PER_MINUTE} requests a minute from {client}; wait a little")
        window.append(now)
        try:
            return await call_next(request)
        except Exception as err:  # noqa: BLE001 - never a stack trace to the client
            return problem(500, f"internal error ({type(err).__name__}); see society.log")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return problem(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, err: HTTPException):
        return problem(err.status_code, str(err.detail))

    async def run_turn(text: str, think: bool = False) -> AsyncIterator[Message]:
        started = time.perf_counter()
        said: list[Message] = []
        status = "done"
        async with turn_lock:
            current = conversation()
            try:
                async for message in current.turn(text, think):
                    said.append(message)
                    yield message
            except InputError as err:
                status = "refused"
                raise HTTPException(400, str(err)) from None
            except (NoModelAvailable, TurnFailed) as err:
                status = "failed"
                raise HTTPException(503, str(err)) from None
            finally:
                turn = said[0].turn_id if said else None
                metrics.observe_turn(
                    status, time.perf_counter() - started, said, current.store.fallbacks(turn) if turn else []
                )

    def answer_of(messages: list[Message]) -> str:
        texts = [m.content for m in messages if m.role != USER and m.is_text]
        return texts[-1] if texts else ""

    @app.post("/chat", summary="Say something; the team's messages of the turn come back")
    async def chat(body: ChatRequest) -> dict[str, Any]:
        messages = [m async for m in run_turn(body.message, body.think)]
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
        reward = conversation().feedback(body.good, body.comment)
        if reward is None:
            raise HTTPException(409, "there is no answer to rate yet")
        if reward.reward is not None:
            metrics.rewards.observe(reward.reward)
        return {"message_id": reward.message_id, "reward": reward.reward, "explicit": reward.explicit}

    @app.get("/monitoring/status", summary="GPU, VRAM, CPU, RAM, models and the database")
    async def monitoring() -> dict[str, Any]:
        from society import status

        figures = await asyncio.to_thread(status.collect)
        gpu = figures.get("machine", {}).get("gpu") or {}
        metrics.vram_used.set(gpu.get("vram_used_mb") or 0)
        metrics.vram_total.set(gpu.get("vram_total_mb") or 0)
        return figures

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    async def prometheus() -> PlainTextResponse:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return PlainTextResponse(generate_latest(metrics.registry).decode(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/chat/completions", summary="OpenAI-compatible: the last user message continues the conversation")
    async def completions(body: CompletionRequest):
        said = [m for m in body.messages if m.role == "user"]
        if not said:
            raise HTTPException(400, "messages has no user message")
        content = said[-1].content
        text = (
            content
            if isinstance(content, str)
            else " ".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))
        )
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not body.stream:
            messages = [m async for m in run_turn(text)]
            answer = answer_of(messages)
            usage = {
                "prompt_tokens": sum(m.prompt_tokens or 0 for m in messages),
                "completion_tokens": sum(m.completion_tokens or 0 for m in messages),
            }
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": usage,
            }

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
            try:
                async for message in run_turn(text):
                    if message.role != USER and message.is_text:
                        yield chunk(
                            {"content": f"{message.content}\n" if message.role != "planner" else message.content}
                        )
            except HTTPException as err:
                yield chunk({"content": f"[society: {err.detail}]"})
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.websocket("/ws")
    async def socket(websocket: WebSocket, token_param: str | None = Query(None, alias="token")):
        if not authorised(
            token_param or websocket.headers.get("authorization", "").removeprefix("Bearer ").strip() or None
        ):
            await websocket.close(code=4401, reason="missing or wrong API token")
            return
        await websocket.accept()
        try:
            while True:
                raw = await websocket.receive_text()
                try:
                    request = ChatRequest.model_validate_json(raw)
                except ValueError:
                    await websocket.send_json({"type": "error", "detail": 'send {"message": "..."} as JSON'})
                    continue
                try:
                    async for message in run_turn(request.message, request.think):
                        await websocket.send_json({"type": "message", "message": message.to_dict()})
                    await websocket.send_json({"type": "done"})
                except HTTPException as err:
                    await websocket.send_json({"type": "error", "detail": str(err.detail)})
        except WebSocketDisconnect:
            return

    return app
