"""The WebSocket door: each agent message streamed as it is written, a stop frame heard
during the turn, the API token as a Bearer header or `?token=`."""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect

from society.conversation import Chunk
from society.paths import current_user
from society.storage.users import as_user
from ui.door import ChatRequest, Doors


def is_stop(frame: dict[str, Any]) -> bool:
    """A WebSocket frame asking to stop the turn: {"type": "stop"}."""
    try:
        return json.loads(frame.get("text") or "{}").get("type") == "stop"
    except (ValueError, AttributeError):
        return False


def routes(doors: Doors) -> APIRouter:
    app = APIRouter()
    hub, run_turn, hubs = doors.hub, doors.run_turn, doors.hubs

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

    return app
