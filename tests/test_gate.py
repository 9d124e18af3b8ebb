"""The gate: fallbacks down the ladder, one call at a time across processes, bounded prompts."""

import json
import subprocess
import sys
import textwrap

import httpx
import pytest
from autogen_core.models import SystemMessage, UserMessage
from autogen_ext.models.replay import ReplayChatCompletionClient

from society.models.config import ModelEntry
from society.models.gate import ModelGate, NoModelAvailable
from society.models.machine.hardware import Readings
from society.models.turns import Turn, in_turn
from society.models.window import fit_to_window
from society.storage.store import Store
from tests.conftest import ROOT


class Failing(ReplayChatCompletionClient):
    def __init__(self, error):
        super().__init__(["never"])
        self.error = error

    async def create(self, *args, **kwargs):
        raise self.error

    async def create_stream(self, *args, **kwargs):
        raise self.error
        yield  # an async generator that fails before its first item


def gate_over(clients, store=None):
    entries = [ModelEntry(name, "openai", "http://x.invalid") for name in clients]
    return ModelGate(entries, store, clients=clients, read=Readings, reachable=set(clients), notify=lambda _: None)


QUESTION = [UserMessage(content="hi", source="user")]


@pytest.mark.parametrize(
    "error, reason",
    [
        (httpx.ConnectError("connection refused"), "connection"),
        (TimeoutError(), "timeout"),
        (RuntimeError("CUDA error: out of memory"), "out of memory"),
        (ValueError("Failed to load model from file"), "out of memory or load failure"),
    ],
)
async def test_failures_fall_down_the_ladder_and_each_fallback_is_recorded(error, reason):
    store = Store()
    gate = gate_over({"big": Failing(error), "small": ReplayChatCompletionClient(["hello"])}, store)
    with in_turn(Turn(turn_id=7)) as turn:
        result = await gate.create("planner", QUESTION)
    assert result.content == "hello"
    assert turn.calls["planner"].model == "small"
    [fallback] = store.fallbacks(7)
    assert (fallback["from_model"], fallback["to_model"], fallback["role"]) == ("big", "small", "planner")
    assert fallback["reason"].startswith(reason)
    assert [c["ok"] for c in store.calls(7)] == [0, 1]


async def test_a_bug_is_raised_not_hidden_by_the_ladder():
    gate = gate_over({"big": Failing(KeyError("typo")), "small": ReplayChatCompletionClient(["hello"])})
    with pytest.raises(KeyError):
        await gate.create("planner", QUESTION)


async def test_when_every_rung_fails_the_error_says_what_was_tried():
    gate = gate_over({"big": Failing(httpx.ConnectError("refused"))})
    with pytest.raises(NoModelAvailable, match="big: connection"):
        await gate.create("planner", QUESTION)


async def test_slow_model_times_out_and_falls_back():
    import asyncio

    class Slow(ReplayChatCompletionClient):
        async def create(self, *args, **kwargs):
            await asyncio.sleep(5)

    entries = [
        ModelEntry("slow", "openai", "http://x.invalid", timeout_s=0.2),
        ModelEntry("fast", "openai", "http://y.invalid"),
    ]
    gate = ModelGate(
        entries,
        None,
        clients={"slow": Slow(["x"]), "fast": ReplayChatCompletionClient(["ok"])},
        read=Readings,
        reachable={"slow", "fast"},
        notify=lambda _: None,
    )
    with in_turn(Turn()) as turn:
        assert (await gate.create("planner", QUESTION)).content == "ok"
    assert turn.calls["planner"].fallbacks == ["slow: timeout"]


def test_prompt_is_fitted_to_the_window_keeping_system_and_question():
    messages = [SystemMessage(content="sys")] + [UserMessage(content="word " * 50, source="user") for _ in range(10)]
    messages.append(UserMessage(content="the question", source="user"))
    fitted = fit_to_window(messages, budget=200, count=lambda text: len(text.split()))
    assert fitted[0].content == "sys" and fitted[-1].content == "the question"
    assert sum(len(str(m.content).split()) + 4 for m in fitted) <= 200
    assert len(fitted) < len(messages)


WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from autogen_core.models import UserMessage
    from autogen_ext.models.replay import ReplayChatCompletionClient
    from society.models.config import ModelEntry
    from society.models.gate import ModelGate
    from society.models.machine.hardware import Readings

    class Slow(ReplayChatCompletionClient):
        async def create(self, *args, **kwargs):
            start = time.time()
            await asyncio.sleep(0.05)
            with open(sys.argv[1], "a") as log:
                log.write(json.dumps([start, time.time()]) + "\\n")
            return await super().create(*args, **kwargs)

    async def main():
        gate = ModelGate([ModelEntry("m", "openai", "http://x.invalid")], None,
                         clients={"m": Slow(["ok"] * 20)}, read=Readings, reachable={"m"})
        await asyncio.gather(*(gate.create("planner", [UserMessage(content="q", source="user")]) for _ in range(10)))

    asyncio.run(main())
    """
)


def test_one_model_call_at_a_time_across_processes(tmp_path):
    log = tmp_path / "calls.jsonl"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(log)], cwd=ROOT) for _ in range(3)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    spans = sorted(json.loads(line) for line in log.read_text().splitlines())
    assert len(spans) == 30
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, "two model calls overlapped"


async def test_the_last_rung_is_not_timed_out_since_there_is_nowhere_to_fall():
    import asyncio

    class Slow(ReplayChatCompletionClient):
        async def create(self, *args, **kwargs):
            await asyncio.sleep(0.5)
            return await super().create(*args, **kwargs)

    entries = [ModelEntry("only", "openai", "http://x.invalid", timeout_s=0.1)]
    gate = ModelGate(entries, None, clients={"only": Slow(["late but here"])}, read=Readings, reachable={"only"})
    assert (await gate.create("planner", QUESTION)).content == "late but here"


USER_TURN = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from society.models.machine.model_queue import ModelQueue

    async def main():
        queue = ModelQueue(Path(sys.argv[1]))
        with queue.turn():  # a user's turn plays in this process: three calls, a pause between
            Path(sys.argv[2]).write_text("playing")
            for _ in range(3):
                async with queue.model():
                    await asyncio.sleep(0.3)
                await asyncio.sleep(0.1)  # the lock is free here, the turn is not over
        print(time.time())

    asyncio.run(main())
    """
)


async def test_background_calls_of_another_process_wait_for_a_users_turn(tmp_path):
    """A learning cycle or `society rewards --calibrate` in one process, the user's turn in
    another: the background process takes the machine lock only after the turn is over,
    even while the turn pauses between its calls (the lock alone would let it in then)."""
    import asyncio
    import time

    from society.models.machine.model_queue import ModelQueue

    lock, started = tmp_path / "model.lock", tmp_path / "started"
    user = subprocess.Popen(
        [sys.executable, "-c", USER_TURN, str(lock), str(started)], cwd=ROOT, stdout=subprocess.PIPE
    )
    while not started.exists():
        await asyncio.sleep(0.02)
    background = ModelQueue(lock)
    calls_at = []
    for _ in range(3):  # outside any turn of this process
        async with background.model():
            calls_at.append(time.time())
    turn_ended = float(user.communicate(timeout=60)[0].decode().strip())
    assert user.returncode == 0 and min(calls_at) >= turn_ended - 0.05
    assert not list(tmp_path.glob("model.lock.turn-*"))  # the marker went with the turn
