"""The one protocol every model backend keeps: what it can do (abilities), how a request to
it is spelt (request shaping), how its client is built, and what it says of itself
(readings). The model layer asks an entry's backend (`registry.backend_of`) instead of
testing which backend it is; a new backend is one module that fills this in.

This module imports nothing of the model layer: the model list (config.py), the machine's
readings and the clients all stand on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autogen_core.models import ChatCompletionClient, CreateResult, ModelInfo

    from society.models.backends.ollama.api import ModelFacts
    from society.models.config import ModelEntry

OUTPUT_SCHEMA = "output_schema"  # extra_create_args key: hold the reply to this JSON schema
# extra_create_args key: a list of options the reply is one of (a judge's verdict); the embedded
# model answers with the likeliest and each one's log-probability (CreateResult.logprobs).
CHOICES = "choices"

# A probe's way to ask a server (one GET per URL per probe): (status, JSON) or why it failed.
Ask = Callable[[str], "tuple[int, dict] | str"]


@dataclass(frozen=True)
class Timing:
    """One call's figures: prompt tokens read and reused, time to the first token, time
    spent generating after it (tokens per second is completion tokens over this)."""

    prompt_tokens: int
    reused_tokens: int
    completion_tokens: int
    first_token_s: float | None
    generation_s: float


async def final_result(items: AsyncIterator[str | CreateResult]) -> CreateResult:
    """The CreateResult a model client's stream ends with (its text chunks passed over)."""
    from autogen_core.models import CreateResult

    result = None
    async for item in items:
        if isinstance(item, CreateResult):
            result = item
    if result is None:
        raise RuntimeError("the model's stream ended without a result")
    return result


def model_info(entry: ModelEntry) -> ModelInfo:
    from autogen_core.models import ModelFamily, ModelInfo

    return ModelInfo(
        vision=False,
        function_calling=entry.has("tools"),
        json_output=True,
        structured_output=True,
        family=ModelFamily.R1 if entry.has("reasoning") else ModelFamily.UNKNOWN,
    )


class Backend:
    """One kind of model server. The class attributes are its abilities; the methods shape
    its requests and read it. Defaults are an OpenAI-compatible server's."""

    name = ""
    in_process = False  # runs inside this process, on its CPU: no server, no URL, no VRAM
    own_memory = False  # a server that manages its own memory: its list `vram_mb`, else 0
    reports_loaded = False  # its server says which models it holds and where (Ollama /api/ps)
    deploys_tags = False  # a deployed adapter reaches it as a new model name (an Ollama tag)
    trains_its_file = False  # learning trains an adapter for the model file it runs (GGUF LoRA)
    choices_from_logprobs = False  # a choice is read from token probabilities, nothing generated
    honours_tool_choice = True  # tool_choice="required" is kept (Ollama drops it)
    required: tuple[str, str] | None = None  # (field, what it must be) it cannot run without
    where = ""  # where it runs, as the notices say it

    def default_url(self) -> str | None:
        """The base_url an entry without one gets; None: it must say."""
        return None

    def build(self, entry: ModelEntry, threads: int) -> ChatCompletionClient:
        raise NotImplementedError

    def probe(self, entry: ModelEntry, ask: Ask) -> str | None:
        """None when `entry` can answer now, else one line saying why not."""
        raise NotImplementedError

    def need_mb(self, entry: ModelEntry, facts: ModelFacts | None) -> int | None:
        """The GPU memory `entry` needs at its context (None: nothing says), given what its
        server says of the model (`facts`, when it describes models)."""
        return entry.vram_mb

    def output_schema_args(self, schema: dict[str, Any], fill: bool = False) -> dict[str, Any]:
        """How it is told to hold its output to a JSON schema."""
        return {"response_format": {"type": "json_schema", "json_schema": {"name": "tool_call", "schema": schema}}}

    def request_args(
        self,
        entry: ModelEntry,
        *,
        max_tokens: int,
        schema: dict[str, Any] | None = None,
        temperature: float | None = None,
        free_text: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The `extra_create_args` of one call to `entry` in its own spelling: the output
        cap, a JSON schema for the output, the temperature, and what the caller passed."""
        args = dict(extra or {})
        if schema is not None:
            args.update(self.output_schema_args(schema))
        args["max_tokens"] = max_tokens
        if temperature is not None:
            args.setdefault("temperature", temperature)
        return args

    def sampled(self, sampling: dict[str, Any], entry: ModelEntry, extra: dict[str, Any]) -> dict[str, Any]:
        """A client's sampling options for one call (max_tokens, stop, temperature): the cap
        never above the call's own."""
        shaped: dict[str, Any] = {}
        if (cap := sampling.get("max_tokens")) is not None:
            shaped["max_tokens"] = min(int(cap), int(extra.get("max_tokens", entry.max_tokens)))
        shaped.update({k: sampling[k] for k in ("temperature", "stop") if sampling.get(k) is not None})
        return shaped

    def call_args(self, entry: ModelEntry, wants_reasoning: bool, background: bool, loaded: bool) -> dict[str, Any]:
        """What one call adds for this backend: thinking asked for, the model's stay after."""
        return {}

    def after_call(self, entry: ModelEntry) -> str | None:
        """What to tell the user once after a call answered, read from the backend (a model
        running slowly where it is), or None."""
        return None

    def adapter(self, entry: ModelEntry) -> str | None:
        """The deployed adapter file its client loads with `entry`'s model, if any."""
        return None

    def token_counter(self, client: Any) -> Callable[[str], int] | None:
        """Exact token counting with the client's own tokenizer, when it has one here."""
        return None
