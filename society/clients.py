"""Build autogen-ext model clients from ladder entries, and probe which entries are reachable.

Heavy client libraries (llama_cpp, openai, ollama) are imported here, inside functions, so
`society --help` never pays for them.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from society.config import ModelEntry

if TYPE_CHECKING:
    from autogen_core.models import ChatCompletionClient, ModelInfo

PROBE_TIMEOUT_S = 1.0


def model_info(entry: ModelEntry) -> ModelInfo:
    from autogen_core.models import ModelFamily, ModelInfo

    return ModelInfo(
        vision=False,
        function_calling=entry.has("tools"),
        json_output=True,
        structured_output=True,
        family=ModelFamily.R1 if entry.has("reasoning") else ModelFamily.UNKNOWN,
    )


def deployed_lora(entry: ModelEntry) -> str | None:
    """The GGUF LoRA the learning cycle deployed for the embedded model `entry` (training/
    deploy.py records it in the `deployments` table); None when the latest deployment is the
    plain model, its file is gone, or it was trained on another model (a ladder whose
    embedded model changed must not attach the old model's adapter to the new one)."""
    from sqlalchemy import text

    from society.store import Store

    with Store().engine.connect() as conn:
        # The embedded model's deployments only (base NULL): an adapter deployed to an
        # Ollama model was trained on another base and must never be attached here.
        row = conn.execute(
            text(
                "SELECT d.gguf, a.base FROM deployments d LEFT JOIN adapters a ON a.name = d.adapter"
                " WHERE d.base IS NULL ORDER BY d.id DESC LIMIT 1"
            )
        ).first()
    if row is None or not row[0] or row[1] != f"embedded:{entry.model}":
        return None
    return row[0] if Path(row[0]).exists() else None


def deployed_tags() -> dict[str, str]:
    """{Ollama model: the tag with its deployed adapter that takes its place now}, from the
    `deployments` table (training/deploy.py writes it); a rollback to the plain model
    leaves the model out."""
    from sqlalchemy import text

    from society.store import Store

    latest: dict[str, str | None] = {}
    with Store().engine.connect() as conn:
        for base, tag in conn.execute(
            text("SELECT base, ollama_tag FROM deployments WHERE base IS NOT NULL ORDER BY id")
        ):
            latest[base] = tag
    return {base: tag for base, tag in latest.items() if tag}


def build_client(entry: ModelEntry, threads: int = 1) -> ChatCompletionClient:
    """The autogen-ext client for one entry; the embedded model loads its GGUF here."""
    if entry.backend == "llama_cpp":
        from society.embedded_client import EmbeddedClient

        path = entry.resolved_model_path()
        if not path.exists():
            raise FileNotFoundError(f"{entry.model}: model file {path} does not exist")
        lora = deployed_lora(entry)
        return EmbeddedClient(
            model_info=model_info(entry),
            model_path=str(path),
            **({"lora_path": lora} if lora else {}),
            n_ctx=entry.context_window,
            # Only a CUDA build of llama-cpp-python uses these (see README, "GPU"); 0 is the CPU.
            n_gpu_layers=int(entry.options.get("n_gpu_layers", 0)),
            n_threads=threads,
            n_threads_batch=threads,
            seed=entry.options.get("seed", 0),
            verbose=False,
        )
    if entry.backend == "ollama":
        from society.ollama_client import OllamaClient

        return OllamaClient(
            model=entry.model,
            host=entry.base_url,
            model_info=model_info(entry),
            options={"num_ctx": entry.context_window, **entry.options},
        )
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    return OpenAIChatCompletionClient(
        model=entry.model,
        base_url=entry.base_url,
        api_key=entry.api_key or "not-needed",
        model_info=model_info(entry),
        timeout=entry.timeout_s,
        max_retries=0,  # the ladder is the retry policy
    )


OUTPUT_SCHEMA = "output_schema"  # extra_create_args key: hold the reply to this JSON schema
# extra_create_args key: a list of options the reply is one of (a judge's verdict); the embedded
# model answers with the likeliest and each one's log-probability (CreateResult.logprobs).
CHOICES = "choices"
TEXT_REPEAT_PENALTY = 1.15


def sampled(sampling: dict[str, Any], entry: ModelEntry, extra: dict[str, Any]) -> dict[str, Any]:
    """A client's sampling options for one call to `entry` (max_tokens, stop, temperature),
    in the spelling ToolCallClient and `request_args` pass on to each backend: the cap never
    above the call's own, Ollama's stop and temperature inside its `options`."""
    shaped: dict[str, Any] = {}
    if (cap := sampling.get("max_tokens")) is not None:
        shaped["max_tokens"] = min(int(cap), int(extra.get("max_tokens", entry.max_tokens)))
    rest = {k: sampling[k] for k in ("temperature", "stop") if sampling.get(k) is not None}
    if entry.backend == "ollama":
        if rest:
            shaped["options"] = {**extra.get("options", {}), **rest}
    else:
        shaped.update(rest)
    return shaped


def grammar_problem(schema: dict[str, Any]) -> str | None:
    """Why llama.cpp cannot build a grammar from `schema`, or None. llama-cpp-python then
    falls back to any JSON for the whole call without a word; the cause is said instead."""
    return _grammar(json.dumps(schema))[1]


def grammar_of(schema: dict[str, Any]) -> str | None:
    """llama.cpp's grammar (GBNF) for `schema`, or None when it cannot build one."""
    return _grammar(json.dumps(schema))[0]  # key order kept: it is the order of the reply


@cache
def _grammar(schema: str) -> tuple[str | None, str | None]:
    """(grammar, why not), once per distinct schema: a role offers the same tools turn after turn."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(schema), None
    except Exception as err:  # noqa: BLE001 - its converter raises assertions and key errors alike
        return None, f"{type(err).__name__}: {err}"[:200]


def output_schema_args(backend: str, schema: dict[str, Any], fill: bool = False) -> dict[str, Any]:
    """How each backend is told to hold its output to a JSON schema. `fill`: the embedded
    model writes only the schema's open parts, its fixed ones are written for it
    (society/json_fill.py); for a reply whose schema holds most of it."""
    if backend == "llama_cpp":
        if problem := grammar_problem(schema):
            import sys

            print(f"society: the output cannot be held to its JSON schema ({problem}); any JSON goes", file=sys.stderr)
        from society.json_fill import FILL

        return {"response_format": {"type": "json_object", "schema": schema}, **({FILL: True} if fill else {})}
    if backend == "ollama":
        return {"format": schema}
    return {"response_format": {"type": "json_schema", "json_schema": {"name": "tool_call", "schema": schema}}}


def request_args(
    entry: ModelEntry,
    *,
    max_tokens: int,
    schema: dict[str, Any] | None = None,
    temperature: float | None = None,
    free_text: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `extra_create_args` of one call to `entry`, in its backend's own spelling: the
    output cap, a JSON schema for the output, the temperature, and what the caller passed.
    Ollama's `options` are merged key by key, the entry's own (num_ctx, seed, stop...) first,
    so a per-call setting never drops a per-model one. `free_text`: an unconstrained reply,
    which the embedded model needs a repeat penalty for ("I'm ready to help." twenty times at
    llama.cpp's neutral 1.0; Ollama already defaults to 1.1; never on constrained output,
    where repeated braces and quotes are the point)."""
    args = dict(extra or {})
    if schema is not None:
        args.update(output_schema_args(entry.backend, schema))
    if entry.backend == "ollama":
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
    args["max_tokens"] = max_tokens
    if temperature is not None:
        args.setdefault("temperature", temperature)
    if free_text and entry.backend == "llama_cpp":
        args.setdefault("repeat_penalty", TEXT_REPEAT_PENALTY)
    return args


def probe(entries: list[ModelEntry]) -> dict[str, str | None]:
    """Map each entry to None when reachable, or to one line saying why it is not.

    Servers are asked once per URL (Ollama's `/api/tags`, an OpenAI server's `/models`).
    """
    import httpx

    answers: dict[str, tuple[int, dict] | str] = {}

    def ask(url: str) -> tuple[int, dict] | str:
        if url not in answers:
            try:
                response = httpx.get(url, timeout=PROBE_TIMEOUT_S)
                answers[url] = (response.status_code, response.json() if response.is_success else {})
            except (httpx.HTTPError, OSError, ValueError) as err:
                answers[url] = f"{type(err).__name__}: {err}".strip().rstrip(":")
        return answers[url]

    result: dict[str, str | None] = {}
    for entry in entries:
        if entry.backend == "llama_cpp":
            if importlib.util.find_spec("llama_cpp") is None:
                result[entry.model] = "llama-cpp-python is not installed"
                continue
            try:
                path = entry.resolved_model_path()
            except FileNotFoundError as err:
                result[entry.model] = str(err)
                continue
            result[entry.model] = None if path.exists() else f"model file {path} not found"
        elif entry.backend == "ollama":
            answer = ask(f"{entry.base_url}/api/tags")
            if isinstance(answer, str):
                result[entry.model] = f"Ollama at {entry.base_url} unreachable ({answer})"
                continue
            pulled = {m.get("name") for m in answer[1].get("models", [])}
            pulled |= {name.removesuffix(":latest") for name in pulled if name}
            ok = entry.model in pulled or entry.model.removesuffix(":latest") in pulled
            result[entry.model] = None if ok else f"not pulled in Ollama (run: ollama pull {entry.model})"
        else:
            answer = ask(f"{entry.base_url}/models")
            if isinstance(answer, str):
                result[entry.model] = f"server at {entry.base_url} unreachable ({answer})"
            else:
                result[entry.model] = None if answer[0] < 400 else f"server answered HTTP {answer[0]}"
    return result
