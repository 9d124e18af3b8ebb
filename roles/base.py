"""What every role shares: a spec (name, description, prompt file, routing triggers) and the
factory that turns it into an AutoGen `AssistantAgent`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

HANDOFF = re.compile(r"^\s*NEXT:\s*@?([a-z_]+)", re.MULTILINE | re.IGNORECASE)


@cache
def read_prompt(package: str, name: str) -> str:
    """A prompt shipped as package data: `<package>/prompts/<name>.md`, read once per process."""
    return resources.files(package).joinpath("prompts", f"{name}.md").read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class Kit:
    """What a role's tools are made from: the approval guard and what they act on."""

    guard: Any  # society.tools.approval.Guard
    notify: Callable[[str], None]
    bank: Any = None  # society.memory.bank.MemoryBank
    book: Any = None  # society.prompt_book.PromptBook
    examples: Any = None  # training.datasets.Examples, when the curator's data is wired


@dataclass(frozen=True)
class RoleSpec:
    name: str
    description: str  # the selector and the planner read this
    ready: bool  # its abilities (tools) have landed; otherwise enabled only through SOCIETY_ROLES
    triggers: tuple[str, ...] = ()  # regexes: a user message matching one is routed here
    required: tuple[str, ...] = ()  # phrases every version of its prompt must keep
    must_act: bool = False  # asked only to act: its first reply in a turn is a tool call
    tool_iterations: int = 1  # rounds of tool calls in one go before it must answer
    toolbox: Callable[[Kit], Any] | None = None  # its tools as one workbench (None: it only talks)
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(re.compile(t, re.IGNORECASE) for t in self.triggers))

    def matches(self, text: str) -> bool:
        return any(p.search(text) for p in self._patterns)

    def system_prompt(self) -> str:
        return read_prompt("roles", self.name)

    def build(
        self,
        model_client: Any,
        model_context: Any,
        workbench: Any = None,
        extra_instructions: str = "",
        tool_iterations: int = 1,
        memory: Any = None,
        system_in_context: bool = False,
    ) -> Any:
        """The role as an AssistantAgent talking to the model gate through `model_client`,
        acting through `workbench` when the role has tools, and recalling through `memory`
        (an AutoGen Memory) before each model call. With `system_in_context` the model
        context supplies the system message per call (the version chosen for the turn)."""
        from autogen_agentchat.agents import AssistantAgent

        prompt = None if system_in_context else compose(self.system_prompt(), extra_instructions)
        return AssistantAgent(
            name=self.name,
            model_client=model_client,
            model_context=model_context,
            workbench=workbench,
            description=self.description,
            system_message=prompt,
            # The role's last word after using tools is what they returned, never a model's
            # retelling of it: small models retell results wrongly. The planner words the answer.
            reflect_on_tool_use=False,
            max_tool_iterations=tool_iterations,
            memory=[memory] if memory is not None else None,
            # The answer's text as it is written (ModelClientStreamingChunkEvent): shown as it
            # comes, stored whole when done.
            model_client_stream=True,
        )


def compose(prompt: str, extra_instructions: str = "") -> str:
    """A role's system message: its (versioned, editable) prompt, then what the team adds
    (the planner's handoff rules), which edits cannot remove."""
    return f"{prompt}\n\n{extra_instructions}" if extra_instructions else prompt


LEADING_HANDOFF = re.compile(r"^\s*NEXT:\s*", re.IGNORECASE)


def without_stray_handoff(text: str, members: list[str]) -> str:
    """`text` without a leading "NEXT:" that hands to no member of the team: a 0.5B planner
    began its answers so ("NEXT: Tama's cat is ..."), and once the history showed it, every
    answer did. The answer is what follows."""
    target = handoff_target(text)
    if LEADING_HANDOFF.match(text) and target not in members:
        return LEADING_HANDOFF.sub("", text, count=1)
    return text


def handoff_target(text: str) -> str | None:
    """The role a message hands work to with a `NEXT: role` line, if any."""
    found = HANDOFF.search(text)
    return found.group(1).lower() if found else None
