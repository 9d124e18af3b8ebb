"""The embedded model: a GGUF run by llama.cpp inside this process, on its CPU (client.py),
with the LoRA the learning cycle deployed for it."""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING, Any

from society.models.backends.base import Ask, Backend, model_info

if TYPE_CHECKING:
    from collections.abc import Callable

    from autogen_core.models import ChatCompletionClient

    from society.models.config import ModelEntry

# An unconstrained reply needs a repeat penalty: "I'm ready to help." twenty times at
# llama.cpp's neutral 1.0 (Ollama already defaults to 1.1); never on constrained output,
# where repeated braces and quotes are the point.
TEXT_REPEAT_PENALTY = 1.15


class LlamaCppBackend(Backend):
    name = "llama_cpp"
    in_process = True
    trains_its_file = True
    choices_from_logprobs = True
    required = ("model_path", "a path to a GGUF file, pkg:PACKAGE/FILE or shipped:NAME")
    where = "on the CPU, in this process"

    def build(self, entry: ModelEntry, threads: int) -> ChatCompletionClient:
        """The embedded model loads its GGUF here, with its deployed LoRA."""
        from society.models.backends.llama_cpp.client import EmbeddedClient

        path = entry.resolved_model_path()
        if not path.exists():
            raise FileNotFoundError(f"{entry.model}: model file {path} does not exist")
        lora = self.adapter(entry)
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

    def probe(self, entry: ModelEntry, ask: Ask) -> str | None:
        if importlib.util.find_spec("llama_cpp") is None:
            return "llama-cpp-python is not installed"
        try:
            path = entry.resolved_model_path()
        except FileNotFoundError as err:
            return str(err)
        return None if path.exists() else f"model file {path} not found"

    def need_mb(self, entry, facts) -> int:
        return 0

    def output_schema_args(self, schema: dict[str, Any], fill: bool = False) -> dict[str, Any]:
        """A grammar from the schema. `fill`: the model writes only the schema's open parts,
        its fixed ones are written for it (json_fill.py); for a reply whose schema holds most
        of it."""
        from society.models.backends.llama_cpp.grammar import grammar_problem
        from society.models.backends.llama_cpp.json_fill import FILL

        if problem := grammar_problem(schema):
            print(f"society: the output cannot be held to its JSON schema ({problem}); any JSON goes", file=sys.stderr)
        return {"response_format": {"type": "json_object", "schema": schema}, **({FILL: True} if fill else {})}

    def request_args(self, entry: ModelEntry, *, free_text: bool = False, **rest: Any) -> dict[str, Any]:
        args = super().request_args(entry, **rest)
        if free_text:
            args.setdefault("repeat_penalty", TEXT_REPEAT_PENALTY)
        return args

    def adapter(self, entry: ModelEntry) -> str | None:
        from society.storage.deployments import deployed_lora

        return deployed_lora(entry.model)

    def token_counter(self, client: Any) -> Callable[[str], int] | None:
        llm = getattr(client, "llm", None)
        if llm is None:
            return None
        return lambda text: len(llm.tokenize(text.encode("utf-8"), add_bos=False))


BACKEND = LlamaCppBackend()
