"""A role's view of the model gate: an AutoGen `ChatCompletionClient`, so the agents and the
selector need no special knowledge of the gate, its ladder or its lock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, ModelFamily, ModelInfo, RequestUsage

from society.models.config import ModelEntry
from society.models.tokens import estimate_tokens

if TYPE_CHECKING:
    from society.models.gate import ModelGate

# How the gate wraps the backend client it picked for a call: (client, entry, prepare) -> a
# client. Default: society.toolcalls.client.ToolCallClient with no role options.
Wrap = Callable[[ChatCompletionClient, ModelEntry, Callable[[list[LLMMessage]], list[LLMMessage]]], Any]


class RoleClient(ChatCompletionClient):
    """A role's view of the gate, usable anywhere AutoGen expects a model client. `wrap`
    carries what is the role's own about its requests (its tools' grounders, whether it must
    act: society/toolcalls/client.py); the gate applies it to whichever model it picks."""

    def __init__(self, gate: ModelGate, role: str, wrap: Wrap | None = None):
        self.gate = gate
        self.role = role
        self._options: dict[str, Any] = {"wrap": wrap} if wrap else {}
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)

    def _kwargs(self, tools, tool_choice, json_output, extra_create_args) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"extra_create_args": dict(extra_create_args or {}), **self._options}
        if tools:
            kwargs["tools"] = tools
            kwargs["tool_choice"] = tool_choice
            kwargs["needs"] = ("tools",)  # prefer a model that calls tools natively
        if json_output is not None:
            kwargs["json_output"] = json_output
        return kwargs

    def _count(self, result: CreateResult) -> CreateResult:
        self._usage = RequestUsage(
            prompt_tokens=self._usage.prompt_tokens + result.usage.prompt_tokens,
            completion_tokens=self._usage.completion_tokens + result.usage.completion_tokens,
        )
        return result

    async def create(
        self,
        messages,
        *,
        tools=(),
        tool_choice="auto",
        json_output=None,
        extra_create_args=None,
        cancellation_token=None,
    ) -> CreateResult:
        kwargs = self._kwargs(tools, tool_choice, json_output, extra_create_args)
        return self._count(await self.gate.create(self.role, messages, **kwargs))

    async def create_stream(
        self,
        messages,
        *,
        tools=(),
        tool_choice="auto",
        json_output=None,
        extra_create_args=None,
        cancellation_token=None,
        **_ignored,
    ) -> AsyncIterator[str | CreateResult]:
        """The answer as the model writes it (AutoGen's `model_client_stream`), then the result."""
        kwargs = self._kwargs(tools, tool_choice, json_output, extra_create_args)
        async for item in self.gate.create_stream(self.role, messages, **kwargs):
            yield self._count(item) if isinstance(item, CreateResult) else item

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._usage

    def count_tokens(self, messages, *, tools=()) -> int:
        return sum(estimate_tokens(str(m.content)) for m in messages)

    def remaining_tokens(self, messages, *, tools=()) -> int:
        smallest = min(e.context_window for e in self.gate.entries)
        return smallest - self.count_tokens(messages)

    @property
    def capabilities(self) -> ModelInfo:  # deprecated in autogen-core, still abstract
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            vision=False, function_calling=True, json_output=True, structured_output=True, family=ModelFamily.UNKNOWN
        )
