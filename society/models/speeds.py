"""How fast each model reads a prompt, learnt from its calls, and what that allows a role's
next call to send: the verbatim history and the recalled memories are cut to what the model
that answers the role reads in a few seconds."""

from __future__ import annotations

from typing import Any

HISTORY_READ_S = 4.0  # the longest a model should spend re-reading the history
MIN_HISTORY_TOKENS = 256
MEMORY_READ_S = 0.6  # the recalled memories' share of reading time
MIN_MEMORY_CHARS = 160
MIN_READ_SAMPLE = 24  # prompt tokens read in a call for its speed to count


class ReadSpeeds:
    def __init__(self) -> None:
        self._tokens_per_s: dict[str, float] = {}  # prompt tokens read per second, per model
        self._served: dict[str, str] = {}  # the model that last answered each role

    def learn(self, role: str, model: str, timing: Any) -> None:
        """A call of `role` answered by `model`, with the client's `timing` when it keeps one."""
        self._served[role] = model
        read = (timing.prompt_tokens - timing.reused_tokens) if timing is not None else 0
        if read >= MIN_READ_SAMPLE and timing.first_token_s:
            speed = read / timing.first_token_s
            known = self._tokens_per_s.get(model)
            self._tokens_per_s[model] = speed if known is None else 0.7 * known + 0.3 * speed

    def _of(self, role: str) -> float | None:
        return self._tokens_per_s.get(self._served.get(role, ""))

    def history_budget(self, role: str, most: int) -> int:
        """Tokens of verbatim history for `role`'s next call: what the model that answers it
        reads in HISTORY_READ_S (a 135M model on 2 cores reads ~130 tokens a second, a 7B on
        a GPU thousands), at most `most`. Most turns read only what is new (llama.cpp keeps
        the rest); this bounds the turns where the window moves and it is read again."""
        speed = self._of(role)
        return most if speed is None else max(MIN_HISTORY_TOKENS, min(most, int(speed * HISTORY_READ_S)))

    def memory_budget_chars(self, role: str) -> int | None:
        """Characters of recalled memories for `role`'s next call: what its model reads in
        MEMORY_READ_S (about four characters a token); None (no limit) until it was timed."""
        speed = self._of(role)
        return None if speed is None else max(MIN_MEMORY_CHARS, int(speed * MEMORY_READ_S * 4))
