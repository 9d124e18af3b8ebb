"""Learning takes the GPU from the chat (society/models/machine/gpu_claim.py): Ollama is asked to unload
(what the stand-in received), the machine-wide model lock is held, the chat meanwhile
answers from a CPU rung without waiting for that lock and says so, and a learning cycle on
the GPU path claims the GPU before it plans or loads anything."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from filelock import FileLock, Timeout

from society.models.machine.gpu_claim import claim_gpu, read_claim
from society.paths import model_lock_path
from tests.conftest import ROOT, chat_completion, recording_server, write_config
from tests.ollama_standin import QWEN2_7B


@pytest.fixture(autouse=True)
def own_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIETY_MODEL_LOCK", str(tmp_path / "model.lock"))


def test_claiming_unloads_ollama_and_holds_the_model_lock(ollama):
    ollama._load(ollama.models[QWEN2_7B.name], 8192, "30m")
    with claim_gpu("learning", [ollama.url]) as unloaded:
        assert unloaded == [QWEN2_7B.name]
        unload = [r["body"] for r in ollama.received if r["path"] == "/api/chat"]
        assert unload == [{"model": QWEN2_7B.name, "messages": [], "keep_alive": 0}]
        assert ollama.ps()["models"] == []
        with pytest.raises(Timeout):
            FileLock(str(model_lock_path()), thread_local=False).acquire(timeout=0.1)
        shown = subprocess.run(
            [sys.executable, "-c", "from society.models.machine.gpu_claim import read_claim; print(read_claim())"],
            capture_output=True, text=True, cwd=ROOT, check=True,
        )  # fmt: skip
        assert shown.stdout.strip().startswith("learning (pid ")
    assert read_claim() is None
    FileLock(str(model_lock_path()), thread_local=False).acquire(timeout=0.1)  # released


async def test_while_learning_holds_the_gpu_the_chat_answers_on_a_cpu_rung(ollama, tmp_path, monkeypatch):
    from society.assemble import open_conversation
    from society.storage.store import Store

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom society.models.machine.gpu_claim import claim_gpu\n"
         f"with claim_gpu('learning', [{ollama.url!r}]):\n    print('held', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with recording_server(lambda m, p, b: (200, chat_completion("From the CPU rung."))) as (url, received):
            entries = [
                {"model": QWEN2_7B.name, "api_type": "ollama", "base_url": ollama.url, "context_window": 8192},
                {"model": "cpu-model", "api_type": "openai", "base_url": url + "/v1", "vram_mb": 0},
            ]
            write_config(tmp_path / "models.json", entries, monkeypatch)
            conversation = open_conversation(Store(), entry_point="cli", enabled=["planner"])
            said = []
            conversation.gate.notify = said.append
            started = time.perf_counter()
            try:
                messages = [m async for m in conversation.turn("Hello?")]
            finally:
                await conversation.close()
            assert time.perf_counter() - started < 30  # did not wait for the trainer's lock
            assert messages[-1].model == "cpu-model" and messages[-1].content == "From the CPU rung."
            assert [r["path"] for r in received if r["method"] == "POST"] == ["/v1/chat/completions"]
            assert not [r for r in ollama.received if r["path"] == "/api/chat" and r["body"].get("messages")]
            assert any("learning (pid" in line and "answering on cpu-model" in line for line in said)
    finally:
        holder.kill()
        holder.wait()


def test_a_gpu_learning_cycle_claims_the_gpu_before_planning(ollama, tmp_path, monkeypatch):
    from society.errors import LearningError
    from training import base, cycle

    ollama._load(ollama.models[QWEN2_7B.name], 8192, "30m")
    entries = [{"model": QWEN2_7B.name, "api_type": "ollama", "base_url": ollama.url, "context_window": 8192}]
    write_config(tmp_path / "models.json", entries, monkeypatch)
    folder = tmp_path / "qwen2-7b"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_text("")
    seen = []

    def plan_training(hf_base, rank, sequence):
        seen.append((hf_base, read_claim() is not None, [m["name"] for m in ollama.ps()["models"]]))
        raise LearningError("stop here: no GPU on this machine")

    monkeypatch.setattr(base, "plan_training", plan_training)
    from training.settings import LearningSettings

    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]} for i in range(6)
    ]
    with pytest.raises(LearningError, match="stop here"):
        cycle.learn(rows=rows, settings=LearningSettings(hf_base=str(folder)), progress=False)
    assert seen == [(str(folder), True, [])]  # claimed, and Ollama had unloaded, before planning
    assert read_claim() is None  # and let go after the failure
    assert json.dumps({"model": QWEN2_7B.name, "messages": [], "keep_alive": 0}) in [
        json.dumps(r["body"]) for r in ollama.received if r["path"] == "/api/chat"
    ]
