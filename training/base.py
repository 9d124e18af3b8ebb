"""The base model adapters are trained on. The embedded model (the model list's first llama.cpp
entry that answers the user: Qwen2.5-Coder-0.5B-Instruct by default, SmolLM2-135M in the tests) comes from its GGUF
(transformers dequantizes it; the result is cached as safetensors because dequantizing
takes half a minute); for Ollama users the Hugging Face base of their model (a setting),
loaded in 4-bit NF4 for QLoRA so a 7B model trains in 6 GB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from society.errors import UnavailableError
from society.paths import cache_dir
from training.memory_plan import Plan, Setup, Shape, plan

EMBEDDED = "embedded:"  # the base name of an adapter trained on an embedded model: embedded:<model>
# Llama/Qwen2-style module names: everything on GPU 0 but the input embeddings.
EMBEDDINGS_ON_CPU = {
    "model.embed_tokens": "cpu",
    "model.layers": 0,
    "model.norm": 0,
    "model.rotary_emb": 0,
    "lm_head": 0,
}


def embedded_entry():
    """The embedded model the society serves with, and so the one its adapters are trained
    on: the first llama.cpp entry of the model list that answers the user (the planner's;
    the 1.5B judge above it only judges)."""
    from society.models.config import load_entries

    entry = next((e for e in load_entries() if e.kind.trains_its_file and e.allows("planner")), None)
    if entry is None:
        raise UnavailableError("the model list has no embedded (llama_cpp) model to train")
    return entry


def embedded_base() -> str:
    """The base name adapters of the embedded model are recorded with (lineage, deployments)."""
    return EMBEDDED + embedded_entry().model


def embedded_gguf() -> Path:
    return embedded_entry().resolved_model_path()


def embedded_folder() -> Path:
    """The dequantized embedded model as a transformers folder, made once per machine."""
    gguf = embedded_gguf()
    folder = cache_dir() / "models" / gguf.stem.lower()
    if (folder / "config.json").exists():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A model loaded from GGUF refuses save_pretrained (it counts as quantized); the same
    # dequantized weights in a plain model of the same config save normally.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype="float32")
    model.load_state_dict(loaded.state_dict())
    partial = folder.with_name(folder.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(folder)  # whole or not at all: a killed export is redone next time
    return folder


def qlora_kwargs(setup: Setup | None = None) -> dict[str, Any]:
    """4-bit NF4 with double quantization and bf16 compute; everything not quantized stays
    bf16 (not upcast to fp32), and with `setup.embeddings == "cpu"` the input embeddings
    stay on the CPU, where a lookup costs nothing and 0.5-1 GB of VRAM is saved."""
    import torch
    from transformers import BitsAndBytesConfig

    on_cpu = setup is not None and setup.embeddings == "cpu"
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
            llm_int8_enable_fp32_cpu_offload=on_cpu,  # transformers' switch for any module on the CPU
        ),
        "dtype": torch.bfloat16,
        "device_map": EMBEDDINGS_ON_CPU if on_cpu else {"": 0},
    }


def prepare_for_qlora(model) -> None:
    """What PEFT's prepare_model_for_kbit_training does, less the fp32 upcast of every
    unquantized weight (embeddings and head: 2 GB more for a 7B model): gradient
    checkpointing without re-entry, inputs that carry gradients, no KV cache."""
    import torch

    embeddings = model.get_input_embeddings()
    if next(embeddings.parameters()).device.type == "cpu":
        # Kept in fp32 on the CPU by transformers: hand bf16 to the GPU layers, or the
        # whole residual stream (and every checkpoint) would be fp32.
        embeddings.register_forward_hook(lambda _m, _i, out: out.to(torch.bfloat16))
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.config.use_cache = False


def base_shape(hf_base: str) -> Shape:
    """The memory plan's view of `hf_base` (its config.json, from the local cache or folder)."""
    from transformers import AutoConfig

    return Shape.from_config(hf_base, AutoConfig.from_pretrained(hf_base).to_dict())


def plan_training(hf_base: str, rank: int, sequence: int) -> Plan:
    """The QLoRA setup that fits the GPU's free memory now (raises with the shortfall)."""
    import torch

    from society.errors import LearningError

    if not torch.cuda.is_available():
        raise UnavailableError(f"QLoRA of {hf_base} needs an NVIDIA GPU; none is visible to torch")
    free, _ = torch.cuda.mem_get_info()
    found = plan(base_shape(hf_base), free // 2**20, rank, sequence)
    if not found.fits:
        raise LearningError(found.refused)
    return found


def cpu_bf16() -> bool:
    """Whether training on this machine's CPU should compute in bfloat16 (float32 weights,
    autocast): only where the CPU multiplies bfloat16 natively (AMX or AVX512-BF16), which
    halves a step (the 0.5B, 8 chats of 96 tokens: 6.0 -> 3.0 s on 2 cores); elsewhere
    bfloat16 is emulated and slower than float32."""
    import torch

    if torch.cuda.is_available():
        return False
    native = (getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
    return any(check is not None and check() for check in native)


def cpu_precision():
    """The autocast of `cpu_bf16()` for the forward passes outside the trainer (scoring,
    greedy answers), or no change."""
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16())


def load_base(hf_base: str | None = None, setup: Setup | None = None):
    """(model, tokenizer, base name). hf_base None: the embedded model on the CPU in float32;
    else `hf_base` in 4-bit for QLoRA as `setup` (training/memory_plan.py) says."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if hf_base is None:
        folder = embedded_folder()
        model = AutoModelForCausalLM.from_pretrained(folder, dtype="float32")
        tokenizer = AutoTokenizer.from_pretrained(folder)
        name = embedded_base()
    else:
        import torch

        if not torch.cuda.is_available():
            raise UnavailableError(f"QLoRA of {hf_base} needs an NVIDIA GPU; none is visible to torch")
        model = AutoModelForCausalLM.from_pretrained(hf_base, **qlora_kwargs(setup))
        prepare_for_qlora(model)
        tokenizer = AutoTokenizer.from_pretrained(hf_base)
        name = hf_base
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, name
