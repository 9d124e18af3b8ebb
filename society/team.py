"""The team: the eight roles in one SelectorGroupChat whose selector is the Router, whose
every model call goes through the gate, and whose every turn ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from autogen_agentchat.base import TerminatedException, TerminationCondition
from autogen_agentchat.conditions import FunctionalTermination, MaxMessageTermination
from autogen_agentchat.messages import BaseAgentEvent, BaseChatMessage, StopMessage
from autogen_agentchat.teams import SelectorGroupChat
from autogen_core.memory import Memory
from autogen_core.model_context import BufferedChatCompletionContext
from autogen_core.tools import Workbench

from roles import enabled_roles, load_specs
from roles.base import RoleSpec, read_prompt
from society.context import HISTORY_BUDGET_TOKENS, ConversationContext
from society.models.gate import ModelGate
from society.selector import PLANNER, Router, model_chooser, turn_is_done
from society.storage.store import Store
from society.toolcalls.client import tool_calls

MAX_MESSAGES_PER_TURN = 12
TURN_TIMEOUT_S = 300.0


class TurnTimeout(TerminationCondition):
    """A turn ends after TURN_TIMEOUT_S of its own. AutoGen's TimeoutTermination counts from
    when it was made or last reset, which for a team built once is the end of the last turn:
    a message sent after five idle minutes ended at once, unanswered. This clock starts at the
    first message of each run (the user's) and stops with it."""

    SAID = "the turn took more than"

    def __init__(self, seconds: Callable[[], float] = lambda: TURN_TIMEOUT_S):
        self._seconds = seconds
        self._started: float | None = None
        self._terminated = False

    @property
    def terminated(self) -> bool:
        return self._terminated

    async def __call__(self, messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> StopMessage | None:
        if self._terminated:
            raise TerminatedException("the turn has already timed out")
        now = time.monotonic()
        if self._started is None:
            self._started = now
        if now - self._started >= self._seconds():
            self._terminated = True
            return StopMessage(content=f"{self.SAID} {self._seconds():.0f} s", source="TurnTimeout")
        return None

    async def reset(self) -> None:
        self._started = None
        self._terminated = False


# The specialists a step of the user's task needs; the rest (prompt editor, data curator,
# evolution breeder, judge) are reached when the user's message names or asks for them
# (society/selector.py). Listed too, a 0.5B planner handed "今日はとても疲れました" and
# "ありがとう" to the prompt editor: 4 of 30 Japanese chats went unanswered.
HANDOFF_ROLES = ("researcher", "executor", "memory_keeper")


def handoff_instructions(enabled: list[str], specs: dict[str, RoleSpec]) -> str:
    members = [f"- {name}: {specs[name].description}" for name in enabled if name in HANDOFF_ROLES]
    if not members:
        return ""  # alone, the planner just answers: a shorter prompt is a faster answer
    return read_prompt("roles", "handoff").format(members="\n".join(members))


def build_team(
    gate: ModelGate,
    store: Store,
    current_turn: Callable[[], int | None],
    enabled: list[str] | None = None,
    toolboxes: Mapping[str, Workbench] | None = None,
    memory: Memory | None = None,
    prompts: Callable[[str], str] | None = None,
) -> tuple[SelectorGroupChat, Router, dict[str, Any], dict[str, str]]:
    """The team, its router, its agents by role, and what the team adds to each role's
    prompt (see roles.base.compose). `prompts`, when given, gives each role's whole system
    message for the call being made (its model context asks for it per call); otherwise each
    role speaks with its shipped prompt."""
    specs = load_specs()
    enabled = enabled or enabled_roles(specs)
    toolboxes = toolboxes or {}
    extras = {name: handoff_instructions(enabled, specs) if name == PLANNER else "" for name in specs}
    agents = {
        name: spec.build(
            gate.client(name, tool_calls(getattr(toolboxes.get(name), "grounders", None), spec.must_act)),
            ConversationContext(
                store,
                current_turn,
                budget_tokens=lambda name=name: gate.speeds.history_budget(name, HISTORY_BUDGET_TOKENS),
                system=(lambda name=name: prompts(name)) if prompts else None,
            ),
            workbench=toolboxes.get(name),
            extra_instructions=extras[name],
            tool_iterations=spec.tool_iterations,
            memory=memory,
            system_in_context=prompts is not None,
        )
        for name, spec in specs.items()
    }
    router = Router(specs, enabled, model_chooser(gate.client("selector").create, specs))
    ends = (
        FunctionalTermination(lambda messages: turn_is_done(messages, enabled))
        | MaxMessageTermination(MAX_MESSAGES_PER_TURN)
        | TurnTimeout()
    )
    team = SelectorGroupChat(
        list(agents.values()),
        model_client=gate.client("selector"),
        selector_func=router.select,
        termination_condition=ends,
        allow_repeated_speaker=True,
        # The router always decides, so the built-in selector never reads this; bounded anyway.
        model_context=BufferedChatCompletionContext(buffer_size=MAX_MESSAGES_PER_TURN),
    )
    return team, router, agents, extras
