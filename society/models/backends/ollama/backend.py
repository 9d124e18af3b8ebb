"""Ollama: the person's own GPU server. Its models are described (VRAM need) and listed as
loaded by the server itself (api.py); a deployed adapter reaches it as a new tag."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from society.models.backends.base import Ask, Backend, model_info
from society.models.backends.ollama import api

if TYPE_CHECKING:
    from autogen_core.models import ChatCompletionClient

    from society.models.config import ModelEntry


class OllamaBackend(Backend):
    name = "ollama"
    reports_loaded = True
    deploys_tags = True
    honours_tool_choice = False  # "required" is dropped: the model may answer in prose

    def default_url(self) -> str:
        return api.parse_host(os.environ.get("OLLAMA_HOST"))

    def build(self, entry: ModelEntry, threads: int) -> ChatCompletionClient:
        from society.models.backends.ollama.client import OllamaClient

        return OllamaClient(
            model=entry.model,
            host=entry.base_url,
            model_info=model_info(entry),
            options={"num_ctx": entry.context_window, **entry.options},
        )

    def probe(self, entry: ModelEntry, ask: Ask) -> str | None:
        answer = ask(f"{entry.base_url}/api/tags")
        if isinstance(answer, str):
            return f"Ollama at {entry.base_url} unreachable ({answer})"
        pulled = {m.get("name") for m in answer[1].get("models", [])}
        pulled |= {name.removesuffix(":latest") for name in pulled if name}
        ok = entry.model in pulled or entry.model.removesuffix(":latest") in pulled
        return None if ok else f"not pulled in Ollama (run: ollama pull {entry.model})"

    def need_mb(self, entry: ModelEntry, facts: api.ModelFacts | None) -> int | None:
        return facts.need_mb(entry.context_window) if facts is not None else entry.vram_mb

    def output_schema_args(self, schema: dict[str, Any], fill: bool = False) -> dict[str, Any]:
        return {"format": schema}

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
        """Ollama's `options` are merged key by key, the entry's own (num_ctx, seed, stop...)
        first, so a per-call setting never drops a per-model one."""
        args = dict(extra or {})
        if schema is not None:
            args.update(self.output_schema_args(schema))
        options = {"num_ctx": entry.context_window, **entry.options}
        if temperature is not None:
            options["temperature"] = temperature
        options.update(args.pop("options", {}))
        options["num_predict"] = max_tokens
        args["options"] = options
        # Sent with every call: Ollama's own default unloads the model after 5 idle minutes,
        # and the next answer pays the load. The gate sends 0 for background work that
        # loaded a model the chat does not use.
        args.setdefault("keep_alive", entry.keep_alive)
        return args

    def sampled(self, sampling: dict[str, Any], entry: ModelEntry, extra: dict[str, Any]) -> dict[str, Any]:
        """Stop words and temperature inside Ollama's `options`."""
        shaped = super().sampled(sampling, entry, extra)
        rest = {k: shaped.pop(k) for k in ("temperature", "stop") if k in shaped}
        if rest:
            shaped["options"] = {**extra.get("options", {}), **rest}
        return shaped

    def after_call(self, entry: ModelEntry) -> str | None:
        """On a 6 GB card Ollama offloads what does not fit instead of failing; the next plan
        ranks the model below one that fits."""
        loaded = api.offloaded(entry)
        if loaded is None:
            return None
        return (
            f"{entry.model} is {loaded.where()}: it answers slowly; a model that fits is "
            "preferred from now on (see: society status)"
        )

    def call_args(self, entry: ModelEntry, wants_reasoning: bool, background: bool, loaded: bool) -> dict[str, Any]:
        return api.call_args(entry, wants_reasoning, background, loaded)


BACKEND = OllamaBackend()
