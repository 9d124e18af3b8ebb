"""What a model may read: stored reasoning scrubbed from earlier answers, and the prompt
fitted to the model's window (oldest messages dropped first; system messages and the
question always kept)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from autogen_core.models import AssistantMessage, LLMMessage, SystemMessage

from society.models.reasoning import split_reasoning

if TYPE_CHECKING:
    from society.models.config import ModelEntry


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


TURN_INSTRUCTIONS = "For this reply, the user's app gives this instruction: "


def prepared(role: str, entry: ModelEntry, client: Any, messages: list[LLMMessage]) -> list[LLMMessage]:
    """The prompt `role`'s call to `entry` sends: the turn's instruction from the user's app
    and the reasoning instruction just before the question (small models follow the latest
    instruction best), fitted to the model's window with its own tokenizer when it has one."""
    from society.models.reasoning import REASONING_INSTRUCTION
    from society.models.tokens import estimate_tokens
    from society.models.turns import current_turn

    prompt = list(messages)
    if instructions := current_turn().instructions:
        prompt.insert(max(0, len(prompt) - 1), SystemMessage(content=TURN_INSTRUCTIONS + instructions))
    if role in current_turn().reasoning_roles and not entry.has("reasoning"):
        # A model that thinks by itself is asked to (Ollama `think`); others are told how.
        prompt.insert(len(prompt) - 1, SystemMessage(content=REASONING_INSTRUCTION))
    count = entry.kind.token_counter(client) or estimate_tokens
    fitted = fit_to_window(prompt, entry.context_window - entry.max_tokens, count)
    # autogen-ext's OpenAI client (and the servers behind it) take one leading system message.
    openai_client = type(client).__name__ == "OpenAIChatCompletionClient"
    return one_system_message(fitted) if openai_client else fitted
