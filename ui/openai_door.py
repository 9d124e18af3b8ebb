"""The OpenAI door's own pieces: a client's job that is not a turn of the conversation (Open
WebUI's title, tags and follow-up prompts, a client offering its own tools), its messages as
the model reads them, and the completion in OpenAI's shape, whole or as one streamed event."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

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
