"""The import and export door: the whole conversation out as JSON (exact) or Markdown
(readable), and an export added back in (consolidated into memory at once)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from ui.door import Doors

MAX_IMPORT_BYTES = 16_000_000  # a conversation export (about 40,000 turns); larger ones: `society import`


def routes(doors: Doors) -> APIRouter:
    app = APIRouter()
    hub, conversation = doors.hub, doors.conversation

    @app.get("/export", summary="The whole conversation as JSON (exact) or Markdown (readable)")
    async def export(format: Literal["json", "markdown"] = "json") -> PlainTextResponse:  # noqa: A002 - the query's name
        from society.storage import transcript

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
        from society.memory.consolidate import consolidate
        from society.storage import transcript

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

    return app
