"""Versioned prompts: edits through the prompt editor's tools reach the next request; rollback,
locks and required phrases; the `society prompts` commands."""

import pytest

from roles.prompt_editor import ground_rule, prompt_tools
from society.assemble import open_conversation
from society.prompt_book import PromptBook, PromptRefused
from society.storage.store import Store
from tests.conftest import scripted_gate, society

SHIPPED = "You are a helpful assistant. Answer directly and briefly. Reply in the language of the question."


def tools(book):
    return {tool.name: tool for tool in prompt_tools(book)}


async def call(tool, **arguments):
    return await tool.run_json(arguments, None)


async def system_message_sent(store, question="Hi"):
    gate, client = scripted_gate(["Hello."], store)
    conversation = open_conversation(store, gate, enabled=["planner"])
    try:
        [m async for m in conversation.turn(question)]
    finally:
        await conversation.close()
    return client.create_calls[0]["messages"][0].content, store.last_messages(1)[0]


async def test_an_edit_through_the_tool_changes_the_next_request_and_rollback_restores_it():
    store = Store()
    book = PromptBook(store)
    before, answer = await system_message_sent(store)
    assert before == SHIPPED and answer.prompt_version == 1

    said = await call(tools(book)["add_rule"], rule="Answer in Japanese.", role="planner", reason="the user asked")
    assert "version 2" in said
    after, answer = await system_message_sent(store)
    assert after == SHIPPED + "\nAnswer in Japanese."
    assert answer.prompt_version == 2 and book.current("planner").uses == 1

    await call(tools(book)["rollback_prompt"], role="planner", version=1)
    restored, answer = await system_message_sent(store)
    assert restored == SHIPPED and answer.prompt_version == 3
    assert [(v.version, v.author, v.parent_version) for v in book.versions("planner")] == [
        (1, "shipped", None),
        (2, "prompt_editor", 1),
        (3, "prompt_editor", 2),
    ]


async def test_an_edit_made_during_a_conversation_counts_from_the_next_turn():
    store = Store()
    gate, client = scripted_gate(["One.", "Two."], store)
    conversation = open_conversation(store, gate, enabled=["planner"])
    try:
        [m async for m in conversation.turn("First")]
        PromptBook(store).edit("planner", "test", "user", append="Be brief.")
        [m async for m in conversation.turn("Second")]
    finally:
        await conversation.close()
    assert client.create_calls[0]["messages"][0].content == SHIPPED
    assert client.create_calls[1]["messages"][0].content == SHIPPED + "\nBe brief."


async def test_a_locked_prompt_refuses_edits_and_a_required_phrase_must_survive():
    book = PromptBook(Store())
    book.lock("planner")
    with pytest.raises(PromptRefused, match="locked by the user"):
        await call(tools(book)["add_rule"], rule="Answer in French.")
    book.lock("planner", False)
    with pytest.raises(PromptRefused, match="drops 'Never guess a result you did not see.'"):
        await call(tools(book)["edit_prompt"], role="executor", reason="shorter", new_text="You run commands.")
    with pytest.raises(PromptRefused, match="does not occur"):
        book.edit("planner", "x", "user", old_text="nonexistent", replacement="y")
    with pytest.raises(PromptRefused, match="limit is 2000"):
        book.edit("planner", "x", "user", append="a" * 2000)
    with pytest.raises(PromptRefused, match="leaves the planner prompt as it is"):
        book.rollback("planner", 1, "user")
    assert book.current("executor").version == 1 and book.current("planner").version == 1


def test_a_rule_is_grounded_in_the_users_own_words():
    request = "@prompt_editor From now on answer me in Japanese, briefly."
    grounding = ground_rule({"rule": "Answer in Japanese."}, request)
    assert grounding.properties == {"rule": {"enum": ["From now on answer me in Japanese, briefly."]}}
    assert ground_rule({"rule": "From now on answer me in Japanese, briefly."}, request) is None


def test_the_prompts_commands(tmp_path):
    PromptBook(Store()).edit("planner", "be brief", "user", append="Be brief.")
    listed = society("prompts", "list", cwd=tmp_path)
    assert "planner            v2 by user: be brief" in listed.stdout
    diff = society("prompts", "diff", "planner", "1", cwd=tmp_path)
    assert "+Be brief." in diff.stdout
    assert society("prompts", "lock", "planner", cwd=tmp_path).returncode == 0
    refused = society("prompts", "rollback", "planner", "1", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "society: error: the planner prompt is locked by the user (unlock: society prompts lock planner --off)"
    ]
    society("prompts", "lock", "planner", "--off", cwd=tmp_path)
    assert "now v3 (the text of v1)" in society("prompts", "rollback", "planner", "1", cwd=tmp_path).stdout
    shown = society("prompts", "show", "planner", cwd=tmp_path)
    assert shown.stdout.rstrip().endswith(SHIPPED) and "* v3" in shown.stdout
    unknown = society("prompts", "show", "wizard", cwd=tmp_path)
    assert unknown.returncode == 2 and "no role named 'wizard'" in unknown.stderr
