"""The REST door: say something and get the turn's messages, stop a turn, read the history,
rate an answer, and the monitoring figures (the page's panel, Prometheus metrics)."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from society.errors import SocietyError
from society.paths import current_user
from ui.door import MAX_ID, ChatRequest, Doors, answer_of

PANEL_PATH = "/monitoring/panel"


class FeedbackRequest(BaseModel):
    good: bool = Field(description="Thumbs up (true) or down (false).")
    comment: str | None = Field(None, max_length=2000)
    message_id: int | None = Field(None, ge=1, le=MAX_ID, description="The answer to rate; left out, the last answer.")


def routes(doors: Doors) -> APIRouter:
    app = APIRouter()
    hub, conversation, run_turn, hubs = doors.hub, doors.conversation, doors.run_turn, doors.hubs

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

    return app
