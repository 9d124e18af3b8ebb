"""autogen-ext's Ollama client, keeping what it drops: the `thinking` Ollama returns apart
from the answer (deepseek-r1, qwen3) becomes the result's `thought`, so the reasoning is
stored and shown instead of lost while its tokens were still spent; and Ollama's own
durations become the call's timing (time to first token, generation time).

Imported only when an Ollama entry is built (autogen-ext and ollama are heavy imports).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from autogen_core.models import CreateResult
from autogen_core.tools import ToolSchema
from autogen_ext.models.ollama import OllamaChatCompletionClient

from society.models.backends.base import Timing
from society.toolcalls.schema import parameters, schemas

NS = 1e9


class _Recorder:
    """The ollama AsyncClient, remembering of the last chat its thinking and final figures,
    and sending the call's tools whole (`schemas`, set before each call)."""

    def __init__(self, inner: Any):
        self._inner = inner
        self.thinking = ""
        self.final: Any = None
        self.schemas: list[ToolSchema] = []

    async def chat(self, *args: Any, **kwargs: Any) -> Any:
        self.thinking, self.final = "", None
        if kwargs.get("tools") and self.schemas:
            named = {tool["function"]["name"] for tool in kwargs["tools"]}
            kwargs["tools"] = ollama_tools([schema for schema in self.schemas if schema["name"] in named])
        response = await self._inner.chat(*args, **kwargs)
        if kwargs.get("stream"):
            return self._streamed(response)
        self.thinking, self.final = response.message.thinking or "", response
        return response

    async def _streamed(self, chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for chunk in chunks:
            self.thinking += chunk.message.thinking or ""
            if chunk.done:
                self.final = chunk
            yield chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def ollama_tools(tools: list[ToolSchema]) -> list[dict[str, Any]]:
    """Tools as Ollama takes them, whole. autogen-ext keeps of each parameter only its type
    and description: a list lost its items, a choice its allowed values, an object its
    fields. Ollama's tool format has `items` and `enum`; an object's fields and a default,
    which it has no place for, are written into the description the model reads."""
    made = []
    for tool in tools:
        params = parameters(tool)
        properties = {}
        for name, spec in params["properties"].items():
            about = [str(spec.get("description", "")).strip()]
            if spec.get("type") == "object" and spec.get("properties"):
                about.append(f"An object: {json.dumps(spec['properties'], ensure_ascii=False)}")
            if "default" in spec:
                about.append(f"Default {json.dumps(spec['default'], ensure_ascii=False)}.")
            prop: dict[str, Any] = {"type": spec.get("type", "string")}
            if " ".join(about).strip():
                prop["description"] = " ".join(a for a in about if a)
            for key in ("enum", "items"):
                if key in spec:
                    prop[key] = spec[key]
            properties[name] = prop
        function = {"name": tool["name"], "description": tool.get("description", "")}
        function["parameters"] = {"type": "object", "required": params.get("required", []), "properties": properties}
        made.append({"type": "function", "function": function})
    return made


class OllamaClient(OllamaChatCompletionClient):
    """OllamaChatCompletionClient whose results carry Ollama's `thinking` as their thought
    and whose `last_timing` comes from Ollama's durations. The gate runs one call at a time
    per process, so "the last chat" is this call's."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._client = _Recorder(self._client)
        self.last_timing: Timing | None = None

    def _finished(self, result: CreateResult) -> CreateResult:
        recorder: _Recorder = self._client
        final = recorder.final
        if final is not None and final.eval_duration:
            self.last_timing = Timing(
                prompt_tokens=final.prompt_eval_count or 0,
                reused_tokens=0,  # Ollama counts only the prompt tokens it had to read
                completion_tokens=final.eval_count or 0,
                first_token_s=((final.load_duration or 0) + (final.prompt_eval_duration or 0)) / NS,
                generation_s=final.eval_duration / NS,
            )
        if recorder.thinking.strip():
            thought = "\n\n".join(t for t in (recorder.thinking.strip(), result.thought) if t)
            result = result.model_copy(update={"thought": thought})
        return result

    async def create(self, *args: Any, **kwargs: Any) -> CreateResult:
        self.last_timing = None
        self._client.schemas = schemas(kwargs.get("tools") or [])
        return self._finished(await super().create(*args, **kwargs))

    async def create_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[str | CreateResult]:
        self.last_timing = None
        self._client.schemas = schemas(kwargs.get("tools") or [])
        async for item in super().create_stream(*args, **kwargs):
            yield self._finished(item) if isinstance(item, CreateResult) else item
