"""Streaming and Stop with the real embedded model: the answer arrives as it is written;
Stop (the API, the terminal's Ctrl-C) ends the model call at once, the words written so far
are stored marked as stopped, the turn ends as interrupted, and the next message is served.
And the user goes first: a background call yields the model to a turn."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from society.assemble import open_conversation
from society.conversation import STOPPED_MARK, Chunk
from society.storage.store import Store
from tests.conftest import EMBEDDED, ROOT, write_config

pytestmark = pytest.mark.slow
LONG = {**EMBEDDED, "max_tokens": 400}  # room for an answer long enough to stop half-way
STORY = "Tell me a very long story about a fox and a bear who become friends in the forest."


async def test_stop_ends_the_model_call_at_once_and_keeps_what_was_written(tmp_path, monkeypatch):
    write_config(tmp_path / "long.json", [LONG], monkeypatch)
    store = Store()
    conversation = open_conversation(store, entry_point="api", enabled=["planner"])
    try:
        chunks: list[str] = []
        stopped_at = None
        async for item in conversation.turn(STORY, stream=True):
            if isinstance(item, Chunk):
                chunks.append(item.text)
                if len(chunks) == 10:
                    assert conversation.stop()
                    stopped_at = time.perf_counter()
        ended = time.perf_counter()
        answer = store.last_messages(1)[0]
        assert answer.role == "planner" and answer.content.endswith(STOPPED_MARK)
        assert answer.completion_tokens < 60  # stopped after ten, not written to 400
        assert answer.content.removesuffix(STOPPED_MARK).startswith("".join(chunks[:10]).strip()[:20])
        assert store.turn_status(answer.turn_id) == "interrupted"
        assert ended - stopped_at < 5  # generous on a shared machine: the benchmark measures it
        assert not conversation.stop()  # nothing is playing now
        again = [m async for m in conversation.turn("Thanks. And what is 2+2?")]
        assert again[-1].role == "planner" and again[-1].content and not again[-1].content.endswith(STOPPED_MARK)
        assert again[-1].first_token_ms is not None and again[-1].generation_ms is not None
    finally:
        await conversation.close()


def test_ctrl_c_in_the_terminal_stops_the_turn_and_the_chat_goes_on(tmp_path, monkeypatch):
    write_config(tmp_path / "long.json", [LONG], monkeypatch)
    leader, follower = pty.openpty()

    def in_a_terminal() -> None:  # the pty becomes the chat's terminal: Ctrl-C is a SIGINT
        import fcntl
        import termios

        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    chat = subprocess.Popen(
        [sys.executable, "-m", "society.cli", "chat"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        preexec_fn=in_a_terminal,
    )
    os.close(follower)
    screen = b""

    def read_until(marker: bytes, timeout: float, start: int = 0) -> bytes:
        nonlocal screen
        deadline = time.monotonic() + timeout
        while marker not in screen[start:] and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(leader, 65536)
                except OSError:
                    break
        assert marker in screen[start:], screen.decode(errors="replace")[-2000:]
        return screen

    try:
        read_until(b"you>", 120)
        os.write(leader, STORY.encode() + b"\r")
        read_until(b"planner", 180)  # the answer has started to appear
        os.write(leader, b"\x03")  # Ctrl-C, as the terminal sends it
        read_until(b"stopped; what was written is kept", 30)
        mark = len(screen)
        os.write(leader, b"What is 2+2?\r")
        read_until(b"first token", 180, start=mark)  # the next answer came: the chat went on
        os.write(leader, b"/quit\r")
        assert chat.wait(timeout=60) == 0
    finally:
        if chat.poll() is None:
            chat.kill()
        os.close(leader)
    messages = Store().last_messages(4)
    assert [m.role for m in messages] == ["user", "planner", "user", "planner"]
    assert messages[1].content.endswith(STOPPED_MARK) and not messages[3].content.endswith(STOPPED_MARK)
    assert Store().turn_status(messages[1].turn_id) == "interrupted"


async def test_a_background_call_yields_the_model_to_the_users_turn():
    """The judge of the last answer is running when the user speaks: it is cancelled, the
    turn's call runs first, and the judge runs again once the turn is over."""
    from autogen_core.models import UserMessage

    from tests.test_reliability import slow_gate

    store = Store()
    # The judge's first try is cancelled before it takes a reply: the turn gets the first.
    gate = slow_gate(["The answer.", "judged again"], store, delay=0.4)
    order: list[str] = []
    inner = gate.clients.built["scripted"]
    real = inner.create

    async def create(messages, **kwargs):
        order.append(str(messages[-1].content)[:20])
        return await real(messages, **kwargs)

    inner.create = create
    judge = asyncio.create_task(gate.create_recorded("judge", [UserMessage(content="rate it", source="user")]))
    await asyncio.sleep(0.1)  # the judge's call is running
    conversation = open_conversation(store, gate, enabled=["planner"])
    try:
        said = [m async for m in conversation.turn("Quick question?")]
        result, _ = await asyncio.wait_for(judge, 10)
    finally:
        await conversation.close()
    assert gate.queue.preempted == 1
    assert said[-1].content == "The answer."  # the reply meant for the turn went to the turn
    assert result.content == "judged again"  # the judge ran again, after the turn
    assert order == ["rate it", "rate it"]  # whole (non-streamed) calls: the judge's two tries


async def test_stop_over_the_api_and_the_websocket(tmp_path):
    from starlette.testclient import TestClient

    from tests.test_reliability import api_over, slow_gate

    store = Store()
    gate = slow_gate(["An answer.", "Another answer."], store, delay=1.0)
    app = api_over(store, gate)
    with TestClient(app) as client:
        assert client.post("/chat/stop").json() == {"stopped": False}
        with client.websocket_connect("/ws") as socket:
            socket.send_json({"message": "Tell me everything."})
            assert socket.receive_json()["type"] == "message"  # the user's message is stored
            socket.send_json({"type": "stop"})
            kinds = []
            while not kinds or kinds[-1] != "done":
                kinds.append(socket.receive_json()["type"])
            socket.send_json({"message": "Next?"})
            while (event := socket.receive_json())["type"] != "done":
                last = event
    asked = next(m for m in store.last_messages(10) if m.content == "Tell me everything.")
    assert store.turn_status(asked.turn_id) == "interrupted"
    assert last["message"]["role"] == "planner"  # the next message is served
    assert store.turn_status(last["message"]["turn_id"]) == "done"
