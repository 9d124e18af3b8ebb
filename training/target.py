"""What learning trains: the model the user talks to.

The chat's model is the planner's first rung. The embedded model trains as itself. An Ollama
model is a GGUF made from a Hugging Face model; QLoRA needs that model, so it is found in
training/bases.json by what Ollama's /api/show says (architecture, hidden size, layers and
vocabulary must match; the model's name picks between bases of one shape, as Qwen2 and
Qwen2.5 are). `hf_base` in learning.json overrides the match. When the base is not on this
machine, the user is told exactly what to download; nothing is downloaded by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from society.models.backends.base import Backend
from society.models.backends.ollama.api import ModelFacts

BASES = Path(__file__).with_name("bases.json")


@dataclass(frozen=True)
class Target:
    chat_model: str  # as the ladder names it
    hf_base: str | None  # None: the embedded model
    ollama_model: str | None  # the Ollama model a deployment derives a tag from
    missing: str | None = None  # why learning cannot start, with what to do

    def line(self) -> str:
        if self.hf_base is None:
            return f"learning trains {self.chat_model} (the embedded model) on the CPU"
        where = self.missing or "ready"
        return f"learning trains {self.chat_model} through {self.hf_base}: {where}"


def bases() -> list[dict]:
    return json.loads(BASES.read_text(encoding="utf-8"))["bases"]


def match(model: str, facts: ModelFacts) -> tuple[str | None, str | None]:
    """(the Hugging Face base of Ollama's `model`, or None with why)."""
    same_shape = [
        b
        for b in bases()
        if b["architecture"] == facts.architecture
        and b["config"]["hidden_size"] == facts.embedding
        and b["config"]["num_hidden_layers"] == facts.layers
        and (facts.vocab is None or b["config"]["vocab_size"] == facts.vocab)
    ]
    if not same_shape:
        return None, (
            f"no known Hugging Face base has the shape of {model} ({facts.architecture}, {facts.parameter_size});"
            ' set "hf_base" in learning.json to the model it was made from'
        )
    named = [b for b in same_shape if model.split(":")[0].split("/")[-1] == b["family"]]
    if len(named) == 1 or len(same_shape) == 1:
        return (named or same_shape)[0]["repo"], None
    choices = ", ".join(b["repo"] for b in same_shape)
    return None, f'{model} could be made from {choices}; set "hf_base" in learning.json to the right one'


def downloaded(repo: str) -> bool:
    """Whether `repo` is a local folder or in the Hugging Face cache (config and weights)."""
    if Path(repo).expanduser().is_dir():
        return (Path(repo).expanduser() / "config.json").exists()
    from huggingface_hub import scan_cache_dir

    try:
        cached = {r.repo_id: r for r in scan_cache_dir().repos}
    except Exception:  # noqa: BLE001 - no cache folder yet
        return False
    found = cached.get(repo)
    return found is not None and any(f.file_name.endswith(".safetensors") for rev in found.revisions for f in rev.files)


def learning_target(chat_model: str, kind: Backend, facts: ModelFacts | None, hf_base: str | None = None) -> Target:
    """What learning trains when the user talks to `chat_model`, served by `kind` (see the
    module docstring)."""
    if kind.trains_its_file:
        return Target(chat_model, None, None)
    tag = chat_model if kind.deploys_tags else None  # where a deployed adapter reaches it
    repo, why = (hf_base, None) if hf_base else (None, "Ollama did not describe it (is it running?)")
    if repo is None and facts is not None:
        repo, why = match(chat_model, facts)
    if repo is None:
        return Target(chat_model, None, tag, why)
    missing = None
    if not downloaded(repo):
        missing = f"{repo} is not on this machine; download it once with: huggingface-cli download {repo}"
    return Target(chat_model, repo, tag, missing)


def current_target(hf_base: str | None = None) -> Target:
    """What learning trains now: the planner's first rung on the ladder as it stands."""
    from society.models.config import load_entries
    from society.models.gate import ModelGate

    gate = ModelGate(load_entries())
    choices = gate.plan("planner")
    if not choices:
        return Target("no model", None, None, "no model can answer the planner now (see: society status)")
    entry = choices[0].entry
    return learning_target(entry.model, entry.kind, gate.last_readings.ollama_facts.get(entry.model), hf_base)
