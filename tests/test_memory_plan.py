"""The QLoRA memory plan (training/memory_plan.py) on recorded model configurations: what
fits a 6 GB card with Ollama unloaded, and one line naming the shortfall when nothing does."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT
from training.memory_plan import Setup, Shape, need, parts, plan

SIX_GB_FREE = 5900  # a 6 GB card (6,144 MB) with the desktop's share in use, Ollama unloaded


def shape(repo: str) -> Shape:
    listed = json.loads((ROOT / "training" / "bases.json").read_text())["bases"]
    return next(Shape.from_config(b["repo"], b["config"]) for b in listed if b["repo"] == repo)


def test_qwen2_7b_fits_a_6_gb_card_only_with_its_embeddings_on_the_cpu():
    qwen = shape("Qwen/Qwen2-7B-Instruct")
    found = plan(qwen, SIX_GB_FREE, rank=16, sequence=256)
    assert found.fits and found.setup.embeddings == "cpu" and found.need_mb <= SIX_GB_FREE
    # The issue's own figures: a 3.2 GB body at 4 bits, 2.1 GB of embeddings and head in bf16.
    cost = parts(qwen, Setup(4, 256, 1, "gpu"))
    assert 3100 < cost["weights, 4-bit NF4"] < 3300
    assert 2000 < cost["input embeddings, bf16"] + cost["output head, bf16"] < 2200
    assert need(cost) > SIX_GB_FREE  # the same setup with the embeddings on the GPU does not fit
    # Scoring children at batch 16 would need 16 x 256 x 152k logits (~6 GB): the plan picks less.
    assert found.scorer_batch < 16 and found.scoring_mb < SIX_GB_FREE - found.need_mb + 1000
    text = "\n".join(found.lines())
    assert "embeddings on the CPU" in text and "fits" in text


@pytest.mark.parametrize(
    ("repo", "embeddings", "rank", "sequence"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "gpu", 16, 256),
        ("Qwen/Qwen2-1.5B-Instruct", "gpu", 16, 256),  # tied: its embeddings are its head
        ("meta-llama/Meta-Llama-3-8B-Instruct", "cpu", 8, 128),
    ],
)
def test_recorded_models_at_6_gb(repo, embeddings, rank, sequence):
    found = plan(shape(repo), SIX_GB_FREE, rank=16, sequence=256)
    assert found.fits
    assert (found.setup.embeddings, found.setup.rank, found.setup.sequence) == (embeddings, rank, sequence)


def test_what_does_not_fit_is_refused_in_one_line_with_the_shortfall():
    found = plan(shape("Qwen/Qwen2-7B-Instruct"), 4096)
    assert not found.fits and "\n" not in found.refused
    assert found.refused.startswith("QLoRA of Qwen/Qwen2-7B-Instruct does not fit: it needs")
    short = round(found.need_mb - 4096)
    assert (
        f"{short:,} MB short" in found.refused and "rank 4, 128 tokens, batch 1, embeddings on the CPU" in found.refused
    )
    tied = plan(shape("Qwen/Qwen2-1.5B-Instruct"), 1200)
    assert not tied.fits and all("CPU" not in line for line in tied.tried)  # a tied head never leaves


def test_shapes_come_from_config_json_nested_or_not():
    flat = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 1000,
    }
    assert Shape.from_config("x", flat).kv_heads == 4  # no num_key_value_heads: plain multi-head
    nested = Shape.from_config("y", {"text_config": flat, "tie_word_embeddings": True})
    assert nested.tied and nested.hidden == 64
    assert nested.lora_params(8) == 2 * 8 * (4 * (64 + 64) + 2 * (64 + 128) + (128 + 64))


def test_the_loading_arguments_follow_the_setup():
    from training.base import EMBEDDINGS_ON_CPU, qlora_kwargs

    on_gpu = qlora_kwargs(Setup(8, 256, 1, "gpu"))
    assert on_gpu["device_map"] == {"": 0} and str(on_gpu["dtype"]) == "torch.bfloat16"
    on_cpu = qlora_kwargs(Setup(4, 256, 1, "cpu"))
    assert on_cpu["device_map"] == EMBEDDINGS_ON_CPU and on_cpu["device_map"]["model.embed_tokens"] == "cpu"
    assert on_cpu["quantization_config"].llm_int8_enable_fp32_cpu_offload
    assert on_cpu["quantization_config"].bnb_4bit_quant_type == "nf4"
