"""What every door of the HTTP API shares: the hub of the user a request works for, a turn
of their conversation played for it, and errors in one JSON shape (OpenAI's, so the `openai`
SDK and Open WebUI show the message)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from society.conversation import MAX_INPUT_CHARS, Chunk, Conversation
from society.errors import SocietyError
from society.storage.store import USER, Message
from ui.hub import Hub, Hubs

MAX_ID = 2**62  # ids are SQLite integers; larger numbers name nothing


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_INPUT_CHARS, description="What the user says.")
    think: bool = Field(False, description="Reasoning mode: the planner thinks first.")


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


def answer_of(messages: list[Message]) -> str:
    texts = [m.content for m in messages if m.role != USER and m.is_text]
    return texts[-1] if texts else ""


class Doors:
    """The users' hubs, as each door's routes reach them (the guard says whose request it is)."""

    def __init__(self, hubs: Hubs):
        self.hubs = hubs

    def hub(self) -> Hub:
        """The hub of the user this request works for."""
        return self.hubs.current()

    def conversation(self) -> Conversation:
        return self.hub().conversation()

    async def run_turn(
        self,
        text: str,
        think: bool = False,
        stream: bool = False,
        instructions: str | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> AsyncIterator[Message | Chunk]:
        try:
            async with aclosing(self.hub().turn(text, think, "api", stream, instructions, sampling)) as said:
                async for message in said:
                    yield message
        except SocietyError as err:
            raise HTTPException(err.http_status, str(err)) from None
