"""The one never-ending conversation: every entry point (terminal, web page, API, headless run)
opens this same object over the same database and continues where the last one stopped.

Order of writes is the guarantee: the user's message is committed before any model runs,
and each agent message is committed before it is yielded to be shown.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import BaseChatMessage, TextMessage, ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_core.models import FunctionExecutionResult, SystemMessage, UserMessage

from roles import ROLE_NAMES
from roles.base import compose, read_prompt
from society import summary
from society.config import load_entries
from society.gate import ModelGate, NoModelAvailable
from society.memory.bank import MemoryBank
from society.memory.consolidate import consolidate
from society.memory.recall import SocietyMemory
from society.prompt_book import PromptBook
from society.rewarding import Rewarding
from society.store import USER, Message, Store
from society.team import TURN_TIMEOUT_S, build_team
from society.tools.approval import Approver, Guard, refuse_all
from society.tools.kits import role_toolboxes
from society.tools.secrets import redact
from society.tools.settings import load_settings
from training.datasets import Examples

MAX_INPUT_CHARS = 32_000
MANAGER = "SelectorGroupChatManager"


class InputError(ValueError):
    """The user's input cannot be taken; the message says what to fix."""


def check_input(text: str) -> str:
    text = text.strip()
    if not text:
        raise InputError("the message is empty; type something to say")
    if len(text) > MAX_INPUT_CHARS:
        raise InputError(
            f"the message is {len(text)} characters; keep it under {MAX_INPUT_CHARS} (attach files instead)"
        )
    return text


def outcome(result: FunctionExecutionResult) -> str:
    return f"{result.name} {'failed' if result.is_error else 'returned'}: {result.content}"


class TurnFailed(RuntimeError):
    """A turn could not finish; the user's message and whatever was said are kept."""


class Conversation:
    def __init__(
        self,
        store: Store | None = None,
        gate: ModelGate | None = None,
        entry_point: str = "cli",
        enabled: list[str] | None = None,
        approver: Approver = refuse_all,
    ) -> None:
        """`approver` is asked about tool calls whose policy is `ask`: the terminal asks the
        user; a headless run refuses them unless started with --approve."""
        self.store = store or Store()
        self.interrupted = self.store.mark_interrupted_turns()
        self.gate = gate or ModelGate(load_entries(), self.store)
        self.entry_point = entry_point
        self.guard = Guard(load_settings(), approver, record=self._record_approval)
        self.memory_bank = MemoryBank(self.store, notify=self.gate.notify)
        self.memory = SocietyMemory(self.memory_bank, lambda: self.gate.turn_id)
        self.prompt_book = PromptBook(self.store)
        self.examples = Examples(self.store)
        self.toolboxes = role_toolboxes(self.guard, self.gate.notify, self.memory_bank, self.prompt_book, self.examples)
        for toolbox in self.toolboxes.values():
            self.gate.grounders.update(toolbox.grounders)
        self.rewarding = Rewarding(self.store, self.gate, self.prompt_book, self.examples)
        self.prompt_versions = {name: self.prompt_book.current(name) for name in ROLE_NAMES}
        self.team, self.router, self.agents, self._extras = build_team(
            self.gate,
            self.store,
            lambda: self.gate.turn_id,
            enabled,
            toolboxes=self.toolboxes,
            memory=self.memory,
            prompts=lambda name: self.prompt_versions[name].text,
        )
        self._consolidating: asyncio.Task[Any] | None = None
        self.gate.acting_roles = {name for name, spec in self.router.specs.items() if spec.must_act}
        self._started = False
        self._background: set[asyncio.Task[Any]] = set()

    async def _start(self) -> None:
        """Restore the team state the last process saved, once."""
        if self._started:
            return
        self._started = True
        state = self.store.load_team_state()
        if state:
            try:
                await self.team.load_state(state)
            except Exception as err:  # noqa: BLE001 - an old state must never block a new turn
                self.gate.notify(f"could not restore the team state ({type(err).__name__}); starting fresh")

    async def turn(self, text: str, reasoning: bool = False) -> AsyncIterator[Message]:
        """Run one turn; yield the user's message, then each agent message, each once stored."""
        text = check_input(text)
        await self._start()
        self._refresh_prompts()
        user = self.store.begin_turn(text, self.entry_point)
        self.rewarding.followed_up(text, user.turn_id)
        self.gate.turn_id = user.turn_id
        self.gate.failure = None
        self.gate.reasoning_roles = {"planner"} if reasoning else set()
        yield user
        status, stop_reason = "failed", None
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S + 30):
                async for event in self.team.run_stream(task=TextMessage(content=text, source=USER)):
                    if isinstance(event, TaskResult):
                        stop_reason = event.stop_reason
                    elif isinstance(event, BaseChatMessage) and event.source != USER:
                        yield self._store_message(user.turn_id, event)
                    elif isinstance(event, ToolCallRequestEvent | ToolCallExecutionEvent):
                        for message in self._store_tool_event(user.turn_id, event):
                            yield message
            status = "done"
        except TimeoutError:
            status, stop_reason = "timeout", f"no answer within {TURN_TIMEOUT_S + 30:.0f} s"
            await self.team.reset()
        except Exception as err:
            # AutoGen re-raises an agent's error as a RuntimeError carrying its text; the gate
            # knows when the cause was that no model could answer.
            stop_reason = self.gate.failure or f"{type(err).__name__}: {err}"
            await self.team.reset()  # a failed run leaves the team mid-turn; start clean
            if self.gate.failure:
                raise NoModelAvailable(self.gate.failure) from None
            raise TurnFailed(f"the turn failed ({stop_reason.splitlines()[0][:300]}); your message is saved") from err
        finally:
            self.store.end_turn(user.turn_id, status, stop_reason)
        await self._save_state(user.turn_id)
        self._in_background(summary.update(self.store, self._summarize))
        self._consolidate()
        if status == "done":
            self._in_background(self.rewarding.judge_turn(user.turn_id))
            self._schedule_learning()

    def _schedule_learning(self) -> None:
        """Every `every_interactions` turns (learning.json) a learning cycle starts in its own
        process; SOCIETY_LEARN=0 turns that off (the tests do)."""
        if os.environ.get("SOCIETY_LEARN", "1") == "0":
            return
        from training.schedule import maybe_start
        from training.settings import load_settings

        try:
            pid = maybe_start(self.store.counts()["turns"], load_settings().every_interactions)
        except Exception as err:  # noqa: BLE001 - learning never breaks a conversation
            self.gate.notify(f"could not start the learning cycle ({type(err).__name__}: {err})")
            return
        if pid:
            self.gate.notify(f"learning cycle started in the background (pid {pid}, log: learning.log)")

    def feedback(self, good: bool, comment: str | None = None, message_id: int | None = None):
        """Explicit feedback (/good, /bad, a thumb) on an answer, the last one unless
        `message_id` names another; its reward, or None when there is no answer yet."""
        return self.rewarding.feedback(good, comment, self.entry_point, message_id)

    def _consolidate(self) -> None:
        """Memory work for the turn just ended, in a worker thread while the user reads; one
        pass at a time (a pass picks up everything said since the last one)."""
        if self._consolidating is not None and not self._consolidating.done():
            return

        def run() -> None:
            try:
                consolidate(self.memory_bank)
            except Exception as err:  # noqa: BLE001 - the next pass retries; the log keeps everything
                self.gate.notify(f"memory consolidation failed ({type(err).__name__}: {err}); will retry")

        self._consolidating = self._in_background(asyncio.to_thread(run))

    def _refresh_prompts(self) -> None:
        """Each role speaks with the prompt version the reward bandit picks for this turn
        (the newest, or the one it replaced): an edit made during a turn (by the prompt
        editor, or `society prompts` from another process) competes from the next."""
        for name, agent in self.agents.items():
            version = self.rewarding.version_for(name)
            if version.version != self.prompt_versions[name].version:
                # AutoGen has no setter for an agent's system message; it reads this list per call.
                agent._system_messages = [SystemMessage(content=compose(version.text, self._extras[name]))]
                self.prompt_versions[name] = version

    def _store_message(self, turn_id: int, event: BaseChatMessage) -> Message:
        call = self.gate.last_call.pop(event.source, None)
        version = self.prompt_versions.get(event.source)
        if version is not None:
            self.prompt_book.used(event.source, version.version)
        return self.store.add_message(
            turn_id,
            event.source,
            redact(event.to_text()),
            reasoning=redact(call.reasoning) if call and call.reasoning else None,
            model=call.model if call else None,
            prompt_tokens=call.prompt_tokens if call else None,
            completion_tokens=call.completion_tokens if call else None,
            latency_ms=call.latency_ms if call else None,
            prompt_version=version.version if version else None,
        )

    def _store_tool_event(self, turn_id: int, event: ToolCallRequestEvent | ToolCallExecutionEvent) -> list[Message]:
        """Each tool call and each result as a message of the conversation."""
        if isinstance(event, ToolCallRequestEvent):
            call = self.gate.last_call.pop(event.source, None)
            return [
                self.store.add_message(
                    turn_id,
                    event.source,
                    redact(f"{c.name}({c.arguments})"),
                    kind="tool_call",
                    model=call.model if call else None,
                    latency_ms=call.latency_ms if call else None,
                    prompt_tokens=call.prompt_tokens if call else None,
                    completion_tokens=call.completion_tokens if call else None,
                )
                for c in event.content
            ]
        results = event.content
        return [self.store.add_message(turn_id, event.source, redact(outcome(r)), kind="tool_result") for r in results]

    def _record_approval(self, line: str) -> None:
        if self.gate.turn_id is not None:
            self.store.add_message(self.gate.turn_id, "approval", line, kind="approval")

    async def _save_state(self, turn_id: int) -> None:
        """Save the team state, keeping only this turn's thread: earlier turns live in the
        database, and a thread kept whole would grow without bound in memory and on disk."""
        state = await self.team.save_state()
        manager = state.get("agent_states", {}).get(MANAGER, {})
        thread = manager.get("message_thread", [])
        starts = [i for i, m in enumerate(thread) if m.get("source") == USER]
        if starts:
            manager["message_thread"] = thread[starts[-1] :]
            await self.team.load_state(state)
        self.store.save_team_state(turn_id, state)

    async def _summarize(self, previous: str, messages: list[Message]) -> tuple[str, str | None]:
        if not await asyncio.to_thread(self.gate.plan, "summarizer"):
            return "", None  # no rung may summarize (the 135M model writes junk): extract instead
        instructions = read_prompt("society", "summarize")
        body = (
            (f"Previous summary:\n{previous}\n\n" if previous else "")
            + "New messages:\n"
            + summary.transcript(messages)
        )
        result = await self.gate.create(
            "summarizer", [SystemMessage(content=instructions), UserMessage(content=body, source=USER)]
        )
        call = self.gate.last_call.pop("summarizer", None)
        return str(result.content), call.model if call else None

    def _in_background(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        """Finish background work (the rolling summary, memory consolidation) and stop MCP servers before the
        process exits."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for toolbox in self.toolboxes.values():
            await toolbox.stop()


async def ask(
    text: str, reasoning: bool = False, entry_point: str = "run", approver: Approver = refuse_all
) -> tuple[list[Message], Conversation]:
    """One headless turn: every message of it, in order."""
    conversation = Conversation(entry_point=entry_point, approver=approver)
    messages = [m async for m in conversation.turn(text, reasoning)]
    await conversation.close()
    return messages, conversation
