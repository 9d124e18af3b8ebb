"""autogen-ext's Ollama client, keeping what it drops: the `thinking` Ollama returns apart
from the answer (deepseek-r1, qwen3) becomes the result's `thought`, so the reasoning is
stored and shown instead of lost while its tokens were still spent.

Imported only when an Ollama entry is built (autogen-ext and ollama are heavy imports).
"""

from __future__ import annotations

from typing import Any

from autogen_core.models import CreateResult
from autogen_ext.models.ollama import OllamaChatCompletionClient


class _KeepsLastResponse:
    """The ollama AsyncClient, remembering the last chat response it returned."""

    def __init__(self, inner: Any):
        self._inner = inner
        self.last: Any = None

    async def chat(self, *args: Any, **kwargs: Any) -> Any:
        self.last = None
        response = await self._inner.chat(*args, **kwargs)
        if not kwargs.get("stream"):
            self.last = response
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class OllamaClient(OllamaChatCompletionClient):
    """OllamaChatCompletionClient whose results carry Ollama's `thinking` as their thought.
    The gate runs one call at a time per process, so "the last response" is this call's."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._client = _KeepsLastResponse(self._client)

    async def create(self, *args: Any, **kwargs: Any) -> CreateResult:
        result = await super().create(*args, **kwargs)
        response = self._client.last
        thinking = getattr(getattr(response, "message", None), "thinking", None)
        if thinking:
            thought = "\n\n".join(t for t in (thinking.strip(), result.thought) if t)
            result = result.model_copy(update={"thought": thought})
        return result
