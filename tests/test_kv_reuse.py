"""Reusing llama.cpp's cache when a prompt lost a piece in the middle (society/models/backends/llama_cpp/kv_reuse.py):
what the cache was told to drop and shift, and with the real embedded model, that the
next turn reads only what is new and answers as a fresh read does."""

from __future__ import annotations

import numpy as np
import pytest

from society.models.backends.llama_cpp import kv_reuse


class FakeCache:
    """The two llama.cpp calls reuse makes, recorded."""

    def __init__(self, refuse: bool = False):
        self.calls: list[tuple] = []
        self.refuse = refuse

    def kv_cache_seq_rm(self, seq: int, p0: int, p1: int) -> bool:
        self.calls.append(("rm", p0, p1))
        return not self.refuse

    def kv_cache_seq_shift(self, seq: int, p0: int, p1: int, shift: int) -> None:
        self.calls.append(("shift", p0, p1, shift))


class FakeLlama:
    def __init__(self, held: list[int], refuse: bool = False):
        self.input_ids = np.zeros(512, dtype=np.intc)
        self.input_ids[: len(held)] = held
        self.n_tokens = len(held)
        self._ctx = FakeCache(refuse)

    @property
    def _input_ids(self):
        return self.input_ids[: self.n_tokens]


SYSTEM = list(range(100, 120))
OLD_TURNS = list(range(200, 240))
RECALLED = list(range(300, 330))
LAST_TURN = list(range(400, 430))


def test_a_removed_middle_piece_is_dropped_and_what_follows_is_shifted_down():
    llm = FakeLlama(SYSTEM + OLD_TURNS + RECALLED + LAST_TURN)
    new = SYSTEM + LAST_TURN + [7, 8, 9]  # old turns and last turn's memories left the prompt
    reused = kv_reuse.reuse(llm, new)
    assert reused == len(SYSTEM + LAST_TURN)
    start = len(SYSTEM + OLD_TURNS + RECALLED)
    assert llm._ctx.calls == [("rm", 20, start), ("shift", start, start + 30, 20 - start)]
    assert list(llm._input_ids) == SYSTEM + LAST_TURN


def test_a_reply_held_to_a_schema_reads_its_tool_list_and_request_afresh():
    tools, rules = list(range(500, 540)), list(range(700, 740))
    # Old turns left the history and the tool list got narrower: the rules after it were read
    # after tools now left out. From the tool list on (fresh_from) nothing is moved.
    new = SYSTEM + LAST_TURN + rules + [7, 8, 9]
    tail = len(SYSTEM + LAST_TURN)
    llm = FakeLlama(SYSTEM + OLD_TURNS + LAST_TURN + tools + rules)
    with kv_reuse.fresh_from(llm, tail):
        assert kv_reuse.reuse(llm, new) == tail  # the history is still moved down and reused
    assert list(llm._input_ids) == SYSTEM + LAST_TURN
    assert getattr(llm, "reuse_fresh_from", None) is None  # only within
    llm = FakeLlama(SYSTEM + OLD_TURNS + LAST_TURN + tools + rules)
    assert kv_reuse.reuse(llm, new) == tail + len(rules)  # outside, the rules are moved down too
    llm = FakeLlama(SYSTEM + [5] * 30)
    llm.cache = type("Kept", (), {"cache_state": {tuple(SYSTEM + tools + rules): "moved rules' state"}})()
    with kv_reuse.fresh_from(llm, len(SYSTEM)):
        assert kv_reuse.best_state(llm, SYSTEM + rules) is None  # it shares only SYSTEM, as the model's own does
    assert kv_reuse.best_state(llm, SYSTEM + rules) == "moved rules' state"


def test_two_removed_pieces_and_a_short_coincidence_is_not_reused():
    held = SYSTEM + RECALLED + OLD_TURNS + [1, 2, 3] + LAST_TURN
    llm = FakeLlama(held)
    new = SYSTEM + OLD_TURNS + LAST_TURN[:5] + [9] * 10  # five matching tokens are not a chunk
    assert kv_reuse.reuse(llm, new) == len(SYSTEM + OLD_TURNS)
    assert [c[0] for c in llm._ctx.calls] == ["rm", "shift"]
    assert list(llm._input_ids) == SYSTEM + OLD_TURNS


def test_a_cache_that_cannot_drop_a_piece_keeps_only_the_common_beginning():
    llm = FakeLlama(SYSTEM + RECALLED + LAST_TURN, refuse=True)
    assert kv_reuse.reuse(llm, SYSTEM + LAST_TURN) == len(SYSTEM)
    assert ("shift",) not in [c[:1] for c in llm._ctx.calls]
    assert llm.n_tokens == len(SYSTEM)


def test_a_prompt_that_only_grows_is_left_to_llama_cpp():
    llm = FakeLlama(SYSTEM + OLD_TURNS)
    assert kv_reuse.reuse(llm, SYSTEM + OLD_TURNS + LAST_TURN) == len(SYSTEM + OLD_TURNS)
    assert llm._ctx.calls == []


def test_the_kept_state_chosen_is_the_one_that_leaves_least_to_read():
    class Kept:
        cache_state = {
            tuple(SYSTEM + LAST_TURN[:3] + OLD_TURNS): "an old turn's state",  # a longer common beginning
            tuple(SYSTEM + RECALLED + LAST_TURN): "the last turn's state",
        }

    llm = FakeLlama(SYSTEM + [5] * 30)  # the judge's prompt, say
    llm.cache = Kept()
    assert kv_reuse.best_state(llm, SYSTEM + LAST_TURN + [1]) == "the last turn's state"
    assert kv_reuse.best_state(llm, SYSTEM + [5] * 30 + [1]) is None  # what it holds is best


@pytest.mark.slow
def test_the_next_turn_reads_only_what_is_new_and_answers_as_a_fresh_read(tmp_path):
    from llama_cpp import Llama

    from society.models.config import ModelEntry
    from tests.conftest import EMBEDDED

    path = ModelEntry("x", "llama_cpp", model_path=EMBEDDED["model_path"]).resolved_model_path()

    def load() -> Llama:
        return Llama(model_path=str(path), n_ctx=2048, n_threads=1, n_threads_batch=1, seed=0, verbose=False)

    system = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}
    turns = []
    for question, answer in [
        ("What is the capital of France?", "Paris."),
        ("Name a fruit that is yellow.", "A banana."),
        ("How many days are in a week?", "Seven."),
        ("What do bees make?", "Honey."),
    ]:
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    memories = {"role": "system", "content": "What you remember that may matter here:\n- The user's cat is Tama."}
    before = [system, *turns, memories, {"role": "user", "content": "What is the capital of Japan?"}]
    # The window moved past two turns, the memories were last turn's: both pieces are gone.
    after = [
        system,
        *turns[4:],
        {"role": "user", "content": "What is the capital of Japan?"},
        {"role": "assistant", "content": "Tokyo."},
        {"role": "user", "content": "What is the largest ocean?"},
    ]
    llm, reused = load(), []
    kv_reuse.install(llm, reused)
    llm.create_chat_completion(messages=before, max_tokens=4, temperature=0)
    reusing = llm.create_chat_completion(messages=after, max_tokens=12, temperature=0)
    prompt = reusing["usage"]["prompt_tokens"]
    kept_turns = len(llm.tokenize("".join(m["content"] for m in turns[4:]).encode(), add_bos=False))
    assert reused[-1] > kept_turns  # the kept turns and the system prompt were not read again
    assert prompt - reused[-1] < 40  # only the last answer's end and the new question were read
    fresh = load().create_chat_completion(messages=after, max_tokens=12, temperature=0)
    assert reusing["choices"][0]["message"]["content"] == fresh["choices"][0]["message"]["content"]


@pytest.mark.slow
def test_kept_states_leave_the_scores_out_and_a_resumed_call_answers_as_a_fresh_read():
    from llama_cpp import Llama, LlamaRAMCache

    from society.models.config import ModelEntry
    from tests.conftest import EMBEDDED

    path = ModelEntry("x", "llama_cpp", model_path=EMBEDDED["model_path"]).resolved_model_path()

    def load() -> Llama:
        return Llama(model_path=str(path), n_ctx=2048, n_threads=2, n_threads_batch=2, seed=0, verbose=False)

    chat = [
        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    judge = [{"role": "user", "content": "Rate this answer from 1 to 5: the sky is green."}]
    llm = load()
    llm.set_cache(LlamaRAMCache(capacity_bytes=2**28))
    reused = []
    kv_reuse.install(llm, reused)
    first = llm.create_chat_completion(messages=chat, max_tokens=8, temperature=0)["choices"][0]["message"]
    llm.create_chat_completion(messages=judge, max_tokens=4, temperature=0)  # other work in between
    follow = [*chat, first, {"role": "user", "content": "And of Japan?"}]
    resumed = llm.create_chat_completion(messages=follow, max_tokens=8, temperature=0)
    assert reused[-1] > 20  # the chat's own kept state was loaded back: its prompt was not read again
    states = list(llm.cache.cache_state.values())
    assert states and all(state.scores.shape[0] == 0 for state in states)  # no 100 MB copy of unused scores
    fresh = load().create_chat_completion(messages=follow, max_tokens=8, temperature=0)
    assert resumed["choices"][0]["message"]["content"] == fresh["choices"][0]["message"]["content"]
