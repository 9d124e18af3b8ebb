"""The OpenAI door's own pieces: a client's job that is not a turn of the conversation (Open
WebUI's title, tags and follow-up prompts, a client offering its own tools), its messages as
the model reads them, and the completion in OpenAI's shape, whole or as one streamed event."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from society.conversation import Chunk
from society.errors import SocietyError
from society.storage.store import USER
from ui.door import Doors, answer_of, error_body

if TYPE_CHECKING:
    from autogen_core.models import CreateResult, LLMMessage

# Open WebUI's background tasks (title, tags, follow-ups, query generation, autocomplete) all
# send a prompt beginning so; answered as one model call, they never become turns, searches or
# actions of the team.
TASK_MARK = "### Task:"


def background_task(text: str) -> bool:
    return text.lstrip().startswith(TASK_MARK)


def message_text(content: str | list[dict[str, Any]] | None) -> str:
    """An OpenAI message's content as text (its text parts, when it has parts)."""
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))


def client_messages(messages: list[Any]) -> list[LLMMessage]:
    """A client's user, assistant and tool messages (its tool calls and their results
    included) as autogen-core messages; system and developer messages are the caller's."""
    from autogen_core import FunctionCall
    from autogen_core.models import (
        AssistantMessage,
        FunctionExecutionResult,
        FunctionExecutionResultMessage,
        UserMessage,
    )

    converted: list[LLMMessage] = []
    names: dict[str, str] = {}
    for message in messages:
        if message.role == "user":
            converted.append(UserMessage(content=message_text(message.content), source="user"))
        elif message.role == "assistant" and message.tool_calls:
            calls = []
            for call in message.tool_calls:
                function = call.get("function") or {}
                names[call.get("id", "")] = function.get("name", "")
                calls.append(
                    FunctionCall(
                        id=call.get("id", ""),
                        name=function.get("name", ""),
                        arguments=function.get("arguments") or "{}",
                    )
                )
            converted.append(AssistantMessage(content=calls, source="assistant"))
        elif message.role == "assistant":
            converted.append(AssistantMessage(content=message_text(message.content), source="assistant"))
        elif message.role == "tool":
            call_id = message.tool_call_id or ""
            result = FunctionExecutionResult(
                call_id=call_id,
                content=message_text(message.content),
                name=names.get(call_id, message.name or ""),
                is_error=False,
            )
            converted.append(FunctionExecutionResultMessage(content=[result]))
    return converted


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    """The text up to the first stop sequence (the model stops there; a message the team
    wrote whole may hold one too)."""
    for sequence in stop or ():
        if sequence and sequence in text:
            text = text[: text.index(sequence)]
    return text


def _message(result: CreateResult, stop: list[str] | None) -> tuple[dict[str, Any], str]:
    if isinstance(result.content, list):
        calls = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in result.content
        ]
        return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
    finish = "length" if result.finish_reason == "length" else "stop"
    return {"role": "assistant", "content": cut_at_stop(str(result.content), stop)}, finish


def completion_body(
    completion_id: str, created: int, model: str, message: dict[str, Any], finish: str, prompt: int, written: int
) -> dict:
    """A chat.completion in OpenAI's shape (one choice)."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": written, "total_tokens": prompt + written},
    }


def completion(completion_id: str, created: int, model: str, result: CreateResult, stop: list[str] | None) -> dict:
    message, finish = _message(result, stop)
    usage = result.usage
    return completion_body(completion_id, created, model, message, finish, usage.prompt_tokens, usage.completion_tokens)


def completion_events(completion_id: str, created: int, model: str, result: CreateResult, stop: list[str] | None):
    """The same completion as server-sent events: the message in one chunk, then the finish."""
    message, finish = _message(result, stop)
    delta = dict(message)
    if "tool_calls" in delta:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(delta["tool_calls"])]
    head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
    for part, end in ((delta, None), ({}, finish)):
        payload = {**head, "choices": [{"index": 0, "delta": part, "finish_reason": end}]}
        yield f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


def remember_exchange(store, messages: list, text: str, answer: str) -> None:
    """A client's own-tools exchange into the conversation once it is answered: the user's
    message, the client's tool calls and their results since it, and the answer, as one turn
    (so memory and learning see these chats too). A reply that is a call of the client's tool
    is stored with the answer that follows it, so the user's message is stored once."""
    from society.tools.secrets import redact

    last_user = max(i for i, m in enumerate(messages) if m.role == "user")
    turn = store.begin_turn(text, "api")
    for message in messages[last_user + 1 :]:
        for call in message.tool_calls or () if message.role == "assistant" else ():
            function = call.get("function") or {}
            line = f"{function.get('name')}({function.get('arguments') or ''})"
            store.add_message(turn.turn_id, "planner", redact(line), kind="tool_call")
        if message.role == "tool":
            store.add_message(turn.turn_id, "planner", redact(message_text(message.content)), kind="tool_result")
    store.add_message(turn.turn_id, "planner", redact(answer))
    store.end_turn(turn.turn_id, "done")


MODEL_NAME = "society"


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


def model_card() -> dict[str, Any]:
    return {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "society"}


def routes(doors: Doors) -> APIRouter:
    """`/v1/models` and `/v1/chat/completions`: the last user message continues the
    conversation; a client's own jobs and tools get one model call."""
    app = APIRouter()
    hub, conversation, run_turn = doors.hub, doors.conversation, doors.run_turn

    async def client_call(body: CompletionRequest, instructions: str | None):
        """One model call for a client's own job: its messages as it sent them (with its
        tools, when it offers some: a call of one comes back as tool_calls), the planner's
        model, the user's turn first on the machine. Nothing is stored or done."""
        from autogen_core.models import SystemMessage

        from society.models.turns import Turn, in_turn

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

    return app
