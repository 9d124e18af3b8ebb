"""The context a model sees stays bounded however long the conversation grows."""

from autogen_core.models import AssistantMessage, SystemMessage, UserMessage

from society import summary
from society.context import HISTORY_BUDGET_TOKENS, ConversationContext, history
from society.models.tokens import estimate_tokens
from society.storage.store import Store

TURNS = 2000


def synthetic_history(store: Store, turns: int) -> int:
    """Write `turns` turns straight to the database, as a long-lived conversation would have."""
    turn_id = 0
    for i in range(turns):
        user = store.begin_turn(f"Turn {i}: my favourite number today is {i}. 今日の数字は{i}です。", "test")
        store.add_message(user.turn_id, "planner", f"Noted, {i} it is. Anything else?", reasoning="hidden thought")
        store.end_turn(user.turn_id, "done")
        turn_id = user.turn_id
    return turn_id


async def test_context_stays_bounded_over_a_2000_turn_history():
    store = Store()
    last = synthetic_history(store, TURNS)
    while await summary.update(store):  # the extractive fallback: no model in this test
        pass
    current = store.begin_turn("What was my number in the last turn?", "test")
    context = ConversationContext(store, lambda: current.turn_id)
    await context.add_message(UserMessage(content=current.content, source="user"))
    messages = await context.get_messages()

    total = sum(estimate_tokens(str(m.content)) for m in messages)
    assert total <= HISTORY_BUDGET_TOKENS + summary.MAX_SUMMARY_CHARS // 2 + 100
    assert isinstance(messages[0], SystemMessage) and "Summary of the earlier conversation" in messages[0].content
    assert f"Turn {TURNS - 1}:" in str(messages[-3].content)  # the newest turn is verbatim
    assert messages[-1].content == current.content
    assert "hidden thought" not in str([m.model_dump() for m in messages])
    assert store.counts()["messages"] == 2 * TURNS + 1  # nothing was deleted
    assert last == TURNS


async def test_summary_covers_what_left_the_verbatim_window_and_lags_no_more_than_a_batch():
    store = Store()
    synthetic_history(store, 100)
    while await summary.update(store):
        pass
    through, text = store.latest_summary()
    newest = store.last_messages(1)[0].id
    assert newest - through <= summary.VERBATIM_MESSAGES + summary.BATCH_MESSAGES
    assert len(text) <= summary.MAX_SUMMARY_CHARS
    assert "Turn 8" in text or "…" in text


async def test_a_model_summary_is_used_when_a_model_answers():
    store = Store()
    synthetic_history(store, 30)

    async def summarize(previous, messages):
        return f"The user listed numbers up to {messages[-1].content[:12]}", "scripted"

    assert await summary.update(store, summarize)
    assert store.latest_summary()[1].startswith("The user listed numbers")


def test_history_starts_at_a_user_message_and_keeps_order():
    store = Store()
    synthetic_history(store, 5)
    current = store.begin_turn("next", "test")
    messages = history(store, current.turn_id, budget_tokens=60)
    assert isinstance(messages[0], UserMessage)
    assert all(isinstance(m, UserMessage | AssistantMessage) for m in messages)
    assert "Turn 4" in messages[-2].content


async def test_summary_is_extractive_when_no_rung_may_summarize():
    from autogen_ext.models.replay import ReplayChatCompletionClient

    from society.models.config import ModelEntry
    from society.models.gate import ModelGate
    from society.models.machine.hardware import Readings
    from society.models.turns import Turn, in_turn
    from society.summary import SummaryListener

    store = Store()
    synthetic_history(store, 30)
    planner_only = ModelEntry("m", "openai", "http://x.invalid", roles=("planner",))
    gate = ModelGate(
        [planner_only], store, clients={"m": ReplayChatCompletionClient([])}, read=Readings, reachable={"m"}
    )
    with in_turn(Turn()) as turn:
        assert await summary.update(store, SummaryListener(store, gate).summarize)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT model FROM summaries").scalar() == "extractive"
    assert turn.failure is None


def test_the_history_window_only_grows_at_its_end_until_it_must_jump():
    """A prompt whose beginning does not move is read once by llama.cpp: the window keeps
    its start turn after turn, and when the budget is reached it jumps to keep half."""
    from society.context import window_start

    store = Store()
    synthetic_history(store, 3)
    since, starts, prompts = None, [], []
    for index in range(40):
        turn = store.begin_turn(f"question {index} " + "word " * 20, "cli")
        since = window_start(store, turn.turn_id, since, budget_tokens=400)
        starts.append(since)
        prompts.append(history(store, turn.turn_id, 400, since_turn=since))
        store.add_message(turn.turn_id, "planner", "answer " + "word " * 20)
        store.end_turn(turn.turn_id, "done")
    jumps = sum(1 for a, b in zip(starts, starts[1:], strict=False) if a != b)
    assert 2 <= jumps <= 10  # a sliding window would move on every one of the 40 turns
    for before, after, a, b in zip(prompts, prompts[1:], starts, starts[1:], strict=False):
        if a == b:  # same start: the earlier prompt is the beginning of the later one
            assert [m.content for m in after[: len(before)]] == [m.content for m in before]
    assert all(sum(len(str(m.content)) // 4 + 4 for m in p) <= 420 for p in prompts)
