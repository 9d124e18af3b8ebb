"""The VRAM-aware selector's routing: deterministic rules first, a model only when rules
cannot decide, and then a choice constrained to valid role names.

The VRAM awareness lives in the gate every model call goes through; this module decides who
speaks next. A plain question goes straight to the planner and the turn ends with its
answer: the fast path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage
from autogen_core.models import SystemMessage, UserMessage
from pydantic import ValidationError, create_model

from roles.base import RoleSpec, handoff_target, read_prompt
from society.storage.store import USER

PLANNER = "planner"
EXPLICIT = re.compile(r"^\s*@([a-z_]+)\b", re.IGNORECASE)
SELECT_CONTEXT_CHARS = 1500

Choose = Callable[[list[str], Sequence[BaseAgentEvent | BaseChatMessage]], Awaitable[str]]


def last_chat_message(thread: Sequence[BaseAgentEvent | BaseChatMessage]) -> BaseChatMessage | None:
    for message in reversed(thread):
        if isinstance(message, BaseChatMessage):
            return message
    return None


class Router:
    """Routing for SelectorGroupChat: `select` is its selector_func and always returns an enabled role."""

    def __init__(self, specs: dict[str, RoleSpec], enabled: list[str], choose: Choose):
        self.specs = specs
        self.enabled = enabled
        self.choose = choose
        self.decisions: list[tuple[str, str]] = []  # (role, rule) for tests and monitoring

    def _decide(self, role: str, rule: str) -> str:
        self.decisions.append((role, rule))
        return role

    async def select(self, thread: Sequence[BaseAgentEvent | BaseChatMessage]) -> str:
        last = last_chat_message(thread)
        if last is None:
            return self._decide(PLANNER, "no message yet")
        text = last.to_text()
        if last.source == USER:
            explicit = EXPLICIT.match(text)
            if explicit and explicit.group(1).lower() in self.enabled:
                return self._decide(explicit.group(1).lower(), "addressed by name")
            matched = [r for r in self.enabled if r != PLANNER and self.specs[r].matches(text)]
            if not matched:
                return self._decide(PLANNER, "plain question")
            if len(matched) == 1:
                return self._decide(matched[0], "trigger")
            return self._decide(await self.choose([PLANNER, *matched], thread), "model among triggered roles")
        if last.source == PLANNER:
            target = handoff_target(text)
            if target in self.enabled and target != PLANNER:
                return self._decide(target, "planner handoff")
        return self._decide(PLANNER, "back to the planner")


def turn_is_done(messages: Sequence[BaseAgentEvent | BaseChatMessage], enabled: list[str]) -> bool:
    """The explicit done signal: the planner spoke without handing off (or named no role of the
    team: "NEXT: Assistant" is a small model's way of answering itself), or someone said TERMINATE."""
    for message in messages:
        if not isinstance(message, BaseChatMessage) or message.source == USER:
            continue
        text = message.to_text()
        if "TERMINATE" in text:
            return True
        if message.source == PLANNER:
            target = handoff_target(text)
            if not target or target not in enabled or target == PLANNER or len(enabled) == 1:
                return True
    return False


def model_chooser(create: Callable[..., Awaitable], specs: dict[str, RoleSpec]) -> Choose:
    """A `Choose` that asks a model through the gate, with output constrained by a JSON schema
    whose only allowed values are the candidates (llama.cpp grammar, Ollama `format`, OpenAI
    structured output); anything unparsable falls back to the first candidate."""
    template = read_prompt("society", "select")

    async def choose(candidates: list[str], thread: Sequence[BaseAgentEvent | BaseChatMessage]) -> str:
        schema = create_model("NextRole", role=(Literal[tuple(candidates)], ...))
        roles = "\n".join(f"- {name}: {specs[name].description}" for name in candidates)
        recent = "\n".join(f"{m.source}: {m.to_text()}" for m in thread if isinstance(m, BaseChatMessage))[
            -SELECT_CONTEXT_CHARS:
        ]
        prompt = [
            SystemMessage(content=template.format(roles=roles, candidates=", ".join(candidates))),
            UserMessage(content=recent, source=USER),
        ]
        result = await create(prompt, json_output=schema, extra_create_args={"max_tokens": 32})
        try:
            return schema.model_validate(json.loads(str(result.content))).role
        except (ValueError, ValidationError):
            return candidates[0]

    return choose
