"""Every backend by name, and the calls the model layer makes of an entry's backend: build
its client, probe whether it answers, spell a request for it. Heavy client libraries
(llama_cpp, openai, ollama) are imported inside the backends' functions, so `society --help`
never pays for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from society.models.backends.base import Backend
from society.models.backends.llama_cpp.backend import BACKEND as LLAMA_CPP
from society.models.backends.ollama.backend import BACKEND as OLLAMA
from society.models.backends.openai import BACKEND as OPENAI

if TYPE_CHECKING:
    from autogen_core.models import ChatCompletionClient

    from society.models.config import ModelEntry

BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (OLLAMA, OPENAI, LLAMA_CPP)}
PROBE_TIMEOUT_S = 1.0


def backend_of(entry: ModelEntry) -> Backend:
    return BACKENDS[entry.backend]


def build_client(entry: ModelEntry, threads: int = 1) -> ChatCompletionClient:
    """The autogen-ext client for one entry; the embedded model loads its GGUF here."""
    return backend_of(entry).build(entry, threads)


def request_args(entry: ModelEntry, **shaping: Any) -> dict[str, Any]:
    """The `extra_create_args` of one call to `entry`, in its backend's own spelling
    (Backend.request_args)."""
    return backend_of(entry).request_args(entry, **shaping)


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

    return {entry.model: backend_of(entry).probe(entry, ask) for entry in entries}
