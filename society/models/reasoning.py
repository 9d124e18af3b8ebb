"""DeepSeek-R1 style reasoning: `<think>` blocks are split from the answer, stored apart,
shown dimmed, and never sent back to a model (models start imitating the tags when they are)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autogen_core.models import CreateResult

THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
OPEN_TAG = re.compile(r"<think>", re.IGNORECASE)
CLOSE_TAG = re.compile(r"</think>", re.IGNORECASE)

# For models without native reasoning: ask for the same shape R1 produces.
REASONING_INSTRUCTION = (
    "Before answering, think step by step inside <think> and </think>. After </think>, write only the final answer."
)


def split_reasoning(text: str) -> tuple[str, str | None]:
    """Return (answer, reasoning) from a model's raw text.

    Handles closed blocks, a missing opening tag (some R1 chat templates put `<think>` in the
    prompt, so only `</think>` comes back) and an unclosed block cut off by the token limit.
    """
    thoughts = [t.strip() for t in THINK_BLOCK.findall(text)]
    rest = THINK_BLOCK.sub("", text)
    close = CLOSE_TAG.search(rest)
    if close:  # "reasoning</think>answer"
        thoughts.insert(0, rest[: close.start()].strip())
        rest = rest[close.end() :]
    opened = OPEN_TAG.search(rest)
    if opened:  # "answer<think>reasoning..." cut off before the closing tag
        thoughts.append(rest[opened.end() :].strip())
        rest = rest[: opened.start()]
    reasoning = "\n\n".join(t for t in thoughts if t) or None
    return rest.strip(), reasoning


def _partial_tag(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    lowered = text[-len(tag) :].lower()
    for size in range(min(len(tag) - 1, len(lowered)), 0, -1):
        if lowered.endswith(tag[:size]):
            return size
    return 0


class ReasoningFilter:
    """The part of streamed text to show as it comes: text inside <think>...</think> is held
    back (it arrives whole as the result's reasoning), and so is a tail that may be the start
    of a tag split across chunks."""

    def __init__(self) -> None:
        self.pending = ""
        self.inside = False

    def feed(self, chunk: str) -> str:
        self.pending += chunk
        shown = []
        while True:
            tag = "</think>" if self.inside else "<think>"
            found = self.pending.lower().find(tag)
            if found < 0:
                keep = _partial_tag(self.pending, tag)
                if not self.inside:
                    shown.append(self.pending[: len(self.pending) - keep])
                self.pending = self.pending[len(self.pending) - keep :] if keep else ""
                return "".join(shown)
            if not self.inside:
                shown.append(self.pending[:found])
            self.pending = self.pending[found + len(tag) :]
            self.inside = not self.inside


def split_result(result: CreateResult) -> CreateResult:
    """`result` with its reasoning taken out of the answer into its thought."""
    if not isinstance(result.content, str):
        return result
    answer, reasoning = split_reasoning(result.content)
    thought = "\n\n".join(t for t in (result.thought, reasoning) if t) or None
    return result.model_copy(update={"content": answer, "thought": thought})
