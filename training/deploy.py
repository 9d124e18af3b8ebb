"""Deployment and rollback of adapters.

The embedded model: the adapter is written as a llama.cpp GGUF LoRA (what llama.cpp's
convert_lora_to_gguf.py writes: general.type adapter, adapter.type lora, adapter.lora.alpha,
`blk.N.<tensor>.weight.lora_a/.lora_b`, with the rows of q and k permuted as llama.cpp stores
them) and loaded next to the embedded GGUF. Ollama users: a new model tag made with
`ADAPTER` through Ollama's /api/create. Each deployment is a row; rollback deploys the one
before. A failed export deploys nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from society.errors import LearningError
from society.paths import data_dir
from training.base import embedded_gguf
from training.lineage import Lineage

MODULE_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def adapters_dir() -> Path:
    folder = data_dir() / "adapters"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _llama_permute(rows, heads: int):
    """convert_hf_to_gguf's LlamaModel.permute: llama.cpp keeps q and k rows per head in a
    different order from Hugging Face's."""
    return rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def export_gguf(adapter_path: Path, target: Path) -> Path:
    """Write the PEFT adapter in `adapter_path` as a llama.cpp GGUF LoRA at `target`."""
    import gguf
    from safetensors.numpy import load_file

    from training.base import embedded_folder

    config = json.loads((adapter_path / "adapter_config.json").read_text(encoding="utf-8"))
    model_config = json.loads((embedded_folder() / "config.json").read_text(encoding="utf-8"))
    heads, kv_heads = model_config["num_attention_heads"], model_config.get("num_key_value_heads")
    tensors = load_file(str(adapter_path / "adapter_model.safetensors"))
    partial = target.with_suffix(".partial")
    writer = gguf.GGUFWriter(str(partial), arch="llama")
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    # llama.cpp scales by alpha / rank, as PEFT does.
    writer.add_float32("adapter.lora.alpha", float(config["lora_alpha"]))
    count = 0
    for name, value in sorted(tensors.items()):
        if ".lora_A." not in name:
            continue
        module = name.split(".layers.")[1].split(".lora_A.")[0]  # "3.self_attn.q_proj"
        layer, path = module.split(".", 1)
        a = value.astype("float32")
        b = tensors[name.replace(".lora_A.", ".lora_B.")].astype("float32")
        if path == "self_attn.q_proj":
            b = _llama_permute(b, heads)
        elif path == "self_attn.k_proj":
            b = _llama_permute(b, kv_heads or heads)
        base = f"blk.{layer}.{MODULE_NAMES[path]}.weight"
        writer.add_tensor(f"{base}.lora_a", a)
        writer.add_tensor(f"{base}.lora_b", b)
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


def deploy(name: str, reason: str, lineage: Lineage | None = None) -> str:
    """Deploy adapter `name`; returns what the embedded model (or Ollama) now runs with."""
    from training.settings import load_settings

    lineage = lineage or Lineage()
    adapter = lineage.adapter(name)
    if adapter is None:
        raise LearningError(f"no adapter named '{name}'; see `society lineage`")
    settings = load_settings()
    gguf_path = export_gguf(Path(adapter.path), adapters_dir() / f"{name}.gguf")
    tag = None
    if settings.hf_base and settings.ollama_model:
        from society.config import load_entries
        from society.ollama import parse_host

        url = next((e.base_url for e in load_entries() if e.backend == "ollama"), None)
        url = url or parse_host(os.environ.get("OLLAMA_HOST"))
        tag = f"{settings.ollama_model.split(':')[0]}:society-{name}"
        ollama_create(url, settings.ollama_model, tag, gguf_path)
    lineage.deploy(name, str(gguf_path), tag, reason)
    return tag or str(gguf_path)


def rollback(lineage: Lineage | None = None) -> str | None:
    """Return to the deployment before the current one (the plain base model when none)."""
    lineage = lineage or Lineage()
    history = lineage.deployments()
    if not history:
        raise LearningError("nothing is deployed; the base model is already in use")
    previous = history[-2] if len(history) > 1 else None
    if previous is None or previous.adapter is None:
        lineage.deploy(None, None, None, f"rollback from {history[-1].adapter}")
        return None
    lineage.deploy(previous.adapter, previous.gguf, previous.ollama_tag, f"rollback from {history[-1].adapter}")
    return previous.adapter


def deployed_lora() -> str | None:
    """The GGUF LoRA the embedded model loads, or None (also when its file is gone)."""
    from society.clients import deployed_lora as on_the_embedded_model

    return on_the_embedded_model(embedded_gguf())
