"""The user's laptop: Ollama with 7B models on a 6 GB card, against the faithful stand-in in
tests/ollama_standin.py. Every test asserts what the stand-in RECEIVED: the product's own
request bodies, not only what it did with the replies."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from society.assemble import open_conversation
from society.models.backends.ollama.api import parse_host, read_facts
from society.models.config import load_entries
from society.models.gate import ModelGate
from society.models.ladder import fallback_reason
from society.models.machine.hardware import read_machine
from society.models.turns import Turn, in_turn
from society.storage.store import Store
from tests.conftest import write_config
from tests.ollama_standin import DEEPSEEK_R1_7B, QWEN2_1_5B, QWEN2_7B, OllamaStandin


def ladder(tmp_path, url: str, *extra: dict) -> list:
    """The laptop's ladder (as OAI_CONFIG_LIST.json ships it) pointed at the stand-in."""
    entries = [
        {
            "model": DEEPSEEK_R1_7B.name,
            "api_type": "ollama",
            "base_url": url,
            "abilities": ["reasoning"],
            "roles": ["planner", "judge"],
            "context_window": 4096,
            "max_tokens": 1536,
        },
        {
            "model": QWEN2_7B.name,
            "api_type": "ollama",
            "base_url": url,
            "abilities": ["tools"],
            "context_window": 8192,
            "max_tokens": 1024,
        },
        {"model": QWEN2_1_5B.name, "api_type": "ollama", "base_url": url, "abilities": ["tools"]},
        *extra,
    ]
    return load_entries(write_config(tmp_path / "models.json", entries))


def gate_over(standin: OllamaStandin, entries, store=None, notes=None) -> ModelGate:
    """The real gate and the real Ollama client; only NVML is replaced, by the card reading
    the stand-in's loaded models imply."""
    return ModelGate(
        entries,
        store,
        read=lambda: replace(read_machine(entries), gpu=standin.card()),
        notify=(notes if notes is not None else []).append,
    )


async def turn(gate, store, text: str, think: bool = False, roles=("planner",)):
    conversation = open_conversation(store, gate, enabled=list(roles))
    try:
        return [m async for m in conversation.turn(text, think)]
    finally:
        await conversation.close()


# -- where Ollama is -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),  # the server's bind-all address, reached locally
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("example.com", "http://example.com:11434"),
        ("example.com:56789", "http://example.com:56789"),
        ("http://example.com", "http://example.com:80"),
        ("https://example.com", "https://example.com:443"),
        ("[::1]:11434", "http://[::1]:11434"),
        ("[::]", "http://[::1]:11434"),
        ("http://box:11434/ollama/", "http://box:11434/ollama"),
    ],
)
def test_ollama_host_is_read_as_ollama_reads_it(value, url):
    assert parse_host(value) == url


def test_an_entry_without_base_url_follows_ollama_host(tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0")
    path = write_config(tmp_path / "m.json", [{"model": "qwen2:7b-instruct", "api_type": "ollama"}])
    assert load_entries(path)[0].base_url == "http://127.0.0.1:11434"  # was http://0.0.0.0 (port 80)


# -- what a turn sends -----------------------------------------------------------------------


async def test_a_plain_turn_sends_the_context_keep_alive_and_no_thinking(ollama, tmp_path):
    store = Store()
    entries = ladder(tmp_path, ollama.url)
    said = await turn(gate_over(ollama, entries, store), store, "What is the capital of France?")
    body = ollama.chats()[-1]
    # A plain answer goes to the model that does not think, though the reasoning one is first.
    assert body["model"] == QWEN2_7B.name
    assert body["options"]["num_ctx"] == 8192 and body["options"]["num_predict"] == 1024
    assert body["keep_alive"] == "30m"
    assert "think" not in body and not body.get("tools")
    assert body["stream"] is True  # the answer is shown as it is written
    assert said[-1].content == "A stand-in answer." and said[-1].model == QWEN2_7B.name
    assert ollama.truncated == []


async def test_options_merge_so_num_ctx_survives_every_call(ollama, tmp_path):
    """The per-call cap (num_predict) and the per-model options (num_ctx, seed, stop) all
    arrive: the call's never replaces the model's."""
    entries = ladder(tmp_path, ollama.url)
    entries[1] = replace(entries[1], options={"seed": 7, "stop": ["<|im_end|>"]})
    store = Store()
    long_history = "Tell me more about this. " * 300  # ~1,900 tokens a turn: over 4096 in three
    gate = gate_over(ollama, entries, store)
    for _ in range(3):
        await turn(gate, store, long_history)
    for body in ollama.chats():
        assert body["options"] == {"num_ctx": 8192, "seed": 7, "stop": ["<|im_end|>"], "num_predict": 1024}
    assert ollama.truncated == []  # at Ollama's default 4096 the oldest messages were cut


async def test_a_think_turn_picks_the_reasoning_model_and_keeps_its_thinking(ollama, tmp_path):
    store = Store()
    entries = ladder(tmp_path, ollama.url)
    gate = gate_over(ollama, entries, store)
    await turn(gate, store, "hello")  # qwen2:7b is loaded now
    ollama.replies.append({"content": "42.", "thinking": "Six times seven is forty-two."})
    said = await turn(gate, store, "What is six times seven?", think=True)
    body = ollama.chats()[-1]
    assert body["model"] == DEEPSEEK_R1_7B.name and body["think"] is True
    assert body["options"]["num_ctx"] == 4096
    answer = said[-1]
    assert answer.content == "42." and answer.reasoning == "Six times seven is forty-two."
    # The next plain turn: back to the model that does not think, and the thinking is never sent.
    await turn(gate, store, "thanks")
    body = ollama.chats()[-1]
    assert body["model"] == QWEN2_7B.name and "think" not in body
    assert "forty-two" not in json.dumps(body["messages"])


async def test_a_thinking_model_is_told_not_to_think_on_a_plain_call(ollama, tmp_path):
    """Where the reasoning model is the only one a role may use, a plain call says think:
    false (Ollama thinks by default) and nothing is stored as reasoning."""
    store = Store()
    entries = [e for e in ladder(tmp_path, ollama.url) if e.model == DEEPSEEK_R1_7B.name]
    said = await turn(gate_over(ollama, entries, store), store, "hi")
    assert ollama.chats()[-1]["think"] is False
    assert said[-1].reasoning is None


async def test_a_tool_turn_sends_the_tools_and_forces_a_call_ollama_cannot_require(ollama, tmp_path):
    """Ollama has no tool_choice: when a role must act (the memory keeper) and the model
    answers in prose, it is asked again with the output held to a call by `format`."""
    store = Store()
    entries = ladder(tmp_path, ollama.url)
    ollama.replies += [
        {"content": "Sure, I will keep that in mind."},  # prose where a call was required
        {"content": json.dumps({"tool": "remember", "arguments": {"content": "My cat is called Tama"}})},
        {"content": "I will remember that your cat is called Tama."},
    ]
    gate = gate_over(ollama, entries, store)
    await turn(gate, store, "@memory_keeper remember that my cat is called Tama", roles=("planner", "memory_keeper"))
    native, forced = ollama.chats()[0], ollama.chats()[1]
    assert native["model"] == QWEN2_7B.name
    assert {t["function"]["name"] for t in native["tools"]} == {"remember", "recall", "update_memory", "forget"}
    schema = json.dumps(forced["format"])  # a call to one of the tools, and nothing else
    assert not forced.get("tools") and '"const": "remember"' in schema and '"answer"' not in schema
    assert forced["options"]["temperature"] == 0.0
    calls = [m for m in store.last_messages(20) if m.kind == "tool_call"]
    assert calls and "Tama" in calls[0].content


async def test_native_tools_reach_ollama_whole_and_the_call_is_held_to_the_request(ollama, tmp_path):
    """The function-calling path on a model with native calls: Ollama receives each tool
    with its lists' items, its choices and its objects' fields (autogen-ext sent only types
    and descriptions), and the 7B's call is held to the request like the 135M's."""
    from autogen_core.models import SystemMessage, UserMessage

    from tests.function_cases import FUNCTIONS

    offered = {f["name"]: f for f, _ in FUNCTIONS if f["name"] in ("convert_currency", "get_weather", "create_event")}
    entries = [e for e in ladder(tmp_path, ollama.url) if e.model == QWEN2_7B.name]
    call = {"name": "convert_currency", "arguments": {"amount": 2, "from_currency": "USD", "to_currency": "JPY"}}
    ollama.replies.append({"content": "", "tool_calls": [{"function": call}]})
    gate = gate_over(ollama, entries)
    request = UserMessage(content="How much is 2,000,000 JPY in USD?", source="user")
    with in_turn(Turn()):
        result = await gate.create(
            "executor", [SystemMessage(content="Call a function."), request], tools=[*offered.values()]
        )
    body = ollama.chats()[-1]
    sent = {tool["function"]["name"]: tool["function"]["parameters"] for tool in body["tools"]}
    assert set(sent) == set(offered)
    assert sent["get_weather"]["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]  # quoted in its description
    assert 'Default "celsius"' in sent["get_weather"]["properties"]["unit"]["description"]
    event = sent["create_event"]["properties"]["event"]
    assert event["type"] == "object" and '"attendees"' in event["description"]  # its fields, for the model to read
    assert sent["convert_currency"]["required"] == ["amount", "from_currency", "to_currency"]
    made = json.loads(result.content[0].arguments)
    assert made == {"amount": 2_000_000, "from_currency": "JPY", "to_currency": "USD"}  # as the request says


async def test_background_work_does_not_keep_a_model_the_chat_has_not_loaded(ollama, tmp_path):
    store = Store()
    entries = ladder(tmp_path, ollama.url)
    gate = gate_over(ollama, entries, store)
    await turn(gate, store, "hello")  # the chat's qwen2:7b is loaded
    from autogen_core.models import UserMessage

    with in_turn(Turn(turn_id=None)):
        await gate.create_recorded("summarizer", [UserMessage(content="summarise: hi", source="user")])
    summary = ollama.chats()[-1]
    assert summary["model"] == QWEN2_7B.name and summary["keep_alive"] == "30m"  # loaded: kept warm
    ollama.loaded.clear()  # the chat's model expired
    await gate.create_recorded("judge", [UserMessage(content="score this", source="user")])
    judge = ollama.chats()[-1]
    assert judge["keep_alive"] == 0 and judge["model"] == QWEN2_7B.name  # a plain judge: no thinking model
    assert ollama.loaded == {}  # unloaded after the call


# -- VRAM: read, computed, and watched --------------------------------------------------------


def test_vram_need_is_computed_from_api_show_and_matches_what_ollama_loads(ollama):
    facts = read_facts(ollama.url, [QWEN2_7B.name, DEEPSEEK_R1_7B.name, "not-pulled:1b"])
    assert set(facts) == {QWEN2_7B.name, DEEPSEEK_R1_7B.name}
    qwen = facts[QWEN2_7B.name]
    assert (qwen.architecture, qwen.parameter_size, qwen.quantization) == ("qwen2", "7.6B", "Q4_0")
    assert qwen.context_length == 32768 and qwen.has("tools") and not qwen.has("thinking")
    assert facts[DEEPSEEK_R1_7B.name].has("thinking")
    for num_ctx in (2048, 4096, 8192):
        ollama._load(ollama.models[QWEN2_7B.name], num_ctx, None)
        reported = ollama.ps()["models"][0]["size"] // 2**20
        assert abs(qwen.need_mb(num_ctx) - reported) <= 2, num_ctx
    # Two files of the same size and shape need the same, at the same context.
    assert qwen.need_mb(8192) - qwen.need_mb(4096) == qwen.kv_cache_mb(4096) + (
        qwen.compute_mb(8192) - qwen.compute_mb(4096)
    )
    asked = [r for r in ollama.received if r["path"] == "/api/show"]
    read_facts(ollama.url, [QWEN2_7B.name])
    assert len([r for r in ollama.received if r["path"] == "/api/show"]) == len(asked)  # asked once


async def test_a_partly_offloaded_model_is_noticed_and_a_model_that_fits_preferred(tmp_path):
    standin = OllamaStandin(desktop_mb=1200)  # a browser with video holds 1.2 GB of the card
    server, url = standin.serve()
    try:
        store, notes = Store(), []
        entries = ladder(tmp_path, url)
        # The list says qwen2:7b fits (a hand-typed figure); Ollama's own figures say it does not.
        entries[1] = replace(entries[1], vram_mb=4500)
        gate = gate_over(standin, entries, store, notes)
        assert [c.entry.model for c in gate.plan("planner")][0] == QWEN2_1_5B.name
        # Forced onto the 7B anyway (it is the only rung), it is offloaded, and that is seen.
        only_7b = gate_over(standin, [entries[1]], store, notes)
        await turn(only_7b, store, "hello")
        running = standin.ps()["models"][0]
        assert running["size_vram"] < running["size"]
        assert any("partly offloaded" in line for line in notes)
        order = gate.plan("planner")
        assert order[0].entry.model == QWEN2_1_5B.name
        assert "partly offloaded" in next(c.why for c in order if c.entry.model == QWEN2_7B.name)
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "message",
    [
        "model requires more system memory (5.6 GiB) than is available (3.9 GiB)",
        "llama runner process has terminated: cudaMalloc failed: out of memory",
        "llama runner process has terminated: error loading model: unable to allocate CUDA0 buffer",
        "memory layout cannot be allocated",
        "insufficient memory for model",
    ],
)
def test_out_of_memory_wordings_of_ollama_versions_fall_down_the_ladder(message):
    from ollama import ResponseError

    assert fallback_reason(RuntimeError(message)).startswith("out of memory")
    assert fallback_reason(ResponseError(message, 500)) is not None


def test_the_model_lock_is_one_per_machine_whatever_the_data_folder(tmp_path, monkeypatch):
    from society.paths import model_lock_path, using_data_dir

    monkeypatch.delenv("SOCIETY_MODEL_LOCK", raising=False)
    with using_data_dir(tmp_path / "a"):
        first = model_lock_path()
    with using_data_dir(tmp_path / "b"):
        second = model_lock_path()
    assert first == second and tmp_path not in first.parents


# -- society status --------------------------------------------------------------------------


def test_status_shows_each_ollama_model_where_it_is_and_why(ollama, tmp_path, monkeypatch):
    entries = ladder(tmp_path, ollama.url)
    monkeypatch.setenv("SOCIETY_CONFIG", str(tmp_path / "models.json"))
    ollama._load(ollama.models[QWEN2_7B.name], 8192, "30m")
    from society import status

    monkeypatch.setattr(status, "read_gpu", lambda: ollama.card(), raising=False)
    monkeypatch.setattr("society.models.machine.hardware.read_gpu", lambda: ollama.card())
    from society.assemble import status as collect

    info = collect()
    rungs = {r["model"]: r for r in info["ladder"]}
    qwen = rungs[QWEN2_7B.name]
    assert qwen["state"] == "loaded, all on the GPU" and qwen["context"] == 8192
    assert qwen["vram_need_mb"] == read_facts(ollama.url, [QWEN2_7B.name])[QWEN2_7B.name].need_mb(8192)
    assert rungs[DEEPSEEK_R1_7B.name]["state"] == "not loaded"
    assert "quantization" in qwen["facts"] or qwen["facts"].startswith("qwen2")
    result = CliRunner().invoke(__import__("society.cli").cli.app, ["status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "all on the GPU" in result.output and "not loaded" in result.output
    # Learning follows the chat's model: the loaded qwen2 answers, so its Hugging Face base trains.
    assert info["learning"]["hf_base"] == "Qwen/Qwen2-7B-Instruct"
    assert f"learning trains {QWEN2_7B.name} through Qwen/Qwen2-7B-Instruct" in result.output
    assert entries and "8192" in result.output


def test_a_learned_adapter_reaches_ollama_as_a_new_tag(ollama, tmp_path):
    from training.deploy import ollama_create

    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    ollama_create(ollama.url, QWEN2_7B.name, "qwen2:society-a1", adapter)
    ollama_create(ollama.url, QWEN2_7B.name, "qwen2:society-a1", adapter)  # again: the blob is not re-sent
    uploads = [r for r in ollama.received if r["path"].startswith("/api/blobs/")]
    assert [r["method"] for r in uploads] == ["HEAD", "POST", "HEAD"]
    create = [r["body"] for r in ollama.received if r["path"] == "/api/create"][0]
    assert create["from"] == QWEN2_7B.name and create["model"] == "qwen2:society-a1"
    assert list(create["adapters"].values())[0] == uploads[0]["path"].removeprefix("/api/blobs/")
    assert "qwen2:society-a1" in {m["name"] for m in ollama.tags()["models"]}
