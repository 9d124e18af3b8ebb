"""A tokenizer-free token estimate, for budgeting context before a model is chosen."""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    """Roughly four ASCII characters per token; CJK and other non-ASCII characters often cost
    one or more tokens each, so they are counted at 1.5 to stay on the safe side."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return int(ascii_chars / 4 + (len(text) - ascii_chars) * 1.5) + 1
