"""What a model sees each turn: the rolling summary, recent turns verbatim, then this turn.

AutoGen agents keep their whole thread in memory; over a never-ending conversation that would
overflow any window. `ConversationContext` rebuilds the history from the database instead,
bounded by a token budget, so the conversation can go on for 10,000 turns and beyond.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autogen_core.model_context import ChatCompletionContext
from autogen_core.models import AssistantMessage, LLMMessage, SystemMessage, UserMessage

from society.models.tokens import estimate_tokens
from society.storage.store import USER, Message, Store

MEMORY_PREFIX = "What you remember that may matter here:\n"  # society/memory/recall.py writes it

HISTORY_BUDGET_TOKENS = 1200  # verbatim history; each model's window is enforced again by the gate
HISTORY_MAX_MESSAGES = 40
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"


TOOL_RESULT_CHARS = 300  # of an earlier turn's tool result; this turn's are seen whole


def to_llm(message: Message) -> LLMMessage | None:
    """A stored message as a model sees it: content only, never the reasoning. Earlier tool
    results are kept short; the calls themselves are implied by them and left out."""
    if message.role == USER:
        return UserMessage(content=message.content, source=USER)
    if message.kind in ("tool_call", "recall"):  # a recall is given again, fresh, when it is needed
        return None
    if message.kind != "text":
        body = message.content[:TOOL_RESULT_CHARS]
        return AssistantMessage(content=f"({message.kind.replace('_', ' ')}) {body}", source=message.role)
    return AssistantMessage(content=message.content, source=message.role)


def history(
    store: Store,
    turn_id: int,
    budget_tokens: int = HISTORY_BUDGET_TOKENS,
    max_messages: int = HISTORY_MAX_MESSAGES,
    since_turn: int | None = None,
) -> list[LLMMessage]:
    """The summary and the newest earlier messages that fit `budget_tokens`, oldest first.

    With `since_turn`, everything from that turn on, as long as it fits: a history whose
    beginning does not move from one turn to the next is read once (llama.cpp keeps the
    tokens of the last prompt and reads only what changed). `window_start` says where a
    stable window should start."""
    summary = store.latest_summary()
    preamble: list[LLMMessage] = []
    spent = 0
    if summary:
        preamble.append(SystemMessage(content=SUMMARY_PREFIX + summary[1]))
        spent += estimate_tokens(summary[1])
    recent: list[LLMMessage] = []
    for message in reversed(store.messages_before_turn(turn_id, max_messages)):
        if since_turn is not None and message.turn_id < since_turn:
            break
        llm = to_llm(message)
        if llm is None:
            continue
        cost = estimate_tokens(str(llm.content)) + 4
        if spent + cost > budget_tokens:
            break
        recent.append(llm)
        spent += cost
    # A history must not open with an orphan answer: start at a user message.
    recent.reverse()
    while recent and not isinstance(recent[0], UserMessage):
        recent.pop(0)
    return preamble + recent


def window_start(
    store: Store, turn_id: int, since_turn: int | None, budget_tokens: int, max_messages: int = HISTORY_MAX_MESSAGES
) -> int | None:
    """Where the verbatim history starts this turn: where it started last turn while all
    since then still fits the budget (so the prompt only grows at its end); else a later
    turn from which the newest messages take half the budget, leaving room to grow again.
    A window that slid by one message every turn would change the prompt's beginning, and
    the whole prompt would be read again each turn."""
    earlier = store.messages_before_turn(turn_id, max_messages)
    if not earlier:
        return since_turn
    if since_turn is not None and earlier[0].turn_id <= since_turn:  # all since it was fetched
        kept = [m for m in earlier if m.turn_id >= since_turn]
        if sum(estimate_tokens(m.content) + 4 for m in kept) <= budget_tokens:
            return since_turn
    spent, start = 0, None
    for message in reversed(earlier):
        spent += estimate_tokens(message.content) + 4
        if spent > budget_tokens // 2:
            break
        start = message.turn_id
    return start if start is not None else turn_id


class ConversationContext(ChatCompletionContext):
    """An agent's model context: stored history plus the messages of the current turn."""

    def __init__(
        self,
        store: Store,
        current_turn: Callable[[], int | None],
        budget_tokens: int | Callable[[], int] = HISTORY_BUDGET_TOKENS,
        system: Callable[[], str] | None = None,
    ) -> None:
        """`system`, when given, is the role's system message, asked for at each call (so the
        prompt version chosen for the turn is the one sent); `budget_tokens` may be asked
        for each turn (the gate sizes it to the model's reading speed)."""
        super().__init__()
        self._system = system
        self._store = store
        self._current_turn = current_turn
        self._budget = budget_tokens
        self._cache: tuple[int, list[LLMMessage]] | None = None
        self._recalled: SystemMessage | None = None
        self._since: int | None = None  # the turn the verbatim history starts at (window_start)

    async def add_message(self, message: LLMMessage) -> None:
        # The user's message opens a turn: what came before is now in the database.
        if isinstance(message, UserMessage) and message.source == USER:
            self._messages = []
            self._recalled = None
        if isinstance(message, SystemMessage) and message.content.startswith(MEMORY_PREFIX):
            self._recalled = message  # placed by get_messages, once, whoever asks again
            return
        self._messages.append(message)

    async def get_messages(self) -> list[LLMMessage]:
        turn_id = self._current_turn()
        system = [SystemMessage(content=self._system())] if self._system else []
        if turn_id is None:
            return system + list(self._messages)
        if self._cache is None or self._cache[0] != turn_id:
            budget = self._budget() if callable(self._budget) else self._budget
            self._since = window_start(self._store, turn_id, self._since, budget)
            self._cache = (turn_id, history(self._store, turn_id, budget, since_turn=self._since))
        # Recalled memories go just before this turn's request: small models use what they
        # read last, and the history before them stays in order.
        recalled = [self._recalled] if self._recalled else []
        return system + self._cache[1] + recalled + list(self._messages)

    @property
    def window_start(self) -> int | None:
        """The first turn the verbatim history shows this turn (None before the first call)."""
        return self._since

    async def clear(self) -> None:
        self._messages = []
        self._cache = None
        self._recalled = None
        self._since = None

    async def save_state(self) -> dict[str, Any]:
        return {"messages": [m.model_dump(mode="json") for m in self._messages]}

    async def load_state(self, state: Any) -> None:
        from autogen_core.model_context import ChatCompletionContextState

        self._messages = ChatCompletionContextState.model_validate(state).messages
