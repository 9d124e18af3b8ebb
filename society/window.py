"""What a model may read: stored reasoning scrubbed from earlier answers, and the prompt
fitted to the model's window (oldest messages dropped first; system messages and the
question always kept)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from autogen_core.models import AssistantMessage, LLMMessage, SystemMessage

from society.reasoning import split_reasoning


def scrub(messages: Sequence[LLMMessage]) -> list[LLMMessage]:
    """Drop stored reasoning from assistant messages before they reach any model."""
    clean: list[LLMMessage] = []
    for message in messages:
        if isinstance(message, AssistantMessage):
            content = message.content
            if isinstance(content, str):
                content = split_reasoning(content)[0]
            message = message.model_copy(update={"thought": None, "content": content})
        clean.append(message)
    return clean


def fit_to_window(messages: list[LLMMessage], budget: int, count: Callable[[str], int]) -> list[LLMMessage]:
    """Drop the oldest non-system messages until the prompt fits `budget` tokens.

    The last message (what the model must answer) and system messages are always kept.
    """

    def size(m: LLMMessage) -> int:
        return count(m.content if isinstance(m.content, str) else json.dumps(m.content, default=str)) + 4

    total = sum(size(m) for m in messages)
    kept = list(messages)
    index = 0
    while total > budget and index < len(kept) - 1:
        if isinstance(kept[index], SystemMessage):
            index += 1
            continue
        total -= size(kept.pop(index))
    return kept


def one_system_message(messages: Sequence[LLMMessage]) -> list[LLMMessage]:
    """Every system message merged, in order, into one leading message: OpenAI-compatible
    servers (vLLM, LM Studio, llama.cpp's server) and autogen-ext's client for them refuse
    system messages anywhere but first, or more than one."""
    systems = [m.content for m in messages if isinstance(m, SystemMessage)]
    if len(systems) <= 1 and (not systems or isinstance(messages[0], SystemMessage)):
        return list(messages)
    rest = [m for m in messages if not isinstance(m, SystemMessage)]
    return [SystemMessage(content="\n\n".join(systems)), *rest]
