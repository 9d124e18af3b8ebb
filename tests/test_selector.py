"""Routing through the whole team with scripted models (autogen-ext's ReplayChatCompletionClient)."""

import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient

from society.assemble import open_conversation
from society.conversation import InputError
from society.storage.store import Store
from society.team import MAX_MESSAGES_PER_TURN
from tests.conftest import scripted_gate


async def turn(responses, text, enabled=None):
    store = Store()
    gate, client = scripted_gate(responses, store)
    conversation = open_conversation(store, gate, enabled=enabled)
    messages = [m async for m in conversation.turn(text)]
    await conversation.close()
    return messages, conversation, client


async def test_plain_question_goes_straight_to_the_planner_and_the_turn_ends_with_its_answer():
    messages, conversation, client = await turn(["Four."], "What is 2+2?")
    assert [(m.role, m.content) for m in messages] == [("user", "What is 2+2?"), ("planner", "Four.")]
    assert conversation.router.decisions == [("planner", "plain question")]
    assert len(client.create_calls) == 1  # no selector call on the fast path
    assert messages[-1].model == "scripted" and messages[-1].latency_ms is not None
    assert conversation.store.turn_status(messages[0].turn_id) == "done"


async def test_disabled_roles_are_never_routed_to():
    messages, conversation, _ = await turn(["I cannot browse yet."], "search the web for llama news", ["planner"])
    assert [m.role for m in messages] == ["user", "planner"]


async def test_trigger_routes_to_an_enabled_specialist_then_back_to_the_planner():
    messages, conversation, _ = await turn(
        ["llama.cpp 0.3 is out.", "The latest is llama.cpp 0.3."],
        "search the web for llama news",
        enabled=["planner", "researcher"],
    )
    assert [m.role for m in messages] == ["user", "researcher", "planner"]
    assert [rule for _, rule in conversation.router.decisions] == ["trigger", "back to the planner"]


async def test_planner_hands_off_with_a_next_line():
    messages, conversation, _ = await turn(
        ["I will list the files.\nNEXT: executor", "a.txt b.txt", "There are two files."],
        "what is in my workspace?",
        enabled=["planner", "executor"],
    )
    assert [m.role for m in messages] == ["user", "planner", "executor", "planner"]
    assert ("executor", "planner handoff") in conversation.router.decisions


async def test_model_chooses_only_when_rules_cannot_and_only_among_valid_names():
    messages, conversation, client = await turn(
        ['{"role": "executor"}', "ran it", "Done."],
        "search the web and run the command it suggests",
        enabled=["planner", "researcher", "executor"],
    )
    assert [m.role for m in messages] == ["user", "executor", "planner"]
    selector_call = client.create_calls[0]
    schema = selector_call["json_output"].model_json_schema()
    assert schema["properties"]["role"]["enum"] == ["planner", "researcher", "executor"]
    assert conversation.router.decisions[0] == ("executor", "model among triggered roles")


async def test_unparsable_model_choice_falls_back_to_the_first_candidate():
    messages, _, _ = await turn(
        ["the researcher I think", "Here you go."],
        "search the web and run it",
        enabled=["planner", "researcher", "executor"],
    )
    assert [m.role for m in messages] == ["user", "planner"]


async def test_every_turn_ends_at_the_message_cap():
    ping_pong = ["again\nNEXT: executor", "ran"] * MAX_MESSAGES_PER_TURN
    messages, conversation, _ = await turn(ping_pong, "loop forever", enabled=["planner", "executor"])
    assert len(messages) <= MAX_MESSAGES_PER_TURN
    assert conversation.store.turn_status(messages[0].turn_id) == "done"


async def test_empty_input_is_refused_with_a_clear_message():
    store = Store()
    gate, _ = scripted_gate([], store)
    conversation = open_conversation(store, gate)
    with pytest.raises(InputError, match="the message is empty"):
        async for _ in conversation.turn("   "):
            pass
    assert store.counts()["messages"] == 0


async def test_team_state_is_saved_after_each_turn_and_restored_by_the_next_process():
    store = Store()
    messages, _, _ = await turn(["One."], "first")
    state = store.load_team_state()
    thread = state["agent_states"]["SelectorGroupChatManager"]["message_thread"]
    assert [m["source"] for m in thread] == ["user", "planner"]
    # A new process (a new Conversation) restores it before its first turn.
    gate, _ = scripted_gate(["Two."], store)
    second = open_conversation(store, gate)
    later = [m async for m in second.turn("second")]
    assert later[-1].content == "Two."
    thread = store.load_team_state()["agent_states"]["SelectorGroupChatManager"]["message_thread"]
    assert [m["content"] for m in thread] == ["second", "Two."]  # bounded to the latest turn


async def test_a_turn_no_model_can_answer_fails_in_one_line_and_keeps_the_message():
    import httpx

    from society.models.gate import NoModelAvailable
    from tests.test_gate import Failing, gate_over

    store = Store()
    gate = gate_over({"only": Failing(httpx.ConnectError("refused"))}, store)
    conversation = open_conversation(store, gate)
    with pytest.raises(NoModelAvailable, match="every model failed for the planner role: only: connection"):
        async for _ in conversation.turn("hello?"):
            pass
    [message] = store.last_messages(5)
    assert message.content == "hello?"
    assert store.turn_status(message.turn_id) == "failed"
    # Once the model answers again, so does the team: the failed turn left nothing stuck.
    gate.clients.built["only"] = ReplayChatCompletionClient(["Hi."])
    later = [m async for m in conversation.turn("hello again")]
    assert later[-1].content == "Hi."


def test_a_leading_next_that_names_no_member_is_not_kept_in_the_answer():
    from roles.base import without_stray_handoff

    members = ["planner", "executor", "researcher"]
    assert without_stray_handoff("NEXT: Tama's cat is fluffy.", members) == "Tama's cat is fluffy."
    assert without_stray_handoff("next:  I'm fine, thanks.", members) == "I'm fine, thanks."
    kept = "I will list the files.\nNEXT: executor"
    assert without_stray_handoff(kept, members) == kept  # a real handoff stays
    assert without_stray_handoff("NEXT: executor", members) == "NEXT: executor"
    assert without_stray_handoff("Paris is the capital.", members) == "Paris is the capital."


async def test_an_answer_begun_with_next_is_stored_as_the_answer_and_ends_the_turn():
    store = Store()
    gate, client = scripted_gate(["NEXT: Mochi is a lovely name for a cat.", "unused"], store)
    conversation = open_conversation(store, gate, enabled=["planner", "executor", "researcher"])
    try:
        said = [m async for m in conversation.turn("My cat is called Mochi.")]
    finally:
        await conversation.close()
    assert [m.content for m in said[1:]] == ["Mochi is a lovely name for a cat."]
    assert len(client.create_calls) == 1  # no specialist was asked: the turn ended with the answer
    assert store.turn_status(said[0].turn_id) == "done"
