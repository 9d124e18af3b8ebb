"""Build autogen-ext model clients from ladder entries, and probe which entries are reachable.

Heavy client libraries (llama_cpp, openai, ollama) are imported here, inside functions, so
`society --help` never pays for them.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

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


def build_client(entry: ModelEntry, threads: int = 1) -> ChatCompletionClient:
    """The autogen-ext client for one entry; the embedded model loads its GGUF here."""
    if entry.backend == "llama_cpp":
        from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient

        path = entry.resolved_model_path()
        if not path.exists():
            raise FileNotFoundError(f"{entry.model}: model file {path} does not exist")
        from training.base import embedded_gguf
        from training.deploy import deployed_lora

        # The evolution breeder's deployed adapter, for the base it was trained on.
        lora = deployed_lora() if path.resolve() == embedded_gguf().resolve() else None
        return LlamaCppChatCompletionClient(
            model_info=model_info(entry),
            model_path=str(path),
            **({"lora_path": lora} if lora else {}),
            n_ctx=entry.context_window,
            n_threads=threads,
            n_threads_batch=threads,
            seed=entry.options.get("seed", 0),
            verbose=False,
        )
    if entry.backend == "ollama":
        from autogen_ext.models.ollama import OllamaChatCompletionClient

        return OllamaChatCompletionClient(
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


def max_tokens_args(entry: ModelEntry, max_tokens: int) -> dict:
    """The per-call output cap, in each backend's own spelling."""
    if entry.backend == "ollama":
        return {"options": {"num_predict": max_tokens}}
    return {"max_tokens": max_tokens}


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
