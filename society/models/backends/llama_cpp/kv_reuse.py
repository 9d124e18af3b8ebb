"""Reuse what llama.cpp already read when a prompt lost a piece in the middle.

llama-cpp-python reuses only the longest common beginning of the last prompt and the new
one. Between two turns of one conversation the new prompt is usually the old one with
pieces taken out, not only added at the end: last turn's recalled memories are gone (this
turn's come later), and when the history window moves the oldest turns leave. Everything
after the first removed piece would be read again: on 2 cores that is seconds per turn.

This is llama.cpp server's `--cache-reuse`: walk both token lists, and for each run of at
least MIN_CHUNK tokens the cache holds further on, drop the cached tokens before it and
shift the run's positions down (RoPE models take shifted keys), so only what is new is read.
The reused tokens were read beside the removed ones, so their cached state is close to,
not identical with, a fresh read; the server does the same by default in its chat apps.

States kept in RAM (LlamaRAMCache) are saved and loaded without llama-cpp-python's scores
array, which nothing fills or reads without logits_all (save_state / load_state).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MIN_CHUNK = 16  # shorter matches are left to be read: too likely to be a coincidence


def _matching(cached: list[int], start_c: int, tokens: list[int], start_p: int) -> int:
    count = 0
    while (
        start_c + count < len(cached)
        and start_p + count < len(tokens)
        and cached[start_c + count] == tokens[start_p + count]
    ):
        count += 1
    return count


def plan(
    cached: list[int], tokens: list[int], min_chunk: int = MIN_CHUNK, fresh_from: int | None = None
) -> tuple[int, list[tuple[int, int, int]]]:
    """(tokens not read, moves): the common beginning, then each later run of `cached` that
    `tokens` continues with, as (from, to, length); what lies between runs is dropped. No run
    is moved to or past `fresh_from` in `tokens`: from there only the common beginning counts."""
    head = _matching(cached, 0, tokens, 0)
    limit = len(tokens) if fresh_from is None else fresh_from
    moves: list[tuple[int, int, int]] = []
    head_c = head_p = head
    while head < len(cached) and head_c < len(cached) and head_p < limit:
        count = min(_matching(cached, head_c, tokens, head_p), limit - head_p)
        if count < min_chunk:
            head_c += 1
            continue
        moves.append((head_c, head_p, count))
        head_c += count
        head_p += count
    return head_p, moves


@contextmanager
def fresh_from(llm: Any, position: int | None) -> Iterator[None]:
    """Within it, no piece of `llm`'s cache is moved to or past `position` of the prompt: what
    follows is reused only as part of the common beginning. For replies held to a schema (tool
    calls), from the tool list on: a moved piece was read after what came before it then. The
    instructions after a narrower tool list still held the tools left out, and on the
    development cases in a shuffled order 1.2 % of the calls became answers (100 % valid
    without) and a point of accuracy was lost. The history before it is still reused."""
    before = getattr(llm, "reuse_fresh_from", None)
    llm.reuse_fresh_from = position
    try:
        yield
    finally:
        llm.reuse_fresh_from = before


def reuse(llm: Any, tokens: list[int], min_chunk: int = MIN_CHUNK) -> int:
    """Rearrange `llm`'s cache so that its tokens are the longest beginning of `tokens` it
    can give without reading; returns how many that is (llama-cpp-python reads the rest)."""
    cached = [int(t) for t in llm._input_ids]
    kept, moves = plan(cached, tokens, min_chunk, getattr(llm, "reuse_fresh_from", None))
    ctx = llm._ctx
    for source, target, count in moves:
        # Cached positions [target, source) are not in the new prompt: drop them and move
        # the matching run down to follow what is kept.
        if not ctx.kv_cache_seq_rm(0, target, source):
            kept = target  # a cache that cannot drop a middle piece: read from here
            break
        ctx.kv_cache_seq_shift(0, source, source + count, target - source)
        llm.input_ids[target : target + count] = cached[source : source + count]
    # What follows in the cache is stale; llama-cpp-python drops it before reading.
    llm.n_tokens = kept
    return kept


def read(llm: Any, prompt: list[int]) -> int:
    """Read `prompt` into `llm` as generation would, from a kept state or the cache where
    they hold its beginning, the last token read again so that its logits are there (what
    comes next is decided from them); returns how many tokens were not read again."""
    resume(llm, prompt)
    kept = reuse(llm, prompt) if llm.n_tokens > 0 else 0
    llm.n_tokens = min(kept, len(prompt) - 1)
    llm.eval(prompt[llm.n_tokens :])
    return kept


def best_state(llm: Any, tokens: list[int]) -> Any | None:
    """The state kept in RAM (LlamaRAMCache) that leaves least to read, when it beats what
    the model holds now. llama-cpp-python picks by common beginning alone, and after the
    history window moved every kept state shares only the system prompt: it may take any."""
    states = getattr(llm.cache, "cache_state", None)
    if not states:
        return None
    fresh = getattr(llm, "reuse_fresh_from", None)
    best, best_kept = None, plan([int(t) for t in llm._input_ids], tokens, MIN_CHUNK, fresh)[0]
    for key, state in states.items():
        kept = plan(list(key), tokens, MIN_CHUNK, fresh)[0]
        if kept > best_kept:
            best, best_kept = state, kept
    return best


def resume(llm: Any, tokens: list[int]) -> None:
    """Load the kept state that leaves least of `tokens` to read, when it beats what `llm` holds."""
    state = best_state(llm, tokens)
    if state is not None:
        llm.load_state(state)


def remember(llm: Any) -> None:
    """Keep `llm`'s state in its RAM cache, keyed by its tokens, as a finished completion does."""
    if llm.cache is not None:
        llm.cache[llm._input_ids.tolist()] = llm.save_state()


def save_state(llm: Any) -> Any:
    """`llm`'s state without its scores. llama-cpp-python's own save_state also copies the
    scores array (up to 512 x 49,152 floats, ~100 MB) and load_state copies it back and scans
    the rest: 35 ms a call for the 135M model, a sixth of a tool call's time. Without
    logits_all nothing fills or reads those scores, so they are left out."""
    import ctypes

    import llama_cpp
    import numpy as np

    size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
    data = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llm._ctx.ctx, data, size)
    if written > size:
        raise RuntimeError("llama.cpp wrote more state than it asked room for")
    return llama_cpp.llama.LlamaState(
        input_ids=llm.input_ids.copy(),
        scores=np.empty((0, llm.n_vocab()), dtype=np.single),
        n_tokens=llm.n_tokens,
        llama_state=data,  # read in place by load_state, never copied again
        llama_state_size=written,
        seed=llm._seed,
    )


def load_state(llm: Any, state: Any) -> None:
    """Put back a state save_state kept."""
    import llama_cpp

    size = state.llama_state_size
    if llama_cpp.llama_state_set_data(llm._ctx.ctx, state.llama_state, size) != size:
        raise RuntimeError("llama.cpp refused a kept model state")
    llm.input_ids = state.input_ids.copy()
    llm.n_tokens = state.n_tokens
    llm._seed = state.seed


def install(llm: Any, reused: list[int]) -> None:
    """Make `llm` reuse cached pieces before each generation; the count of tokens not read
    is appended to `reused` (its last item is the latest call's)."""
    generate = llm.generate

    def generate_reusing(tokens: Any, *args: Any, **kwargs: Any) -> Any:
        tokens = [int(t) for t in tokens]
        if kwargs.get("reset", True):
            resume(llm, tokens)
        reused.append(reuse(llm, tokens) if kwargs.get("reset", True) and llm.n_tokens > 0 else 0)
        return generate(tokens, *args, **kwargs)

    llm.generate = generate_reusing
    if not llm._logits_all:  # the scores save_state leaves out are filled and read only with it
        llm.save_state = lambda: save_state(llm)
        llm.load_state = lambda state: load_state(llm, state)
