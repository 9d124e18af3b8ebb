"""What happens around a turn listens to it: listeners hear each turn's start and end in the
background, a failing one is one line, and the turn itself does only its own work."""

from __future__ import annotations

import asyncio

from society.assemble import open_conversation
from society.listeners import TurnListener
from society.storage.store import Store
from tests.conftest import scripted_gate


class Recorder(TurnListener):
    def __init__(self):
        self.events = []

    async def turn_started(self, event):
        self.events.append(("started", event.turn_id, event.text, event.status))

    async def turn_ended(self, event):
        self.events.append(("ended", event.turn_id, event.status))


class Broken(TurnListener):
    async def turn_ended(self, event):
        raise RuntimeError("listener bug")


async def test_listeners_hear_each_turn_and_a_broken_one_does_not_break_the_conversation():
    store = Store()
    gate, _ = scripted_gate(["One.", "Two."], store)
    said = []
    gate.notify = said.append
    recorder = Recorder()
    conversation = open_conversation(store, gate, enabled=["planner"], extra_listeners=(recorder, Broken()))
    try:
        first = [m async for m in conversation.turn("First?")]
        second = [m async for m in conversation.turn("Second?")]
    finally:
        await conversation.close()
    assert first[-1].content == "One." and second[-1].content == "Two."
    turns = (first[0].turn_id, second[0].turn_id)
    assert ("started", turns[0], "First?", None) in recorder.events
    assert ("ended", turns[0], "done") in recorder.events and ("ended", turns[1], "done") in recorder.events
    assert sum("Broken failed (RuntimeError: listener bug)" in line for line in said) == 2
    assert [store.turn_status(t) for t in turns] == ["done", "done"]


async def test_the_previous_answer_is_rated_in_the_background_not_before_the_first_model_call():
    """The engagement reward of the last answer runs beside the new turn: a slow rating
    does not hold up the model call."""
    store = Store()
    gate, client = scripted_gate(["One.", "Two."], store)
    conversation = open_conversation(store, gate, enabled=["planner"])
    from training.rewarding import Rewarding

    rewarding = conversation.listeners.find(Rewarding)
    rated = asyncio.Event()
    original = rewarding.followed_up

    def slow_followed_up(text, turn_id):
        import time

        time.sleep(0.5)  # a large database: the rating takes a while
        result = original(text, turn_id)
        rated.set()
        return result

    rewarding.followed_up = slow_followed_up
    try:
        [m async for m in conversation.turn("First?")]
        await asyncio.wait_for(rated.wait(), 5)  # the first turn had nothing to rate
        rated.clear()
        called_before_rating = []
        inner_stream = client.create_stream

        async def create_stream(*args, **kwargs):  # a plain answer streams
            called_before_rating.append(not rated.is_set())
            async for item in inner_stream(*args, **kwargs):
                yield item

        client.create_stream = create_stream
        [m async for m in conversation.turn("Thanks! Second?")]
        await asyncio.wait_for(rated.wait(), 5)
    finally:
        await conversation.close()
    assert called_before_rating and called_before_rating[0] is True
    answer = [m for m in store.last_messages(10) if m.content == "One."][0]
    from training.reward import Rewards

    assert Rewards(store).get(answer.id).level == "thanks"
