"""What the gate needs to know of a turn, and what each call of it used.

The conversation sets a `Turn` for the turn's duration as a context variable: background
work started during a turn (the judge) keeps its own turn, and nothing is written back into
the gate. What each call used (model, time) is left in the Turn as a `CallRecord` for
whoever stores the message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallRecord:
    """What the last successful call of a role used; the conversation stores it per message."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    reasoning: str | None
    fallbacks: list[str] = field(default_factory=list)
    valid_tool_reply: bool | None = None  # tools offered: was the reply a valid call or answer?
    cut_off: bool | None = None  # tools offered: did the reply reach the token limit (a loop)?
    first_calls: list | None = None  # tools offered: the model's own calls, before any holding
    first_token_ms: int | None = None  # from the call's start to its first token
    generation_ms: int | None = None  # after the first token: tokens per second is over this
    reused_tokens: int | None = None  # prompt tokens the model already held (llama.cpp's cache)


def call_record(
    model: str, result: Any, latency_ms: int, first_ms: float | None, timing: Any, wrapped: Any, fallbacks: list[str]
) -> CallRecord:
    """The record of a call that answered: its usage, its timing (the client's own when it
    keeps one, `first_ms` as seen from outside otherwise) and what the tool-call wrapper saw."""
    if timing is not None and timing.first_token_s is not None:
        first_ms = timing.first_token_s * 1000
    return CallRecord(
        model=model,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
        latency_ms=latency_ms,
        reasoning=result.thought,
        fallbacks=fallbacks,
        valid_tool_reply=getattr(wrapped, "valid", None),
        cut_off=getattr(wrapped, "cut_off", None),
        first_calls=getattr(wrapped, "first_calls", None),
        first_token_ms=None if first_ms is None else int(first_ms),
        generation_ms=int(timing.generation_s * 1000) if timing is not None else None,
        reused_tokens=getattr(timing, "reused_tokens", None),
    )


@dataclass
class Turn:
    """The turn a model call belongs to, and what its calls used."""

    turn_id: int | None = None
    reasoning_roles: frozenset[str] = frozenset()
    background: bool = False  # work outside the conversation (judge, summary): leaves no model loaded
    failure: str | None = None  # why the last call found no model, for a clean error
    calls: dict[str, CallRecord] = field(default_factory=dict)  # the last successful call per role
    # What a client asked of this turn only (an OpenAI client's system message): every role's
    # model is told, just before the request.
    instructions: str | None = None
    # What a client asked of this turn's answer (an OpenAI client's max_tokens, stop,
    # temperature): applied to its calls that write text, not to tool calls or held output.
    sampling: dict[str, Any] = field(default_factory=dict)


CURRENT_TURN: ContextVar[Turn | None] = ContextVar("society_turn", default=None)


def current_turn() -> Turn:
    """The turn of the running task, or a throwaway one outside any turn."""
    return CURRENT_TURN.get() or Turn()


@contextmanager
def in_turn(turn: Turn) -> Iterator[Turn]:
    """Make `turn` the current one for the calls made inside (and the tasks started there)."""
    token = CURRENT_TURN.set(turn)
    try:
        yield turn
    finally:
        try:
            CURRENT_TURN.reset(token)
        except ValueError:  # closed from another context (an abandoned generator): nothing to undo
            pass


TRACE_ENV = "SOCIETY_TRACE"  # set: each call's whole prompt is stored with its record


def store_call(
    store: Any, role: str, model: str, result: Any, latency_ms: int, prompt: Any, error: str | None = None
) -> None:
    """One model call in the store's `calls` table (a failed one with `error`)."""
    import json
    import os

    traced = None
    if prompt is not None and os.environ.get(TRACE_ENV):
        traced = json.dumps([m.model_dump(mode="json") for m in prompt], ensure_ascii=False)
    store.record_call(
        turn_id=current_turn().turn_id,
        role=role,
        model=model,
        ok=int(error is None),
        error=error,
        prompt_tokens=result.usage.prompt_tokens if result else None,
        completion_tokens=result.usage.completion_tokens if result else None,
        latency_ms=latency_ms,
        prompt=traced,
    )
