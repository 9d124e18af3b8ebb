"""Deployment and rollback of adapters, each to the model it was trained on.

The adapter is written as a llama.cpp GGUF LoRA (what llama.cpp's convert_lora_to_gguf.py
writes: general.type adapter, adapter.type lora, adapter.lora.alpha, the base architecture's
`blk.N.<tensor>.weight.lora_a/.lora_b`, with the rows of q and k permuted where llama.cpp
stores them so). The embedded model loads it next to its GGUF. For an Ollama model, a new
tag made through /api/create (the adapter as a blob) takes the model's place on the ladder
(society/models/config.py). Each deployment is a row for its base; rollback deploys the one before.
A failed export deploys nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from society.errors import LearningError
from society.paths import data_dir
from training.base import embedded_entry
from training.lineage import Lineage

# Hugging Face model_type -> (llama.cpp architecture, whether llama.cpp's converter permutes
# the rows of q and k as it does for LlamaModel; Qwen2Model and Qwen3Model keep HF's order).
ARCHITECTURES = {
    "llama": ("llama", True),
    "mistral": ("llama", True),
    "qwen2": ("qwen2", False),
    "qwen3": ("qwen3", False),
}


def adapters_dir() -> Path:
    folder = data_dir() / "adapters"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _llama_permute(rows, heads: int):
    """convert_hf_to_gguf's LlamaModel.permute: llama.cpp keeps q and k rows per head in a
    different order from Hugging Face's."""
    return rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def base_config(base: str) -> dict:
    """The config.json of the model an adapter was trained on."""
    from training.base import EMBEDDED, embedded_folder

    if base.startswith(EMBEDDED):
        return json.loads((embedded_folder() / "config.json").read_text(encoding="utf-8"))
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(base).to_dict()


def export_gguf(adapter_path: Path, target: Path, base: str | None = None, config: dict | None = None) -> Path:
    """Write the PEFT adapter in `adapter_path`, trained on `base` (default: the embedded
    model; or give its `config`), as a llama.cpp GGUF LoRA at `target`: tensor names from
    the gguf package's map for the base's architecture."""
    import gguf
    from safetensors.numpy import load_file

    from training.base import embedded_base

    lora = json.loads((adapter_path / "adapter_config.json").read_text(encoding="utf-8"))
    config = config or base_config(base or embedded_base())
    known = ARCHITECTURES.get(config.get("model_type", ""))
    if known is None:
        raise LearningError(
            f"cannot write a llama.cpp LoRA for a {config.get('model_type')} model (known: {', '.join(ARCHITECTURES)})"
        )
    arch_name, permuted = known
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)
    names = gguf.get_tensor_name_map(arch, config["num_hidden_layers"])
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    tensors = load_file(str(adapter_path / "adapter_model.safetensors"))
    partial = target.with_suffix(".partial")
    writer = gguf.GGUFWriter(str(partial), arch=arch_name)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    # llama.cpp scales by alpha / rank, as PEFT does.
    writer.add_float32("adapter.lora.alpha", float(lora["lora_alpha"]))
    count = 0
    for name, value in sorted(tensors.items()):
        if ".lora_A." not in name:
            continue
        module = name.split(".lora_A.")[0].removeprefix("base_model.model.")  # model.layers.3.self_attn.q_proj
        mapped = names.get_name(module)  # blk.3.attn_q
        if mapped is None:
            raise LearningError(f"{adapter_path}: no llama.cpp tensor for {module}")
        a = value.astype("float32")
        b = tensors[name.replace(".lora_A.", ".lora_B.")].astype("float32")
        if permuted and module.endswith("q_proj"):
            b = _llama_permute(b, heads)
        elif permuted and module.endswith("k_proj"):
            b = _llama_permute(b, kv_heads)
        writer.add_tensor(f"{mapped}.weight.lora_a", a)
        writer.add_tensor(f"{mapped}.weight.lora_b", b)
        count += 1
    if not count:
        raise LearningError(f"{adapter_path}: no LoRA tensors to export")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.rename(target)
    return target


def ollama_create(base_url: str, base_model: str, tag: str, gguf_path: Path) -> None:
    """A new Ollama model `tag` = `base_model` + the adapter (blob upload, then /api/create)."""
    import httpx

    data = gguf_path.read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=base_url, timeout=600) as client:
        if client.head(f"/api/blobs/{digest}").status_code != 200:
            client.post(f"/api/blobs/{digest}", content=data).raise_for_status()
        reply = client.post(
            "/api/create",
            json={"model": tag, "from": base_model, "adapters": {gguf_path.name: digest}, "stream": False},
        )
        reply.raise_for_status()


def deploy(name: str, reason: str, lineage: Lineage | None = None, settings=None) -> str:
    """Deploy adapter `name` to the model it was trained on: the embedded model loads its
    GGUF LoRA; an Ollama model is replaced on the ladder by a new tag with the adapter.
    `settings`: the cycle's (its learning target), else learning.json's. Returns what now
    answers."""
    from training.base import EMBEDDED, embedded_base
    from training.settings import load_settings

    lineage = lineage or Lineage()
    adapter = lineage.adapter(name)
    if adapter is None:
        raise LearningError(f"no adapter named '{name}'; see `society lineage`")
    settings = settings or load_settings()
    on_ollama = not adapter.base.startswith(EMBEDDED)
    if not on_ollama and adapter.base != embedded_base():
        raise LearningError(
            f"adapter '{name}' was trained on {adapter.base.removeprefix(EMBEDDED)}, not on the embedded model"
            f" the society serves with now ({embedded_base().removeprefix(EMBEDDED)}); it is not attached to it"
        )
    if on_ollama and (not settings.ollama_model or adapter.base != settings.hf_base):
        raise LearningError(
            f"adapter '{name}' was trained on {adapter.base}, which no model on the ladder is made from now;"
            " it is not attached to another model"
        )
    gguf_path = export_gguf(Path(adapter.path), adapters_dir() / f"{name}.gguf", adapter.base)
    if not on_ollama:
        lineage.deploy(name, str(gguf_path), None, reason)
        return str(gguf_path)
    tag = f"{settings.ollama_model.split(':')[0]}:society-{name}"
    ollama_create(ollama_url_of(settings.ollama_model), settings.ollama_model, tag, gguf_path)
    lineage.deploy(name, str(gguf_path), tag, reason, base=settings.ollama_model)
    return tag


def ollama_url_of(model: str) -> str:
    """The Ollama server the ladder reaches `model` on (OLLAMA_HOST's when none says)."""
    from society.models.backends.ollama.api import parse_host
    from society.models.config import load_entries

    url = next((e.base_url for e in load_entries() if e.kind.deploys_tags and e.model == model), None)
    return url or parse_host(os.environ.get("OLLAMA_HOST"))


def rollback(lineage: Lineage | None = None, base: str | None = None) -> str | None:
    """Return `base` (None: the embedded model; else an Ollama model) to its deployment
    before the current one, the plain model when there is none; what now answers."""
    lineage = lineage or Lineage()
    history = lineage.deployments(base)
    if not history:
        raise LearningError(f"nothing is deployed on {base or 'the embedded model'}; its base model is in use")
    previous = history[-2] if len(history) > 1 else None
    why = f"rollback from {history[-1].adapter}"
    if previous is None or previous.adapter is None:
        lineage.deploy(None, None, None, why, base=base)
        return None
    lineage.deploy(previous.adapter, previous.gguf, previous.ollama_tag, why, base=base)
    return previous.adapter


def deployed_lora() -> str | None:
    """The GGUF LoRA the embedded model loads, or None (also when its file is gone)."""
    from society.storage.deployments import deployed_lora as on_the_embedded_model

    return on_the_embedded_model(embedded_entry().model)
