"""Constrained greedy decoding that checks guessed tokens in one batch (prompt lookup decoding).

A tool call repeats itself token for token from call to call: `{ "tool": "get_weather",
"arguments": { "city": "` is what the model wrote last time too, and the values come from
the request. Each of those tokens costs the 135M model a full step (10-16 ms on 2 cores) when
generated one at a time, but about 4 ms when read in a batch. So the tokens that followed the
last few generated ones in the prompt or in earlier replies are guessed, read in one batch
with the token before them, and kept for as long as each is what greedy decoding under the
grammar picks there; the first difference is replaced by the model's own choice. The output
is the greedy constrained output (up to the rounding differences of batched arithmetic).
"""

from __future__ import annotations

import ctypes
import threading
from collections import deque
from typing import Any

GUESS = 6  # tokens guessed at a time
MATCH = (4, 3, 2, 1)  # lengths of the generated ending looked up, longest first
TOP = 64  # tokens asked about before the whole vocabulary (society/greedy_grammar.py)
REMEMBERED = 32  # earlier replies kept to guess from


class Drafter:
    """Earlier replies of one model, to guess from."""

    def __init__(self) -> None:
        self.replies: deque[list[int]] = deque(maxlen=REMEMBERED)

    def guess(self, prompt: list[int], generated: list[int]) -> list[int]:
        """The tokens that followed the longest ending of `generated` (with the prompt before
        it) in the latest earlier reply that has it, or earlier in the prompt and this reply;
        [] when none does."""
        tail = prompt + generated
        for size in MATCH:
            if len(tail) < size:
                continue
            ending = tail[-size:]
            for source in [*reversed(self.replies), tail]:
                found = _find(source, ending, exclude_end=source is tail)
                if found is not None:
                    return source[found + size : found + size + GUESS]
        return []


def _find(source: list[int], ending: list[int], exclude_end: bool) -> int | None:
    """The last start in `source` of `ending` with something after it."""
    size = len(ending)
    last = len(source) - size - (1 if exclude_end else 0)
    first = ending[0]
    for start in range(last, -1, -1):
        if source[start] == first and source[start : start + size] == ending:
            if start + size < len(source):
                return start
    return None


class _Choice:
    """Greedy choice under a grammar: the best allowed token, from logits."""

    def __init__(self, llm: Any, grammar: str):
        import llama_cpp
        import numpy as np

        self.llama_cpp = llama_cpp
        self.np = np
        self.sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode("utf-8"), b"root")
        if not self.sampler:
            raise ValueError("llama.cpp refused the grammar")
        self.vocabulary = llm.n_vocab()
        self.ctx = llm.ctx
        self.kind = np.dtype([("id", np.intc), ("logit", np.float32), ("p", np.float32)], align=True)

    def close(self) -> None:
        self.llama_cpp.llama_sampler_free(self.sampler)

    def _allowed(self, ids: Any, logits: Any) -> Any:
        """`logits` with the grammar's refusals at -inf."""
        np, llama_cpp = self.np, self.llama_cpp
        data = np.empty(len(ids), dtype=self.kind)
        data["id"], data["logit"], data["p"] = ids, logits, 0.0
        candidates = llama_cpp.llama_token_data_array(
            data=data.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)),
            size=len(ids),
            selected=-1,
            sorted=False,
        )
        llama_cpp.llama_sampler_apply(self.sampler, ctypes.byref(candidates))
        return data["logit"]

    def pick(self, index: int) -> int:
        """The best allowed token after the batch position `index`, accepted by the grammar."""
        np = self.np
        logits = np.ctypeslib.as_array(self.llama_cpp.llama_get_logits_ith(self.ctx, index), shape=(self.vocabulary,))
        top = np.argpartition(logits, -TOP)[-TOP:]
        allowed = self._allowed(top, logits[top])
        if np.isinf(allowed).all():
            top = np.arange(self.vocabulary, dtype=np.intc)
            allowed = self._allowed(top, logits)
        token = int(top[int(allowed.argmax())])
        self.llama_cpp.llama_sampler_accept(self.sampler, token)
        return token


def generate(
    llm: Any, prompt: list[int], grammar: str, max_tokens: int, stop: threading.Event, drafter: Drafter
) -> tuple[list[int], str]:
    """Greedy tokens under `grammar` after `prompt` (the end-of-generation token left out) and
    how it ended: "stop", "length" or "unknown" (stopped)."""
    import llama_cpp

    from society.kv_reuse import best_state, reuse

    if (state := best_state(llm, prompt)) is not None:
        llm.load_state(state)
    kept = reuse(llm, prompt) if llm.n_tokens > 0 else 0
    llm.n_tokens = min(kept, len(prompt) - 1)  # the last prompt token is read again: its logits are needed
    llm.eval(prompt[llm.n_tokens :])

    def ends(token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, token))

    choice = _Choice(llm, grammar)
    generated: list[int] = []
    finish = "length"
    try:
        token = choice.pick(-1)
        while not stop.is_set():
            if ends(token):
                finish = "stop"
                break
            generated.append(token)
            if len(generated) >= max_tokens:
                break
            guessed = drafter.guess(prompt, generated)[: max_tokens - len(generated)]
            batch = [token, *guessed]
            start = llm.n_tokens
            if start + len(batch) >= llm.n_ctx():
                break  # out of context: as out of tokens
            llm._ctx.kv_cache_seq_rm(-1, start, -1)
            llm._batch.set_batch(batch=batch, n_past=start, logits_all=True)
            llm._ctx.decode(llm._batch)
            llm.input_ids[start : start + len(batch)] = batch
            # Logits at batch position i give the token after batch[i]: a guess stands while it
            # is what greedy decoding picks there; the first other pick is the next token.
            agreed = 0
            token = choice.pick(0)
            while agreed < len(guessed) and token == guessed[agreed] and not ends(token):
                generated.append(token)
                agreed += 1
                if len(generated) >= max_tokens:
                    break
                token = choice.pick(agreed)
            llm.n_tokens = start + 1 + agreed  # the read token and the guesses that stood
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
            if len(generated) >= max_tokens:
                break
        else:
            finish = "unknown"
    finally:
        choice.close()
    drafter.replies.append(generated)
    if llm.cache is not None and finish == "stop":
        llm.cache[llm._input_ids.tolist()] = llm.save_state()
    return generated, finish
