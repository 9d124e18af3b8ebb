"""An OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio...) through autogen-ext's
OpenAI client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from society.models.backends.base import Ask, Backend, model_info

if TYPE_CHECKING:
    from autogen_core.models import ChatCompletionClient

    from society.models.config import ModelEntry


class OpenAIBackend(Backend):
    name = "openai"
    own_memory = True
    required = ("base_url", "the server's URL (for example http://127.0.0.1:8000/v1)")
    where = "served by its own server"

    def build(self, entry: ModelEntry, threads: int) -> ChatCompletionClient:
        from autogen_ext.models.openai import OpenAIChatCompletionClient

        return OpenAIChatCompletionClient(
            model=entry.model,
            base_url=entry.base_url,
            api_key=entry.api_key or "not-needed",
            model_info=model_info(entry),
            timeout=entry.timeout_s,
            max_retries=0,  # the ladder is the retry policy
        )

    def probe(self, entry: ModelEntry, ask: Ask) -> str | None:
        answer = ask(f"{entry.base_url}/models")
        if isinstance(answer, str):
            return f"server at {entry.base_url} unreachable ({answer})"
        return None if answer[0] < 400 else f"server answered HTTP {answer[0]}"

    def need_mb(self, entry, facts) -> int | None:
        return entry.vram_mb or 0


BACKEND = OpenAIBackend()
