"""Every disconnect leaves the conversation usable, turns from different doors never
interleave, and bad input or a damaged file is one line, never a traceback or a 500."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from autogen_ext.models.replay import ReplayChatCompletionClient
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from typer.testing import CliRunner

from society import conversation as conversation_module
from society.assemble import open_conversation
from society.cli import app as cli
from society.conversation import TurnBusy
from society.paths import data_dir, turn_lock_path
from society.storage.store import Store
from tests.conftest import scripted_gate
from ui.api import MAX_BODY_BYTES, create_app


class SlowReplay(ReplayChatCompletionClient):
    """A scripted model that takes `delay` seconds per answer, like a real one."""

    def __init__(self, replies, delay: float):
        super().__init__(replies)
        self.delay = delay

    async def create(self, *args, **kwargs):
        await asyncio.sleep(self.delay)
        return await super().create(*args, **kwargs)

    async def create_stream(self, *args, **kwargs):
        await asyncio.sleep(self.delay)
        async for item in super().create_stream(*args, **kwargs):
            yield item


def slow_gate(replies, store, delay=0.5):
    gate, _ = scripted_gate([], store)
    gate.clients.built["scripted"] = SlowReplay(replies, delay)
    return gate


def api_over(store, gate):
    return create_app(
        lambda: open_conversation(store, gate, entry_point="api", enabled=["planner"]), rate_per_minute=10**6
    )


def test_a_websocket_that_leaves_mid_turn_leaves_the_next_chat_working():
    store = Store()
    app = api_over(store, slow_gate(["first answer", "second answer", "third"] * 3, store, delay=0.6))
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as socket:
            socket.send_json({"message": "a question I will not wait for"})
            socket.receive_json()  # the user's message is stored: the turn is running
        # The socket is gone mid-turn; the next message through another door is served.
        reply = client.post("/chat", json={"message": "are you still there?"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["answer"]
    with store.engine.connect() as conn:
        statuses = [row[0] for row in conn.exec_driver_sql("SELECT status FROM turns ORDER BY id").all()]
    assert statuses[0] in ("interrupted", "done") and statuses[-1] == "done"
    assert "running" not in statuses


async def test_a_stopped_turn_leaves_a_new_team_that_answers_the_next_message(monkeypatch):
    """The soak benchmark hung every door: a stop left AutoGen's team unable to reset (its
    reset awaited its runtime's reply forever, seen in a task dump). The team that played a
    stopped turn is never reset nor asked again: a new one answers."""
    store = Store()
    gate = slow_gate(["Still here."] * 2, store, delay=0.5)
    conversation = open_conversation(store, gate, enabled=["planner"])

    async def never() -> None:
        await asyncio.Event().wait()

    stopped = conversation.team
    monkeypatch.setattr(stopped, "reset", never)  # as the stuck team did
    try:
        async for _ in conversation.turn("a question I stop at once"):
            assert conversation.stop()
        again = await asyncio.wait_for(_said(conversation.turn("are you still there?")), 10)
    finally:
        await conversation.close()
    assert again[-1].role == "planner" and again[-1].content == "Still here."
    assert conversation.team is not stopped
    assert store.turn_status(again[0].turn_id) == "done"
    assert store.turn_status(again[0].turn_id - 1) == "interrupted"


async def _said(turn) -> list:
    return [m async for m in turn]


async def test_a_turn_left_running_by_a_dead_process_is_marked_while_others_go_on():
    store = Store()
    stale = store.begin_turn("asked by a society run that was killed", "run")  # our own pid: alive
    gate, _ = scripted_gate(["An answer."], store)
    conversation = open_conversation(store, gate, enabled=["planner"])
    try:
        [m async for m in conversation.turn("next question")]
    finally:
        await conversation.close()
    assert store.turn_status(stale.turn_id) == "interrupted"


async def test_turns_from_two_doors_never_interleave():
    store = Store()
    doors = [
        open_conversation(store, slow_gate([f"answer {door}"], store, delay=0.4), entry_point=f"door{door}")
        for door in (1, 2)
    ]
    for door in doors:  # only the planner speaks
        door.router.enabled = ["planner"]

    async def ask(door, text):
        return [m async for m in door.turn(text)]

    try:
        await asyncio.gather(ask(doors[0], "question one"), ask(doors[1], "question two"))
    finally:
        for door in doors:
            await door.close()
    turns = [m.turn_id for m in store.last_messages(20)]
    # Each turn's messages are contiguous: no other turn's message between question and answer.
    assert turns == sorted(turns) and len(set(turns)) == 2


async def test_a_message_that_waits_too_long_is_refused_in_one_line_and_nothing_is_stored(monkeypatch):
    from filelock import FileLock

    monkeypatch.setattr(conversation_module, "TURN_WAIT_S", 0.3)
    store = Store()
    gate, _ = scripted_gate(["never"], store)
    conversation = open_conversation(store, gate, enabled=["planner"])
    held = FileLock(str(turn_lock_path()))
    held.acquire()  # another door's turn that does not end
    try:
        with pytest.raises(TurnBusy, match="send it again"):
            [m async for m in conversation.turn("hello?")]
    finally:
        held.release()
        await conversation.close()
    assert store.last_messages(5) == []


@pytest.mark.parametrize(
    "method, path, payload, status",
    [
        ("post", "/feedback", {"good": True, "message_id": 2**63}, 422),
        ("post", "/feedback", {"good": True, "message_id": 2**70}, 422),
        ("post", "/v1/chat/completions", {"messages": [{"role": "user", "content": "bad \ud800 half"}]}, 400),
        ("post", "/chat", {"message": "lone \udfff surrogate"}, 422),
        ("get", "/no-such-page", None, 404),
        ("delete", "/chat", None, 405),
    ],
)
async def test_bad_input_is_a_4xx_in_the_one_error_shape(method, path, payload, status):
    store = Store()
    gate, _ = scripted_gate(["An answer."], store)
    app = api_over(store, gate)
    body = None if payload is None else json.dumps(payload, ensure_ascii=True).encode()
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as api:
        reply = await api.request(method.upper(), path, content=body, headers=headers)
    assert reply.status_code == status, reply.text
    assert set(reply.json()) == {"error"} and reply.json()["error"]["detail"]


def test_a_non_ascii_token_and_a_binary_frame_get_clear_answers():
    store = Store()
    gate, _ = scripted_gate(["An answer."], store)
    app = create_app(lambda: open_conversation(store, gate, entry_point="api", enabled=["planner"]), token="secret")
    with TestClient(app) as client:
        wrong = client.get("/history", headers={"authorization": "Bearer s\u00e9cr\u00e8t".encode()})
        assert wrong.status_code == 401 and wrong.json()["error"]["detail"]
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/ws?token=%E7%A7%98%E5%AF%86") as socket:
                socket.receive_json()
        assert refused.value.code == 4401
        with client.websocket_connect("/ws?token=secret") as socket:
            socket.send_bytes(b"\x00\x01binary")
            assert socket.receive_json()["type"] == "error"
            socket.send_json({"message": "still here?"})
            kinds = []
            while not kinds or kinds[-1] != "done":
                kinds.append(socket.receive_json()["type"])
            assert "message" in kinds


async def test_a_chunked_body_over_the_limit_is_refused():
    store = Store()
    gate, _ = scripted_gate([], store)
    app = api_over(store, gate)

    async def chunks():
        for _ in range(MAX_BODY_BYTES // 10_000 + 5):
            yield b"x" * 10_000

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as api:
        reply = await api.post("/chat", content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "over" in reply.json()["error"]["detail"]


async def test_a_message_longer_than_the_model_reads_is_taken_whole():
    store = Store()
    gate, client = scripted_gate(["I read the start; the rest is in the file."], store)
    conversation = open_conversation(store, gate, enabled=["planner"])
    long_text = "Please summarise this report. " + "The quarterly numbers rose again. " * 700  # ~24,000 chars
    try:
        said = [m async for m in conversation.turn(long_text)]
    finally:
        await conversation.close()
    assert said[0].content == long_text.strip()  # stored whole
    saved = conversation.guard.settings.workspace / f"messages/turn-{said[0].turn_id}.md"
    assert saved.read_text() == long_text.strip()
    sent = client.create_calls[-1]["messages"][-1].content
    assert len(sent) < len(long_text) and f"messages/turn-{said[0].turn_id}.md" in sent
    assert said[-1].content.startswith("I read the start")


DAMAGE = {
    "garbage": b"this is not a database at all, just text" * 20,
    "random": bytes(range(256)) * 40,
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("command", [["status"], ["history"], ["memory", "search", "x"], ["run", "hi"]])
def test_a_damaged_database_is_one_line_and_left_as_it_is(damage, command):
    database = data_dir() / "society.db"
    database.write_bytes(DAMAGE[damage])
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith("society: error:") and len(result.stderr.strip().splitlines()) == 1
    assert "cannot be read" in result.stderr
    assert database.read_bytes() == DAMAGE[damage]


def test_an_empty_database_is_kept_aside_with_a_warning_not_dropped():
    database = data_dir() / "society.db"
    database.write_bytes(b"")
    result = CliRunner().invoke(cli, ["history"])
    assert result.exit_code == 0 and "was empty (0 bytes)" in result.stderr
    assert list(data_dir().glob("society.db.empty-*"))


@pytest.mark.parametrize("name", ["tools.json", "memory.json", "learning.json", "mcp.json"])
@pytest.mark.parametrize("damage", ["binary", "utf16", "folder"])
def test_a_damaged_settings_file_is_one_line_with_exit_code_2(name, damage):
    path = data_dir() / name
    if damage == "folder":
        path.mkdir()
    elif damage == "binary":
        path.write_bytes(bytes(range(256)))
    else:
        path.write_bytes('{"a": 1}'.encode("utf-16"))
    command = {"tools.json": ["tools"], "mcp.json": ["mcp", "list"]}.get(name, ["config", "show"])
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("society: error:") and name in lines[0]


def test_a_workspace_that_is_a_file_is_one_line():
    (data_dir() / "not-a-folder").write_text("x")
    (data_dir() / "tools.json").write_text(json.dumps({"workspace": str(data_dir() / "not-a-folder")}))
    result = CliRunner().invoke(cli, ["tools"])
    assert result.exit_code == 2 and "workspace" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_damaged_database_is_one_line_from_the_api_too():
    (data_dir() / "society.db").write_bytes(DAMAGE["garbage"])
    with TestClient(create_app()) as client:
        for path in ("/history", "/monitoring/status"):
            reply = client.get(path)
            assert reply.status_code == 500 and "cannot be read" in reply.json()["error"]["detail"], path
        said = client.post("/chat", json={"message": "hello?"})
        assert said.status_code == 500 and "cannot be read" in said.json()["error"]["detail"]


def test_a_missing_embedding_model_folder_is_one_line():
    (data_dir() / "memory.json").write_text(json.dumps({"embedding_model": str(data_dir() / "no-such-model")}))
    for command in (["memory", "search", "x"], ["run", "hi"], ["config", "show"]):
        result = CliRunner().invoke(cli, command)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and "embedding_model" in lines[0], (command, result.output)


def test_each_door_has_its_own_budget_and_socket_messages_count():
    store = Store()
    gate, _ = scripted_gate(["An answer."] * 5, store)
    app = create_app(lambda: open_conversation(store, gate, entry_point="api", enabled=["planner"]), rate_per_minute=4)
    with TestClient(app) as client:
        codes = [client.get("/history").status_code for _ in range(6)]
        assert codes == [200] * 4 + [429] * 2
        assert "try again in" in client.get("/history").json()["error"]["detail"]
        # The API's flood leaves the socket its own budget: the connection and three messages.
        with client.websocket_connect("/ws") as socket:
            ends = []
            for _ in range(4):
                socket.send_json({"message": "hello"})
                kind = "message"
                while kind in ("message", "chunk"):
                    kind = socket.receive_json()["type"]
                ends.append(kind)
            assert ends == ["done", "done", "done", "error"]
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/ws") as socket:
                socket.receive_json()
        assert refused.value.code == 4429


def test_a_client_that_never_finishes_its_request_is_disconnected():
    import http.client
    import socket
    import threading
    import time

    import uvicorn
    import websockets.sync.client

    from ui.limits import RequestDeadline

    class Quick(RequestDeadline):
        read_s = 0.5

    store = Store()
    gate, _ = scripted_gate([], store)
    config = uvicorn.Config(api_over(store, gate), host="127.0.0.1", port=0, http=Quick, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        slow, silent = (socket.create_connection(("127.0.0.1", port)) for _ in range(2))
        slow.sendall(b"GET /history HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        quick = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        quick.request("GET", "/history")
        assert quick.getresponse().read() == b"[]"
        for held in (slow, silent):
            held.settimeout(5)
            started = time.monotonic()
            assert held.recv(65536) == b""  # closed by the server
            assert time.monotonic() - started < 3
        quick.request("GET", "/history")  # on the same kept-alive connection, slower than read_s
        assert quick.getresponse().status == 200
        # A WebSocket is not a slow request: it stays open long past the deadline (the page
        # was cut off and reconnected every REQUEST_READ_S, on another worker with --workers).
        with websockets.sync.client.connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as held_open:
            time.sleep(4 * Quick.read_s)
            assert held_open.ping().wait(timeout=5)
    finally:
        server.should_exit = True
        thread.join(10)


async def test_a_message_after_the_turn_timeout_of_idle_is_answered_at_every_door(monkeypatch):
    """The team is built once: AutoGen's own timeout counted from the end of the last turn, so
    a message sent after five idle minutes ended at once, unanswered and stored as done. The
    timeout is shortened to 1 s; the conversation idles 1.5 s between messages."""
    from society import team

    monkeypatch.setattr(team, "TURN_TIMEOUT_S", 1.0)
    store = Store()
    gate, client = scripted_gate(["first answer", "second answer", "third answer", "fourth answer"], store)
    conversation = open_conversation(store, gate, enabled=["planner"])  # the terminal's, the page's, a run's
    try:
        first = [m async for m in conversation.turn("Hello")]
        await asyncio.sleep(1.5)
        second = [m async for m in conversation.turn("Still there?")]
    finally:
        await conversation.close()
    assert [first[-1].content, second[-1].content] == ["first answer", "second answer"]
    assert [store.turn_status(m.turn_id) for m in (first[-1], second[-1])] == ["done", "done"]
    assert "Still there?" in str(client.create_calls[-1]["messages"][-1].content)  # the model was asked
    app = api_over(store, gate)
    with TestClient(app) as http:
        assert http.post("/chat", json={"message": "One"}).json()["answer"] == "third answer"
        await asyncio.sleep(1.5)
        said = http.post(
            "/v1/chat/completions", json={"model": "society", "messages": [{"role": "user", "content": "Two"}]}
        )
        assert said.status_code == 200 and said.json()["choices"][0]["message"]["content"] == "fourth answer"


async def test_a_turn_that_runs_out_of_time_is_a_timeout_not_an_answer(monkeypatch):
    from society import team

    monkeypatch.setattr(team, "TURN_TIMEOUT_S", 0.3)
    store = Store()
    conversation = open_conversation(store, slow_gate(["NEXT: executor", "late"], store, delay=0.4),
                                     enabled=["planner", "executor"])  # fmt: skip
    try:
        said = [m async for m in conversation.turn("Do a long thing")]
    finally:
        await conversation.close()
    assert store.turn_status(said[0].turn_id) == "timeout"
