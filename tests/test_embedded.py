"""The real embedded model (SmolLM2-135M through llama.cpp) behind the real `society` command,
and the HTTP paths: a real llama.cpp OpenAI-compatible server, and Ollama's protocol."""

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from society.models.config import ModelEntry, load_entries
from society.storage.store import Store
from tests.conftest import EMBEDDED, UNREACHABLE_OLLAMA, json_server, society, write_config

pytestmark = pytest.mark.slow


def run_json(*args, cwd, stdin=None):
    result = society("run", "--json", *args, cwd=cwd, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_embedded_model_answers_a_headless_run_and_the_turn_is_persisted(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reply, _ = run_json("What is 2+2?", cwd=tmp_path / "a")
    assert reply["answer"].strip()
    assert reply["status"] == "done"
    assert [m["role"] for m in reply["messages"]] == ["user", "planner"]
    assert reply["messages"][1]["model"] == "smollm2-135m-instruct"
    assert reply["messages"][1]["completion_tokens"] > 0
    history = json.loads(society("history", "--json", "--last", "2", cwd=tmp_path / "b").stdout)
    assert [m["content"] for m in history] == ["What is 2+2?", reply["answer"]]


def test_second_process_from_another_directory_continues_the_conversation(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIETY_TRACE", "1")  # store the prompts sent, to look inside the context
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, _ = run_json("My name is Aiko and I live in Kyoto.", cwd=tmp_path / "a")
    second, _ = run_json("-", cwd=tmp_path / "b", stdin="What is my name?")
    assert second["turn_id"] == first["turn_id"] + 1
    [call] = Store().calls(second["turn_id"])
    prompt = json.loads(call["prompt"])
    said = [m["content"] for m in prompt]
    assert "My name is Aiko and I live in Kyoto." in said
    assert first["answer"] in said
    assert said[-1] == "What is my name?"


def test_unreachable_ollama_entry_falls_back_to_the_embedded_model(tmp_path, monkeypatch):
    cpu_ollama = {**UNREACHABLE_OLLAMA, "vram_mb": 0}  # would be chosen first if it answered
    write_config(tmp_path / "models.json", [cpu_ollama, EMBEDDED], monkeypatch)
    reply, stderr = run_json("Hello!", cwd=tmp_path)
    assert reply["messages"][-1]["model"] == "smollm2-135m-instruct"
    said = [line for line in stderr.splitlines() if "skipping" in line or "answering" in line]
    assert said == [
        "society: skipping qwen2:7b-instruct: Ollama at http://127.0.0.1:9 unreachable "
        "(ConnectError: [Errno 111] Connection refused)",
        "society: answering with smollm2-135m-instruct (on the CPU, in this process)",
    ]


def test_without_ollama_one_line_says_what_is_skipped_and_one_which_model_answers(tmp_path, monkeypatch):
    from society.models.gate import ModelGate

    second = {**UNREACHABLE_OLLAMA, "model": "qwen2.5:7b-instruct"}
    write_config(tmp_path / "models.json", [UNREACHABLE_OLLAMA, second, EMBEDDED], monkeypatch)
    lines = []
    gate = ModelGate(load_entries(), notify=lines.append)
    gate.reachability.now()
    gate.reachability._probe_at = 0.0  # probed again, as after PROBE_TTL_S
    gate.reachability.now()  # said once per process, not per probe
    assert lines == [
        "skipping qwen2:7b-instruct, qwen2.5:7b-instruct: Ollama at http://127.0.0.1:9 unreachable "
        "(ConnectError: [Errno 111] Connection refused)",
        "answering with smollm2-135m-instruct (on the CPU, in this process)",
    ]


def ollama_out_of_memory(method, path):
    """Ollama's API: the model is listed as pulled, then fails to load for lack of memory, with
    the error text Ollama itself returns."""
    if method == "GET":
        return 200, {"models": [{"name": "qwen2:7b-instruct", "model": "qwen2:7b-instruct"}]}
    return 500, {"error": "model requires more system memory (5.6 GiB) than is available (1.2 GiB)"}


def test_ollama_out_of_memory_falls_back_and_the_fallback_is_recorded(tmp_path, monkeypatch):
    with json_server(ollama_out_of_memory) as url:
        ollama = {**UNREACHABLE_OLLAMA, "vram_mb": 0, "base_url": url}
        write_config(tmp_path / "models.json", [ollama, EMBEDDED], monkeypatch)
        reply, stderr = run_json("Hello!", cwd=tmp_path)
    assert reply["messages"][-1]["model"] == "smollm2-135m-instruct"
    [fallback] = reply["fallbacks"]
    assert (fallback["from_model"], fallback["to_model"]) == ("qwen2:7b-instruct", "smollm2-135m-instruct")
    assert "requires more system memory" in fallback["reason"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def llama_server():
    """A real `python -m llama_cpp.server` serving the embedded GGUF over HTTP."""
    port = free_port()
    path = ModelEntry(
        **{"model": "x", "backend": "llama_cpp", "model_path": EMBEDDED["model_path"]}
    ).resolved_model_path()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # The server as `python -m llama_cpp.server` runs it, on a CPU with AMX without the
            # weight repacking that crashes there (society/models/backends/llama_cpp/client.py).
            "import runpy, sys; from society.models.machine.hardware import keep_weights_off_amx;"
            " keep_weights_off_amx();"
            " sys.argv[0] = 'llama_cpp.server'; runpy.run_module('llama_cpp.server', run_name='__main__')",
            "--model",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/models", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("llama_cpp.server did not start within 120 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_openai_compatible_server_path_answers_over_http(tmp_path, monkeypatch, llama_server):
    served = {
        "model": "smollm2-over-http",
        "api_type": "openai",
        "base_url": llama_server,
        "context_window": 2048,
        "max_tokens": 48,
    }
    write_config(tmp_path / "models.json", [served, EMBEDDED], monkeypatch)
    reply, _ = run_json("What is the capital of France?", cwd=tmp_path)
    assert reply["answer"].strip()
    assert reply["messages"][-1]["model"] == "smollm2-over-http"
    assert reply["fallbacks"] == []


def test_reasoning_mode_on_the_embedded_model_keeps_tags_out_of_the_answer(tmp_path, monkeypatch):
    from society.models.reasoning import REASONING_INSTRUCTION

    monkeypatch.setenv("SOCIETY_TRACE", "1")
    reply, _ = run_json("--think", "Is 17 a prime number?", cwd=tmp_path)
    answer = reply["messages"][-1]
    assert "<think>" not in answer["content"] and "</think>" not in answer["content"]
    [call] = Store().calls(reply["turn_id"])
    assert call["ok"] == 1
    # The real model was asked to think first, just before the question.
    sent = [m["content"] for m in json.loads(call["prompt"])]
    assert sent[-2:] == [REASONING_INSTRUCTION, "Is 17 a prime number?"]


async def test_embedded_model_writes_the_rolling_summary():
    from society import summary
    from society.assemble import open_conversation
    from tests.test_context import synthetic_history

    store = Store()
    synthetic_history(store, 30)  # 60 messages: more than the verbatim window and one batch
    conversation = open_conversation(store)
    assert await summary.update(store, conversation.listeners.find(summary.SummaryListener).summarize)
    through, text = store.latest_summary()
    with store.engine.connect() as conn:
        model = conn.exec_driver_sql("SELECT model FROM summaries ORDER BY id DESC LIMIT 1").scalar()
    assert model == "smollm2-135m-instruct"
    assert text.strip() and len(text) <= summary.MAX_SUMMARY_CHARS
    assert through >= summary.BATCH_MESSAGES


def test_llama_cpp_python_is_the_pinned_version_with_the_internals_we_use():
    """society/models/backends/llama_cpp/client.py, kv_reuse.py, draft_decoding.py and greedy_grammar.py reach
    past llama-cpp-python's public API (its context, model, batch and input ids, and C
    functions). Those change between versions without notice, so the version is pinned in
    pyproject.toml and each thing touched is checked here on a real model."""
    import re
    from importlib.metadata import version
    from pathlib import Path

    import llama_cpp

    from society.models.backends.registry import build_client

    pinned = re.search(r'"llama-cpp-python==([\d.]+)"', (Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pinned and version("llama-cpp-python") == pinned.group(1)
    for name in (
        "llama_sampler_init_grammar", "llama_sampler_free", "llama_sampler_accept", "llama_sampler_apply",
        "llama_sampler_chain_n", "llama_sampler_chain_get", "llama_sampler_name", "llama_vocab_is_eog",
        "llama_set_abort_callback", "ggml_abort_callback", "llama_get_logits_ith", "llama_state_get_size",
        "llama_state_get_data", "llama_state_set_data", "llama_token_data", "llama_token_data_array",
        "llama_log_set", "llama_log_callback",
    ):  # fmt: skip
        assert hasattr(llama_cpp, name), name
    entry = ModelEntry(EMBEDDED["model"], "llama_cpp", model_path=EMBEDDED["model_path"], context_window=2048)
    llm = build_client(entry).llm
    assert llm._model.vocab is not None and llm._ctx.ctx is not None
    for method in ("kv_cache_seq_rm", "decode", "set_n_threads"):
        assert callable(getattr(llm._ctx, method)), method
    assert callable(llm._batch.set_batch) and len(llm._input_ids) == llm.n_tokens
