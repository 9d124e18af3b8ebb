"""The one never-ending conversation: every entry point (terminal, web page, API, headless run)
opens this same object over the same database and continues where the last one stopped.

Order of writes is the guarantee: the user's message is committed before any model runs,
and each agent message is committed before it is yielded to be shown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    BaseChatMessage,
    MemoryQueryEvent,
    ModelClientStreamingChunkEvent,
    TextMessage,
    ThoughtEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
)
from autogen_core.models import FunctionExecutionResult

from roles import ROLE_NAMES, toolboxes
from roles.base import Kit, compose, without_stray_handoff
from society.errors import EXIT_FAILED, SocietyError
from society.listeners import FeedbackListener, Listeners, TurnEvent, TurnListener
from society.memory.bank import MemoryBank
from society.memory.recall import SocietyMemory
from society.memory.wish_verdicts import followable, without_held_back
from society.memory.wishes import Wish, profile, standing
from society.models.config import load_entries
from society.models.gate import ModelGate, NoModelAvailable
from society.models.tokens import estimate_tokens
from society.models.turns import Turn, in_turn
from society.prompt_book import PromptBook, PromptVersion
from society.selector import PLANNER
from society.storage.memories import Items
from society.storage.store import HEARTBEAT_S, USER, Message, Store
from society.team import TURN_TIMEOUT_S, TurnTimeout, build_team
from society.tools.approval import Approver, Guard, refuse_all
from society.tools.files import save_in_workspace
from society.tools.secrets import redact
from society.tools.settings import load_settings
from society.turn_lock import turn_lock

MAX_INPUT_CHARS = 32_000
TURN_WAIT_S = 300.0  # how long a message waits for another door's turn before it is refused
TURN_POLL_S = 0.1
_TURN_OVER = object()  # the end of a turn's messages
MANAGER = "SelectorGroupChatManager"


STOPPED_MARK = " [stopped]"  # after an answer the user stopped half-way


@dataclass(frozen=True)
class Chunk:
    """A piece of an answer as the model writes it (turns played with `stream=True`); the
    whole message follows, stored, once the role is done."""

    role: str
    text: str


class InputError(SocietyError, ValueError):
    """The user's input cannot be taken; the message says what to fix."""


def check_input(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(
            f"the message has a broken character at position {err.start} (an unpaired surrogate); send valid text"
        ) from None
    text = text.strip()
    if not text:
        raise InputError("the message is empty; type something to say")
    if len(text) > MAX_INPUT_CHARS:
        raise InputError(
            f"the message is {len(text)} characters; keep it under {MAX_INPUT_CHARS} (attach files instead)"
        )
    return text


class TurnBusy(SocietyError):
    """Another door's turn did not end in time; nothing of this message was stored."""

    exit_code = EXIT_FAILED
    http_status = 409


def outcome(result: FunctionExecutionResult) -> str:
    return f"{result.name} {'failed' if result.is_error else 'returned'}: {result.content}"


class TurnFailed(SocietyError, RuntimeError):
    """A turn could not finish; the user's message and whatever was said are kept."""

    exit_code = EXIT_FAILED
    http_status = 503


def recall_text(event: MemoryQueryEvent) -> str:
    """The memories recalled for an agent's answer, one line each, as the page and an export
    show them beside the answer."""
    lines = []
    for found in event.content:
        about = found.metadata or {}
        lines.append(f"#{about.get('id', '?')} ({about.get('kind', 'memory')}) {' '.join(str(found.content).split())}")
    return "\n".join(lines)


class Conversation:
    def __init__(
        self,
        store: Store | None = None,
        gate: ModelGate | None = None,
        entry_point: str = "cli",
        enabled: list[str] | None = None,
        approver: Approver = refuse_all,
        *,
        book: PromptBook | None = None,
        examples: Any = None,
        listeners: Sequence[TurnListener] = (),
        choose_prompt: Callable[[str], PromptVersion] | None = None,
    ) -> None:
        """`approver` is asked about tool calls whose policy is `ask`: the terminal asks the
        user; a headless run refuses them unless started with --approve. `listeners` react to
        turns (society/listeners.py); `choose_prompt` picks the prompt version each role
        speaks with this turn (the reward bandit; default: the newest); `examples` are the data
        curator's tuning examples (training.datasets.Examples) when the assembly wires them. Build a conversation
        with the society's own listeners through society/assemble.py."""
        self.store = store or Store()
        self.interrupted = self.store.mark_interrupted_turns()
        self.entry_point = entry_point
        self.guard = Guard(load_settings(), approver, record=self._record_approval)
        self.memory_bank = MemoryBank(self.store, notify=gate.notify if gate else None)
        self.prompt_book = book or PromptBook(self.store)
        self.toolboxes = toolboxes(Kit(self.guard, self._notify, self.memory_bank, self.prompt_book, examples))
        self.gate = gate or ModelGate(load_entries(), self.store)
        self.memory_bank.notify = self.gate.notify
        self.memory = SocietyMemory(
            self.memory_bank, self._turn_id, budget_chars=lambda: self.gate.speeds.memory_budget_chars("planner")
        )
        self.listeners = Listeners(self.gate.notify)
        for listener in listeners:
            self.listeners.add(listener)
        self._choose_prompt = choose_prompt or self.prompt_book.current
        self.prompt_versions = {name: self.prompt_book.current(name) for name in ROLE_NAMES}
        self._chosen_in: dict[str, int | None] = {}
        self._rules: dict[str, str] = {}  # each role's prompt text this turn
        self._wishes: tuple[int | None, str] = (None, "")
        self._enabled = enabled
        self._build_team()
        self._turn: Turn | None = None
        self._workers: set[asyncio.Task[None]] = set()
        self._started = False
        self._stopping = False

    def _build_team(self) -> None:
        """The team of agents over this conversation; a new one after an interrupted or
        failed turn too. AutoGen's own reset waited forever on a team that a stop had cut
        short (the soak benchmark: from then on every door waited on that turn; a task dump
        showed `team.reset()` awaiting its runtime's reply). A new team is as fresh as a reset
        one, since each agent reads the conversation from the database; the old team's
        stopped runtime is left to the garbage collector."""
        self.team, self.router, self.agents, self._extras = build_team(
            self.gate,
            self.store,
            self._turn_id,
            self._enabled,
            toolboxes=self.toolboxes,
            memory=self.memory,
            prompts=self._prompt_for,
        )
        planner_context = getattr(self.agents.get("planner"), "_model_context", None)
        self.memory.history_start = lambda: getattr(planner_context, "window_start", None)

    def _notify(self, line: str) -> None:
        self.gate.notify(line)

    def _turn_id(self) -> int | None:
        return self._turn.turn_id if self._turn else None

    def _prompt_for(self, role: str) -> str:
        """The role's system message for this turn: the version the bandit picks, chosen once
        per turn, when the role first speaks (an edit made during a turn competes from the
        next), then what the team adds to it."""
        turn_id = self._turn_id()
        if self._chosen_in.get(role, -1) != turn_id:
            self.prompt_versions[role] = self._choose_prompt(role)
            self._chosen_in[role] = turn_id
            # Read once per turn (each model call asks again): the rules without a wish a
            # cycle measured beyond the model that answers now.
            rules = self.prompt_versions[role].text
            if (model := self._answering_model()) is not None:
                rules = without_held_back(rules, model)
            self._rules[role] = rules
        wishes = self._standing_wishes()
        prompt = compose(self._rules[role], self._extras.get(role, ""))
        return f"{prompt}\n\n{wishes}" if wishes else prompt

    def _answering_model(self) -> str | None:
        """The model that answers now: the planner's first rung (which wishes it can follow
        was measured per model by a learning cycle)."""
        choices = self.gate.plan(PLANNER)
        return choices[0].entry.model if choices else None

    def _standing_wishes(self) -> str:
        """What the user asked for in every answer ("call me Ken", "answer in Japanese"),
        read once per turn: from the remembered preferences, and from the newest messages,
        which consolidation (in the background) may not have reached yet."""
        turn_id = self._turn_id()
        if self._wishes[0] != turn_id or turn_id is None:
            # Facts too: before wishes were read, "call me Ken" was remembered as a fact.
            items = Items(self.store.engine)
            kept = sorted(items.listing("preference", limit=200) + items.listing("fact", limit=200), key=lambda i: i.id)
            said = [m.content for m in self.store.last_messages(20) if m.role == USER]
            wishes = standing([i.content for i in kept] + said)
            self._wishes = (turn_id, profile(self._followable(wishes)))
        return self._wishes[1]

    def _followable(self, wishes: dict[str, Wish]) -> dict[str, Wish]:
        """The wishes the model that answers now can follow: a learning cycle may have
        measured one beyond it (society/memory/wish_verdicts.py); the user is told once."""
        if not wishes or (model := self._answering_model()) is None:
            return wishes
        followed, tell = followable(wishes, model)
        for line in tell:
            self.gate.notify(line)
        return followed

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

    async def _take_turn(self):
        """The conversation's turn lock (society/turn_lock.py), shared by every process over
        this conversation: turns from different doors never interleave. Waits (saying so)
        while another door's turn runs, up to TURN_WAIT_S; polled, so a cancelled wait never
        leaves the lock taken."""
        lock = turn_lock(self.store)
        waited = 0.0
        while True:
            if lock.try_acquire():
                return lock
            if waited == 0.0:
                self.gate.notify("waiting: another door (terminal, page, API or a headless run) is in a turn")
            if waited >= TURN_WAIT_S:
                waited_for = f"another door's turn has run for over {TURN_WAIT_S:.0f} s"
                raise TurnBusy(f"{waited_for}; your message was not taken, send it again")
            await asyncio.sleep(TURN_POLL_S)
            waited += TURN_POLL_S

    async def turn(
        self,
        text: str,
        reasoning: bool = False,
        stream: bool = False,
        instructions: str | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> AsyncIterator[Message | Chunk]:
        """Run one turn; yield the user's message, then each agent message, each once stored
        (with `stream`, also each Chunk of an answer as it is written). Listeners hear of the
        turn's start and end; nothing else happens here. `stop()` ends it early.
        `instructions` hold for this turn only (an API client's system message), and so do
        `sampling` (an OpenAI client's max_tokens, stop, temperature: for the answer's calls).

        The team plays the turn in a task of its own: a consumer that goes away (a closed
        socket, an abandoned request) does not stop it half-way, so what the agents say is
        still stored, the team is left ready, and the next message (from any door) waits for
        the turn lock and is then served."""
        text = check_input(text)
        await self._start()
        lock = await self._take_turn()
        try:  # an adapter the learning cycle deployed (or rolled back) answers from this turn on
            await asyncio.to_thread(self.gate.follow_deployments)
        except Exception as err:  # noqa: BLE001 - the model answering now keeps answering
            self.gate.notify(f"could not read the learning cycle's deployments ({type(err).__name__})")
        try:
            stale = self.store.interrupt_running_turns()
            if stale:
                self.gate.notify(f"turn(s) {', '.join(map(str, stale))} were left running by a process that ended")
            user = self.store.begin_turn(text, self.entry_point)
        except BaseException:
            lock.release()
            raise
        turn = Turn(
            turn_id=user.turn_id,
            reasoning_roles=frozenset({"planner"} if reasoning else ()),
            instructions=(instructions or "").strip() or None,
            sampling=dict(sampling or {}),
        )
        self._turn = turn
        said: asyncio.Queue[Any] = asyncio.Queue()
        with in_turn(turn):  # the task starts with this turn as its own
            worker = asyncio.create_task(self._play(turn, user, self._readable(user, text), lock, said, stream))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)
        yield user
        while (item := await said.get()) is not _TURN_OVER:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def _play(
        self, turn: Turn, user: Message, text: str, lock: Any, said: asyncio.Queue[Any], stream: bool
    ) -> None:
        """The turn itself: every message onto `said` once stored, then an error if one
        ended it, then the end; the turn lock is released when the turn is over. While it
        plays, background model work waits (society/models/machine/model_queue.py)."""
        # Leases matter only where other hosts share the database (a SQLite file is one host's).
        heartbeat = asyncio.create_task(self._renew_lease(user.turn_id)) if self.store.url else None
        try:
            with self.gate.queue.turn():
                async for message in self._run(turn, user, text):
                    if stream or not isinstance(message, Chunk):
                        said.put_nowait(message)
        except asyncio.CancelledError as err:  # the process is stopping (Ctrl-C): stored as interrupted
            said.put_nowait(err)
            raise
        except Exception as err:  # noqa: BLE001 - handed to whoever listens; the database has it either way
            said.put_nowait(err)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            self._stopping = False
            self.gate.resume()
            lock.release()
            said.put_nowait(_TURN_OVER)

    async def _renew_lease(self, turn_id: int) -> None:
        """The running turn's heartbeat: a turn from another host whose lease runs out was
        interrupted (Store.mark_interrupted_turns)."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await asyncio.to_thread(self.store.renew_lease, turn_id)
            except Exception as err:  # noqa: BLE001 - a missed beat must not end the turn
                self.gate.notify(f"could not renew the turn's lease ({type(err).__name__})")

    def stop(self) -> bool:
        """Stop the turn being played (Stop on the page, Ctrl-C in the terminal, a client
        that left, POST /chat/stop): the model call ends at once with what it has written,
        which is stored marked as stopped, no other call of the turn starts, the turn ends
        as interrupted and the next message is served. False when no turn is playing."""
        if not any(not worker.done() for worker in self._workers):
            return False
        self._stopping = True
        self.gate.halt()
        return True

    def _readable(self, user: Message, text: str) -> str:
        """What the team is given of the message. One longer than half the largest model's
        window is kept whole (in the database, and as a workspace file the executor can read)
        and the team gets its beginning with a note saying where the rest is."""
        budget = max(e.context_window - e.max_tokens for e in self.gate.entries) // 2
        tokens = estimate_tokens(text)
        if tokens <= budget:
            return text
        relative = f"messages/turn-{user.turn_id}.md"
        save_in_workspace(self.guard.settings.workspace, relative, text)
        head = text[: int(len(text) * budget / tokens * 0.9)]
        return (
            f"{head}\n\n[The message goes on: it is {len(text)} characters, more than can be read at once. "
            f"The whole text is in the workspace file {relative}; the executor can read it with read_file.]"
        )

    async def _run(self, turn: Turn, user: Message, text: str) -> AsyncIterator[Message | Chunk]:
        started = time.perf_counter()
        self.listeners.started(TurnEvent(user.turn_id, text, self.entry_point))
        status, stop_reason = "failed", None
        thoughts: dict[str, str] = {}
        recalled: set[str] = set()  # the turn's recall is shared by its agents: stored once
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S + 30):
                task = TextMessage(content=text, source=USER)
                async with aclosing(self.team.run_stream(task=task)) as events:
                    async for event in events:
                        if isinstance(event, ModelClientStreamingChunkEvent):
                            yield Chunk(event.source, event.content)
                        elif isinstance(event, TaskResult):
                            stop_reason = event.stop_reason
                        elif isinstance(event, ThoughtEvent):
                            thoughts[event.source] = event.content  # reasoning, stored with what follows
                        elif isinstance(event, BaseChatMessage) and event.source != USER:
                            yield self._store_message(turn, event, thoughts.pop(event.source, None))
                        elif isinstance(event, MemoryQueryEvent) and (shown := recall_text(event)) not in recalled:
                            recalled.add(shown)
                            yield self.store.add_message(turn.turn_id, event.source, redact(shown), kind="recall")
                        elif isinstance(event, ToolCallRequestEvent | ToolCallExecutionEvent):
                            for message in self._store_tool_event(turn, event, thoughts.pop(event.source, None)):
                                yield message
                        if self._stopping and not isinstance(event, ModelClientStreamingChunkEvent):
                            break  # what was said is stored; the rest of the turn is not played
            status = "done"
            if stop_reason and stop_reason.startswith(TurnTimeout.SAID):
                status = "timeout"  # a turn that ran out of time is not an answer
            if self._stopping:
                status, stop_reason = "interrupted", "stopped by the user; what was said is kept"
                self._build_team()
        except TimeoutError:
            status, stop_reason = "timeout", f"no answer within {TURN_TIMEOUT_S + 30:.0f} s"
            self._build_team()
        except Exception as err:
            # AutoGen re-raises an agent's error as a RuntimeError carrying its text; the
            # turn knows when the cause was that no model could answer.
            stop_reason = turn.failure or f"{type(err).__name__}: {err}"
            self._build_team()  # a failed run leaves the team mid-turn; start clean
            if self._stopping:  # stopped before a model said anything: no failure
                status, stop_reason = "interrupted", "stopped by the user"
                return
            if turn.failure:
                raise NoModelAvailable(turn.failure) from None
            raise TurnFailed(f"the turn failed ({stop_reason.splitlines()[0][:300]}); your message is saved") from err
        except BaseException:  # cancelled: the process is stopping
            status, stop_reason = "interrupted", "stopped before the turn ended; what was said is kept"
            raise
        finally:
            self.store.end_turn(user.turn_id, status, stop_reason)
            ended = TurnEvent(user.turn_id, text, self.entry_point, status, time.perf_counter() - started)
            self.listeners.ended(ended)
        await self._save_state(user.turn_id)

    def feedback(self, good: bool, comment: str | None = None, message_id: int | None = None):
        """Explicit feedback (/good, /bad, a thumb) on an answer, the last one unless
        `message_id` names another; its reward, or None when there is no answer yet (or no
        listener takes feedback)."""
        taken = None
        for listener in self.listeners.items:
            if isinstance(listener, FeedbackListener):
                taken = listener.feedback(good, comment, self.entry_point, message_id) or taken
        return taken

    def _store_message(self, turn: Turn, event: BaseChatMessage, thought: str | None) -> Message:
        call = turn.calls.pop(event.source, None)
        usage = event.models_usage
        version = self.prompt_versions.get(event.source)
        if version is not None:
            self.prompt_book.used(event.source, version.version)
        text = event.to_text()
        if event.source == PLANNER:
            text = without_stray_handoff(text, self.router.enabled)
        return self.store.add_message(
            turn.turn_id,
            event.source,
            redact(text) + (STOPPED_MARK if self._stopping else ""),
            reasoning=redact(thought) if thought else None,
            model=call.model if call else None,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            latency_ms=call.latency_ms if call else None,
            prompt_version=version.version if version else None,
            first_token_ms=call.first_token_ms if call else None,
            generation_ms=call.generation_ms if call else None,
        )

    def _store_tool_event(
        self, turn: Turn, event: ToolCallRequestEvent | ToolCallExecutionEvent, thought: str | None
    ) -> list[Message]:
        """Each tool call and each result as a message of the conversation."""
        if isinstance(event, ToolCallRequestEvent):
            call = turn.calls.pop(event.source, None)
            usage = event.models_usage
            return [
                self.store.add_message(
                    turn.turn_id,
                    event.source,
                    redact(f"{c.name}({c.arguments})"),
                    kind="tool_call",
                    reasoning=redact(thought) if thought and index == 0 else None,
                    model=call.model if call else None,
                    latency_ms=call.latency_ms if call else None,
                    prompt_tokens=usage.prompt_tokens if usage else None,
                    completion_tokens=usage.completion_tokens if usage else None,
                )
                for index, c in enumerate(event.content)
            ]
        return [
            self.store.add_message(turn.turn_id, event.source, redact(outcome(r)), kind="tool_result")
            for r in event.content
        ]

    def _record_approval(self, line: str) -> None:
        if (turn_id := self._turn_id()) is not None:
            self.store.add_message(turn_id, "approval", line, kind="approval")

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

    async def close(self) -> None:
        """Finish the listeners' background work (the rolling summary, memory consolidation,
        the judge) and stop MCP servers before the process exits."""
        if self._workers:  # a turn whose consumer left goes on to its end
            await asyncio.gather(*self._workers, return_exceptions=True)
        self.gate.queue.closing()  # no next message will come: background work need not wait
        await self.listeners.drain()
        for toolbox in self.toolboxes.values():
            await toolbox.stop()
