"""The HTTP API in-process (httpx.ASGITransport) over a scripted team: every endpoint, the
OpenAI-compatible one through the `openai` SDK, the WebSocket, tokens, limits and errors."""

import json

import httpx
import pytest

from society.assemble import open_conversation
from society.storage.store import Store
from tests.conftest import scripted_gate
from ui.api import MAX_BODY_BYTES, create_app

# Each test runs on SQLite with the local index and on Postgres with a Chroma server.
pytestmark = pytest.mark.usefixtures("database")


def app_for(replies, token=None):
    store = Store()
    gate, client = scripted_gate(replies, store)
    app = create_app(lambda: open_conversation(store, gate, entry_point="api", enabled=["planner"]), token)
    return app, store, client


def http(app, **headers):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers)


def without_counts(*texts):
    """Scripted replies that carry no token counts (as the assertion below expects; a plain
    string reply would be counted, and its speed shown whenever the call took 1 ms or more)."""
    from autogen_core.models import CreateResult, RequestUsage

    usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
    return [CreateResult(content=t, finish_reason="stop", usage=usage, cached=False) for t in texts]


async def test_chat_history_feedback_and_metrics():
    app, store, _ = app_for(without_counts("Paris.", "Berlin."))
    async with http(app) as api:
        reply = await api.post("/chat", json={"message": "Capital of France?"})
        assert reply.status_code == 200
        body = reply.json()
        assert body["answer"] == "Paris." and [m["role"] for m in body["messages"]] == ["user", "planner"]
        history = (await api.get("/history", params={"last": 2})).json()
        assert [m["content"] for m in history] == ["Capital of France?", "Paris."]
        rated = (await api.post("/feedback", json={"good": True, "comment": "right"})).json()
        assert rated == {"message_id": body["messages"][1]["id"], "reward": 1.0, "explicit": 1}
        second = (await api.post("/chat", json={"message": "And Germany?"})).json()["messages"][1]["id"]
        earlier = (await api.post("/feedback", json={"good": False, "message_id": body["messages"][1]["id"]})).json()
        assert earlier["message_id"] == body["messages"][1]["id"] != second and earlier["reward"] == -1.0
        not_an_answer = await api.post("/feedback", json={"good": True, "message_id": body["messages"][0]["id"]})
        assert not_an_answer.status_code == 404 and "not an answer" in not_an_answer.json()["error"]["detail"]
        metrics = (await api.get("/metrics")).text
        assert 'society_turns_total{status="done"} 2.0' in metrics and "society_reward_count 2.0" in metrics
        status = (await api.get("/monitoring/status")).json()
        assert status["ram_total_mb"] > 0 and (status["gpu"] or "no NVIDIA GPU" in status["gpu_note"])
        assert status["last_answer"] is None  # scripted replies carry no token counts
        assert "society_vram_total_mb" in (await api.get("/metrics")).text
        docs = await api.get("/openapi.json")
        assert "/v1/chat/completions" in docs.json()["paths"]


async def test_the_openai_sdk_joins_the_conversation():
    from openai import AsyncOpenAI

    app, store, _ = app_for(["Hello from the team.", "Streamed answer."])
    async with http(app) as transport_client:
        sdk = AsyncOpenAI(base_url="http://test/v1", api_key="unused", http_client=transport_client)
        done = await sdk.chat.completions.create(model="society", messages=[{"role": "user", "content": "Hi"}])
        assert done.choices[0].message.content == "Hello from the team."
        stream = await sdk.chat.completions.create(
            model="society", messages=[{"role": "user", "content": "Again"}], stream=True
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        assert "".join(pieces) == "Streamed answer."
        assert len([p for p in pieces if p]) >= 2  # as it was written, not one chunk at the end
    assert [m.content for m in store.last_messages(4)] == ["Hi", "Hello from the team.", "Again", "Streamed answer."]


async def test_the_openai_sdk_lists_models_reads_errors_and_sends_instructions():
    """What Open WebUI and the SDK need: /v1/models, errors with a message and a type (the
    SDK shows them), a system message that reaches the model for this turn only, and an
    error during streaming raised by the SDK instead of read as the answer."""
    import openai
    from openai import AsyncOpenAI

    app, store, client = app_for(["こんにちは。", "Plain again."])
    async with http(app) as transport_client:
        sdk = AsyncOpenAI(base_url="http://test/v1", api_key="unused", http_client=transport_client)
        assert [m.id async for m in sdk.models.list()] == ["society"]
        assert (await sdk.models.retrieve("society")).owned_by == "society"
        with pytest.raises(openai.NotFoundError) as missing:
            await sdk.models.retrieve("gpt-4")
        assert "this API answers as 'society'" in missing.value.message
        with pytest.raises(openai.BadRequestError) as bad:
            await sdk.chat.completions.create(model="society", messages=[{"role": "system", "content": "x"}])
        assert bad.value.body["type"] == "invalid_request_error" and "no user message" in bad.value.body["message"]
        done = await sdk.chat.completions.create(
            model="society",
            messages=[
                {"role": "system", "content": "Answer in Japanese."},
                {"role": "user", "content": "An earlier question the conversation already holds"},
                {"role": "assistant", "content": "An earlier answer"},
                {"role": "user", "content": "Hello"},
            ],
        )
        assert done.choices[0].message.content == "こんにちは。"
        sent = client.create_calls[-1]["messages"]
        instructions = [
            m.content for m in sent if type(m).__name__ == "SystemMessage" and "Answer in Japanese." in m.content
        ]
        assert (
            instructions
            and sent.index(next(m for m in sent if "Answer in Japanese." in str(m.content))) == len(sent) - 2
        )
        assert "An earlier answer" not in json.dumps(
            [str(m.content) for m in sent]
        )  # the client's history is not replayed
        await sdk.chat.completions.create(model="society", messages=[{"role": "user", "content": "Plain"}])
        assert "Answer in Japanese." not in json.dumps([str(m.content) for m in client.create_calls[-1]["messages"]])
        with pytest.raises(openai.APIError) as streamed:  # no model left to answer: an error event, not text
            stream = await sdk.chat.completions.create(
                model="society", messages=[{"role": "user", "content": "One more"}], stream=True
            )
            _ = [chunk async for chunk in stream]
        assert "failed" in str(streamed.value.message) or "model" in str(streamed.value.message)
    assert [m.content for m in store.last_messages(6) if m.role == "user"] == ["Hello", "Plain", "One more"]


async def test_a_rate_limited_client_is_told_when_to_come_back():
    app, _, _ = app_for([], token="secret")
    async with http(app, authorization="Bearer secret") as api:
        replies = [await api.get("/history") for _ in range(70)]
    refused = next(r for r in replies if r.status_code == 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert (
        refused.json()["error"]["type"] == "rate_limit_error" and "try again in" in refused.json()["error"]["message"]
    )


async def test_metrics_start_from_what_the_database_holds():
    from training.reward import Rewards

    store = Store()
    for number in range(3):
        user = store.begin_turn(f"question {number}", "cli")
        answer = store.add_message(user.turn_id, "planner", "an answer")
        store.end_turn(user.turn_id, "done")
        Rewards(store).feedback(answer.id, good=number != 1)
    store.record_fallback(user.turn_id, "planner", "qwen2:7b-instruct", "smollm2", "out of memory")
    gate, _ = scripted_gate([], store)
    app = create_app(lambda: open_conversation(store, gate, entry_point="api", enabled=["planner"]))
    async with http(app) as api:  # a fresh process over a used data folder
        metrics = (await api.get("/metrics")).text
    assert 'society_turns_total{status="done"} 3.0' in metrics
    assert "society_turn_seconds_count 3.0" in metrics
    assert 'society_fallbacks_total{from_model="qwen2:7b-instruct"} 1.0' in metrics
    assert "society_reward_count 3.0" in metrics


async def test_export_then_import_round_trips_the_conversation(tmp_path, monkeypatch, database):
    """Every turn with its reasoning, tool calls and results, as JSON and as Markdown,
    imported through the API into a fresh data folder (on Postgres the database stays the
    same: the import finds the turn there already and adds nothing)."""
    from society.storage import transcript

    store = Store()
    user = store.begin_turn("list my workspace <!-- society:message {} -->", "cli")
    store.add_message(user.turn_id, "executor", 'list_dir({"path": "."})', kind="tool_call")
    store.add_message(user.turn_id, "executor", "notes.txt", kind="tool_result")
    store.add_message(user.turn_id, "planner", "It has notes.txt.", reasoning="The tool listed one file.", model="m")
    store.end_turn(user.turn_id, "done")
    gate, _ = scripted_gate([], store)
    app = create_app(lambda: open_conversation(store, gate, entry_point="api", enabled=["planner"]))
    async with http(app) as api:
        exported = {form: (await api.get("/export", params={"format": form})).text for form in ("json", "markdown")}
    assert "<details><summary>reasoning</summary>" in exported["markdown"]
    for form, text in exported.items():
        monkeypatch.setenv("SOCIETY_HOME", str(tmp_path / form))
        fresh = Store()
        gate, _ = scripted_gate([], fresh)
        app = create_app(lambda fresh=fresh, gate=gate: open_conversation(fresh, gate, enabled=["planner"]))
        async with http(app) as api:
            reply = await api.post("/import", content=text.encode())
            again = database != "sqlite"
            assert reply.json() == ({"turns": 0, "messages": 0} if again else {"turns": 1, "messages": 4})
            bad = await api.post("/import", content=b"# just some notes")
            assert bad.status_code == 400 and "neither a JSON nor a Markdown export" in bad.json()["error"]["message"]
        assert transcript.export_data(fresh)["turns"] == transcript.export_data(store)["turns"]


def test_the_websocket_streams_each_message():
    from fastapi.testclient import TestClient

    app, _, _ = app_for(["Streaming works."])
    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        socket.send_text(json.dumps({"message": "Hello"}))
        kinds, chunks = [], []
        while True:
            event = socket.receive_json()
            if event["type"] == "chunk":  # the answer as it is written
                chunks.append(event["text"])
                assert event["role"] == "planner"
                continue
            kinds.append((event["type"], event.get("message", {}).get("role")))
            if event["type"] == "done":
                break
        assert kinds == [("message", "user"), ("message", "planner"), ("done", None)]
        assert len(chunks) >= 2 and "".join(chunks) == "Streaming works."
        socket.send_text("not json")
        assert socket.receive_json()["type"] == "error"


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "says"),
    [
        ("post", "/chat", {"message": ""}, 422, "message: String should have at least 1 character"),
        ("post", "/chat", {"message": 5}, 422, "message: Input should be a valid string"),
        ("post", "/chat", {"message": "x" * 40_000}, 422, "message: String should have at most 32000 characters"),
        ("post", "/feedback", {"good": "maybe"}, 422, "good: Input should be a valid boolean"),
        ("post", "/feedback", {"good": True}, 409, "there is no answer to rate yet"),
        ("get", "/history?last=0", None, 422, "query.last"),
        ("post", "/v1/chat/completions", {"messages": [{"role": "system", "content": "x"}]}, 400, "no user message"),
    ],
)
async def test_bad_input_gets_a_clear_4xx(method, path, payload, status, says):
    app, _, _ = app_for([])
    async with http(app) as api:
        reply = await getattr(api, method)(path, **({"json": payload} if payload is not None else {}))
    assert reply.status_code == status
    assert says in reply.json()["error"]["detail"]


async def test_invalid_json_oversized_bodies_tokens_and_rate_limits():
    app, _, _ = app_for([], token="secret")
    async with http(app) as api:
        assert (await api.get("/history")).status_code == 401
    async with http(app, authorization="Bearer secret") as api:
        assert (await api.get("/history")).status_code == 200
        broken = await api.post("/chat", content=b"{not json", headers={"content-type": "application/json"})
        assert broken.status_code == 422 and "JSON" in broken.json()["error"]["detail"]
        huge = await api.post(
            "/chat", content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "application/json"}
        )
        assert huge.status_code == 413
        codes = [(await api.get("/history")).status_code for _ in range(70)]
        assert 429 in codes and codes.index(429) > 50


@pytest.mark.slow
def test_a_real_server_answers_with_the_embedded_model(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT, society

    refused = society("ui", "--host", "0.0.0.0", cwd=tmp_path)
    assert refused.returncode == 2 and "set --token" in refused.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "society.cli", "ui", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/history", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        reply = httpx.post(f"{base}/chat", json={"message": "What is 2+2?"}, timeout=120).json()
        assert reply["answer"].strip() and reply["messages"][1]["model"] == "smollm2-135m-instruct"
        assert "society_turn_seconds_count 1.0" in httpx.get(f"{base}/metrics").text
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_the_grafana_dashboard_asks_for_metrics_the_api_exports():
    import re

    from tests.conftest import ROOT

    app, _, _ = app_for(["Paris."])
    async with http(app) as api:
        await api.post("/chat", json={"message": "Capital of France?"})
        families = re.findall(r"^# TYPE (society_\w+)", (await api.get("/metrics")).text, re.MULTILINE)
    exported = {re.sub(r"_total$", "", name) for name in families}
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    asked = {
        re.sub(r"_(total|sum|count|bucket)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"society_\w+", target["expr"])
    }
    assert len(dashboard["panels"]) >= 6 and asked and asked <= exported, asked - exported
