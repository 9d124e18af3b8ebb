"""Recall with the real embedded model: a fact planted many turns earlier reaches the prompt."""

import json

import pytest

from society.assemble import open_conversation
from society.memory.bank import MemoryBank
from society.memory.consolidate import consolidate
from society.storage.store import Store

pytestmark = pytest.mark.slow

FILLER = [
    ("What's a good name for a goldfish?", "Bubbles is a classic choice."),
    ("How many legs does a spider have?", "Eight."),
    ("おすすめの本はありますか?", "「坊っちゃん」はいかがですか。"),
    ("Convert 10 km to miles.", "About 6.2 miles."),
    ("今日は雨ですね。", "傘を忘れずに。"),
]


async def test_a_fact_planted_thirty_turns_earlier_is_recalled_into_the_prompt(monkeypatch):
    monkeypatch.setenv("SOCIETY_TRACE", "1")
    store = Store()
    turn = store.begin_turn("By the way, my cat is called Mochi.", "cli")
    store.add_message(turn.turn_id, "planner", "Mochi is a lovely name for a cat!")
    store.end_turn(turn.turn_id, "done")
    for index in range(30):
        question, answer = FILLER[index % len(FILLER)]
        turn = store.begin_turn(question, "cli")
        store.add_message(turn.turn_id, "planner", answer)
        store.end_turn(turn.turn_id, "done")
    consolidate(MemoryBank(store))

    conversation = open_conversation(store, enabled=["planner"])
    try:
        messages = [m async for m in conversation.turn("What is my cat's name?")]
    finally:
        await conversation.close()
    prompt = json.loads(store.calls(messages[0].turn_id)[0]["prompt"])
    # The verbatim history (the newest turns) no longer holds the fact; recall put it back.
    recalled = [m["content"] for m in prompt if m["content"].startswith("What you remember")]
    assert recalled and "Mochi" in recalled[0]
    assert prompt[-1]["content"] == "What is my cat's name?"
    assert prompt[-2]["content"] == recalled[0]
    history = [m["content"] for m in prompt if m["content"] != recalled[0]]
    assert not any("Mochi" in content for content in history)
    print("answer:", messages[-1].content)
