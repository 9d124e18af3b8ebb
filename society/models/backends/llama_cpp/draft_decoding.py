"""Constrained greedy decoding that checks guessed tokens in one batch (prompt lookup decoding).

A tool call repeats itself token for token from call to call: `{ "tool": "get_weather",
"arguments": { "city": "` is what the model wrote last time too, and the values come from
the request. Each of those tokens costs the 135M model a full step (7.9 ms on 2 cores) when
generated one at a time, but about 4 ms more in a batch. So the tokens that followed the
last few generated ones in the prompt or in earlier replies are guessed, read in one batch
with the token before them, and kept for as long as each is what greedy decoding under the
grammar picks there; the first difference is replaced by the model's own choice. The output
is the greedy constrained output (up to the rounding differences of batched arithmetic).

A batch costs more than a step even when it is short (2 tokens: 14 ms), so guesses are made
only while those by the same length of match have lately mostly stood; the others are only
watched. When each call brings other tools (the development cases shuffled) that turns
guessing nearly off and costs nothing; when calls repeat, guessing stays on and saves 7 %.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from society.models.backends.llama_cpp.greedy_grammar import best_allowed, logits_at

GUESS = 6  # tokens guessed at a time
MATCH = (4, 3, 2, 1)  # lengths of the generated ending looked up, longest first
REMEMBERED = 32  # earlier replies kept to guess from
# A batch of 7 tokens costs the 135M model about 4 single steps on 2 cores (31 vs 7.9 ms, and
# a batch of 2 already 14): guesses pay only when most of them stand.
WORTH = 0.6
LEARN = 0.1  # weight of the latest guess in the share that stood


class Drafter:
    """Earlier replies of one model, to guess from, and how often guesses by each length of
    match stood lately."""

    def __init__(self) -> None:
        self.replies: deque[list[int]] = deque(maxlen=REMEMBERED)
        self.stood = dict.fromkeys(MATCH, 1.0)  # share of guessed tokens that stood, lately
        self.size = 0  # the match length of the last guess made
        self._watched: tuple[int, list[int], int] | None = None  # a guess not made: size, tokens, where

    def guess(self, prompt: list[int], generated: list[int]) -> list[int]:
        """The tokens that followed the longest ending of `generated` (with the prompt before
        it) in the latest earlier reply that has it, or earlier in the prompt and this reply;
        [] when none does. Also [] when guesses by that length of match lately stood too
        seldom to pay for their place in a batch (WORTH): such a guess is only watched, and
        how it would have gone is learned from the tokens generated next."""
        self._settle(generated)
        if self._watched is not None:
            return []  # a watched guess right so far: it is learnt from whole
        tail = prompt + generated
        for size in MATCH:
            if len(tail) < size:
                continue
            ending = tail[-size:]
            for source in [*reversed(self.replies), tail]:
                found = _find(source, ending, exclude_end=source is tail)
                if found is not None:
                    tokens = source[found + size : found + size + GUESS]
                    if self.stood[size] >= WORTH:
                        self.size = size
                        return tokens
                    self._watched = (size, tokens, len(generated))
                    return []
        return []

    def outcome(self, guessed: int, agreed: int) -> None:
        """How the last guess made went: `agreed` of its `guessed` tokens stood."""
        if guessed:
            self._learn(self.size, agreed / guessed)

    def remember(self, reply: list[int]) -> None:
        """A finished reply, to guess from."""
        self.replies.append(reply)
        self._watched = None

    def _settle(self, generated: list[int]) -> None:
        """Learn from the watched guess once the tokens generated since tell how it went."""
        if self._watched is None:
            return
        size, tokens, at = self._watched
        since = generated[at:]
        agreed = next((i for i, (a, b) in enumerate(zip(tokens, since, strict=False)) if a != b), None)
        if agreed is None and len(since) < len(tokens):
            return  # right so far, not done
        self._learn(size, (len(tokens) if agreed is None else agreed) / len(tokens))
        self._watched = None

    def _learn(self, size: int, share: float) -> None:
        self.stood[size] += LEARN * (share - self.stood[size])


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
    """Greedy choice under a grammar of its own (greedy_grammar.py beside this file), token by
    token."""

    def __init__(self, llm: Any, grammar: str):
        import llama_cpp

        self.llm = llm
        self.sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode("utf-8"), b"root")
        if not self.sampler:
            raise ValueError("llama.cpp refused the grammar")

    def close(self) -> None:
        import llama_cpp

        llama_cpp.llama_sampler_free(self.sampler)

    def pick(self, index: int) -> int:
        """The best allowed token after the batch position `index`, accepted by the grammar."""
        import llama_cpp

        token = best_allowed(self.sampler, logits_at(self.llm, index))
        llama_cpp.llama_sampler_accept(self.sampler, token)
        return token


@dataclass
class Decoded:
    tokens: list[int]  # the end-of-generation token left out
    finish: str  # "stop", "length" or "unknown" (stopped)
    reused: int  # prompt tokens not read again
    first_at: float | None  # time.perf_counter() when the first token was picked


def generate(
    llm: Any, prompt: list[int], grammar: str, max_tokens: int, stop: threading.Event, drafter: Drafter
) -> Decoded:
    """Greedy tokens under `grammar` after `prompt`."""
    import llama_cpp

    from society.models.backends.llama_cpp import kv_reuse

    kept = kv_reuse.read(llm, prompt)

    def ends(token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, token))

    choice = _Choice(llm, grammar)
    generated: list[int] = []
    finish = "length"
    first_at: float | None = None
    try:
        token = choice.pick(-1)
        first_at = time.perf_counter()
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
            drafter.outcome(len(guessed), agreed)
            llm.n_tokens = start + 1 + agreed  # the read token and the guesses that stood
            llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
            if len(generated) >= max_tokens:
                break
        else:
            finish = "unknown"
    finally:
        choice.close()
    drafter.remember(generated)
    if finish == "stop":
        kv_reuse.remember(llm)
    return Decoded(generated, finish, kept, first_at)
