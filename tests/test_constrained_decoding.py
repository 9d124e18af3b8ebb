"""Constrained decoding on the real embedded model: the grammar asked about the best tokens
first (society/models/backends/llama_cpp/greedy_grammar.py) gives what llama-cpp-python's own sampler gives; a reply
filled around its fixed parts (society/models/backends/llama_cpp/json_fill.py) is valid for its schema and holds the
fixed values; the thread count follows what other processes use, not this one, and every
generation runs on the one model thread."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import jsonschema
import pytest

from society.models.backends.llama_cpp import greedy_grammar, json_fill
from society.models.backends.registry import BACKENDS
from tests.conftest import EMBEDDED

pytestmark = pytest.mark.slow

CALL = {
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "tool": {"const": "get_weather"},
                "arguments": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "maxLength": 40},
                        "unit": {"enum": ["celsius", "fahrenheit"]},
                        "days": {"type": "integer"},
                    },
                    "required": ["city", "unit"],
                },
            },
            "required": ["tool", "arguments"],
        },
        {
            "type": "object",
            "properties": {
                "tool": {"const": "answer"},
                "arguments": {"type": "object", "properties": {"text": {"type": "string", "maxLength": 80}}},
            },
            "required": ["tool", "arguments"],
        },
    ]
}
SYSTEM = 'Tools: get_weather(city, unit, days). Reply with JSON: {"tool": ..., "arguments": ...}'
MESSAGES = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "What's the weather in Osaka in celsius for 3 days?"},
]


def load():
    from llama_cpp import Llama

    from society.models.config import ModelEntry

    path = ModelEntry("x", "llama_cpp", model_path=EMBEDDED["model_path"]).resolved_model_path()
    return Llama(model_path=str(path), n_ctx=2048, n_threads=2, n_threads_batch=2, seed=0, verbose=False)


@pytest.fixture(scope="module")
def llm():
    return load()


def test_asking_the_grammar_about_the_best_tokens_first_gives_the_same_calls(llm):
    from llama_cpp import LlamaGrammar

    from society.models.backends.llama_cpp.grammar import grammar_problem

    assert grammar_problem(CALL) is None
    grammar = LlamaGrammar.from_json_schema(json.dumps(CALL), verbose=False)
    questions = ["What's the weather in Osaka in celsius?", "大阪の天気を華氏で", "Tell me a joke."]

    def replies(model) -> list[tuple[str, str]]:
        out = []
        for question in questions:
            model.reset()
            messages = [MESSAGES[0], {"role": "user", "content": question}]
            reply = model.create_chat_completion(messages=messages, max_tokens=60, temperature=0.0, grammar=grammar)
            out.append((reply["choices"][0]["message"]["content"], reply["choices"][0]["finish_reason"]))
        return out

    plain = replies(llm)
    fast = load()
    greedy_grammar.install(fast)
    assert replies(fast) == plain
    # A reply the token limit cut is a valid beginning only: on an AMD EPYC (no AMX) the 0.5B
    # wrote "gmt_gmt_gmt_…" into the city until the 60 tokens ran out. Every reply that ended
    # by itself is a valid call.
    ended = [reply for reply, why in plain if why == "stop"]
    assert len(ended) >= 2
    for reply in ended:
        jsonschema.validate(json.loads(reply), CALL)


def test_a_filled_reply_is_valid_for_its_schema_and_holds_its_fixed_values(llm):
    held = json.loads(json.dumps(CALL["anyOf"][0]))
    held["properties"]["arguments"]["properties"]["unit"] = {"const": "celsius"}
    held["properties"]["arguments"]["properties"]["city"] = {"enum": ["Osaka", "weather", "days"]}
    prompt = json_fill.chat_prompt(llm, MESSAGES)
    assert prompt is not None and json_fill.fillable(held) and json_fill.fillable(CALL)
    filled = json_fill.fill(llm, prompt, held, 64, threading.Event())
    call = json.loads(filled.text)
    jsonschema.validate(call, held)
    assert call["tool"] == "get_weather" and call["arguments"]["unit"] == "celsius"
    assert filled.finish == "stop"
    # Only the open parts were generated: far fewer tokens than the reply has.
    assert 0 < filled.completion_tokens < len(llm.tokenize(filled.text.encode(), add_bos=False)) / 2

    whole = json_fill.fill(llm, prompt, CALL, 64, threading.Event())
    jsonschema.validate(json.loads(whole.text), CALL)


def test_a_filled_reply_out_of_tokens_or_stopped_says_so(llm):
    prompt = json_fill.chat_prompt(llm, MESSAGES)
    short = json_fill.fill(llm, prompt, CALL, 1, threading.Event())
    assert short.finish == "length"
    stop = threading.Event()
    stop.set()
    assert json_fill.fill(llm, prompt, CALL, 64, stop).finish == "unknown"


def test_only_the_embedded_model_is_asked_to_fill():
    assert BACKENDS["llama_cpp"].output_schema_args(CALL, fill=True)[json_fill.FILL] is True
    assert json_fill.FILL not in BACKENDS["llama_cpp"].output_schema_args(CALL)
    for backend in ("ollama", "openai"):
        assert json_fill.FILL not in json.dumps(BACKENDS[backend].output_schema_args(CALL, fill=True))


def test_other_processes_count_as_busy_and_this_one_does_not():
    from society.models.machine.hardware import _OthersLoad

    load = _OthersLoad()
    load.cores()
    ends = time.monotonic() + 1.0
    while time.monotonic() < ends:  # this process keeps a core busy
        sum(range(1000))
    assert load.cores() < 0.6
    burner = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 3\nwhile time.time() < t: pass"])
    try:
        time.sleep(1.2)
        assert load.cores() > 0.5
    finally:
        burner.kill()
        burner.wait()


async def test_the_embedded_client_fills_when_asked_and_generates_whole_when_a_fill_fails(monkeypatch):
    from autogen_core.models import SystemMessage, UserMessage

    from society.models.backends.registry import build_client
    from society.models.config import ModelEntry

    client = build_client(ModelEntry("x", "llama_cpp", model_path=EMBEDDED["model_path"], context_window=2048))
    threads, fresh = [], []
    generate, read = client._generate, client._generate_read
    monkeypatch.setattr(client, "_generate", lambda *a: threads.append(threading.current_thread()) or generate(*a))
    monkeypatch.setattr(client, "_generate_read", lambda *a: fresh.append(client.llm.reuse_fresh_from) or read(*a))
    held = json.loads(json.dumps(CALL["anyOf"][0]))
    held["properties"]["arguments"]["properties"]["unit"] = {"const": "fahrenheit"}
    messages = [SystemMessage(content=SYSTEM), UserMessage(content=MESSAGES[1]["content"], source="user")]
    args = {"max_tokens": 64, "temperature": 0.0, **BACKENDS["llama_cpp"].output_schema_args(held, fill=True)}
    filled = await client.create(messages, extra_create_args=args)
    jsonschema.validate(json.loads(filled.content), held)
    assert filled.usage.completion_tokens < len(client.llm.tokenize(filled.content.encode(), add_bos=False)) / 2

    def broken(*args, **kwargs):
        raise ValueError("a grammar llama.cpp refused")

    monkeypatch.setattr(json_fill, "fill", broken)
    whole = await client.create(messages, extra_create_args=args)
    call = json.loads(whole.content)
    jsonschema.validate(call, held)
    assert call["arguments"]["unit"] == "fahrenheit"
    assert whole.usage.completion_tokens > filled.usage.completion_tokens  # every token generated
    # Both ran on the one model thread (one OpenMP team for llama.cpp, see llama_cpp/client.py, MODEL_THREAD).
    assert len(threads) == 2 and threads[0] is threads[1] and threads[0].name.startswith("embedded-model")
    await client.create(messages, extra_create_args={"max_tokens": 4, "temperature": 0.0})  # a plain chat reply
    # Replies held to a schema read their last two messages (here all) as they are; a chat reply
    # may reuse moved pieces anywhere (kv_reuse.fresh_from).
    assert fresh == [0, 0, None] and client.llm.reuse_fresh_from is None


def test_guessed_tokens_checked_in_batches_give_the_greedy_constrained_reply(llm):
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from society.models.backends.llama_cpp import draft_decoding

    grammar = json_schema_to_gbnf(json.dumps(CALL))
    drafter = draft_decoding.Drafter()
    rounds = []
    guess = drafter.guess
    drafter.guess = lambda prompt, generated: rounds.append(1) or guess(prompt, generated)
    for question in ["What's the weather in Osaka in celsius?", "Weather in Paris in fahrenheit for 2 days?"]:
        messages = [MESSAGES[0], {"role": "user", "content": question}]
        llm.reset()
        plain = llm.create_chat_completion(
            messages=messages, max_tokens=60, temperature=0.0, grammar=LlamaGrammar.from_string(grammar, verbose=False)
        )["choices"][0]["message"]["content"]
        rounds.clear()
        decoded = draft_decoding.generate(
            llm, json_fill.chat_prompt(llm, messages), grammar, 60, threading.Event(), drafter
        )
        tokens = decoded.tokens
        assert llm.detokenize(tokens).decode() == plain
        assert decoded.finish == "stop"
    assert len(rounds) < len(tokens) * 0.8  # the second call took several tokens a round from the first
    stop = threading.Event()
    stop.set()
    prompt = json_fill.chat_prompt(llm, MESSAGES)
    assert draft_decoding.generate(llm, prompt, grammar, 60, stop, drafter).finish == "unknown"


def test_the_tail_a_tool_call_reads_afresh_starts_at_its_second_last_message(llm):
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    messages = [MESSAGES[0], *history, {"role": "system", "content": "Tools: a, b"}, MESSAGES[1]]
    tokens, start = json_fill.chat_prompt(llm, messages), json_fill.tail_start(llm, messages, 2)
    assert llm.detokenize(tokens[start:]).decode().startswith("system\nTools: a, b")
    assert llm.detokenize(tokens[:start]).decode().endswith("hello\n")
    assert json_fill.tail_start(llm, messages[-2:], 2) == 0


def test_guesses_that_lately_fell_are_only_watched_until_they_stand_again():
    from society.models.backends.llama_cpp import draft_decoding

    drafter = draft_decoding.Drafter()
    drafter.remember([1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert drafter.guess([], [1, 2, 3, 4]) == [5, 6, 7, 8, 9]  # trusted at first
    drafter.outcome(5, 0)  # none stood
    drafter.stood[4] = 0.3
    assert drafter.guess([], [1, 2, 3, 4]) == []  # not worth a batch now: only watched
    generated = [1, 2, 3, 4]
    for token in [5, 6, 7, 8]:  # the model goes on as the watched guess said
        generated.append(token)
        assert drafter.guess([], generated) == []  # still watched, right so far
        assert drafter.stood[4] == 0.3
    generated.append(9)
    drafter.guess([], generated)
    assert drafter.stood[4] == pytest.approx(0.3 + draft_decoding.LEARN * 0.7)  # it stood whole
