"""Will QLoRA of this model fit this card? Computed from the model's config.json before
anything is loaded, so a 6 GB laptop gets a configuration that fits or one line saying by
how much it does not, instead of a CUDA out-of-memory error ten minutes in.

What a QLoRA step holds on the GPU (each part is a line of the plan):
  - the transformer body's linear layers in 4-bit NF4 with double quantization (~4.13 bits
    a weight), norms and biases in bf16;
  - the input embeddings in bf16, frozen and not upcast (PEFT's prepare_model_for_kbit_training
    would make them fp32: twice the size), or left on the CPU, where a lookup costs nothing;
  - the output head in bf16 (bitsandbytes leaves it unquantized); tied to the embeddings, it
    is the same tensor and keeps them on the GPU;
  - the LoRA weights (fp32), their gradients and a paged 8-bit AdamW's two states;
  - activations with gradient checkpointing (each layer's input, one layer recomputed, the
    largest weight dequantized to bf16 while it is used);
  - the logits and the loss (bf16 logits, their fp32 copy, the softmax and its gradient),
    batch x sequence x vocabulary, the largest part for a 152k vocabulary;
  - the CUDA context and the allocator's slack.
Scoring a child (training/fitness.py) holds no gradients but its own logits: its batch is
chosen so they fit beside the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 2**20
NF4_BITS = 4.127  # 4-bit codes, fp8 block scales per 64 weights, fp32 scales per 256 blocks
CUDA_CONTEXT_MB = 350  # the driver's own, outside PyTorch's allocator (a desktop card, CUDA 12/13)
SLACK = 1.08  # the caching allocator's fragmentation
LORA_BYTES = 4 + 4 + 2  # fp32 weight, fp32 gradient, two 8-bit AdamW states
LOSS_BYTES = 2 + 4 + 4 + 4  # bf16 logits, fp32 copy, log-softmax, its gradient (per logit)
SCORE_BYTES = 2 + 4 + 4  # bf16 logits, fp32 copy, log-softmax
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Shape:
    """What the plan needs of a decoder-only transformer (a Hugging Face config.json)."""

    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> Shape:
        text = config.get("text_config", config)  # multimodal configs nest the language model's
        heads = text["num_attention_heads"]
        return cls(
            name=name,
            hidden=text["hidden_size"],
            intermediate=text["intermediate_size"],
            layers=text["num_hidden_layers"],
            heads=heads,
            kv_heads=text.get("num_key_value_heads") or heads,
            vocab=text["vocab_size"],
            tied=bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
        )

    @classmethod
    def from_folder(cls, folder: Path) -> Shape:
        return cls.from_config(folder.name, json.loads((folder / "config.json").read_text(encoding="utf-8")))

    @property
    def kv_dim(self) -> int:
        return self.hidden // self.heads * self.kv_heads

    def projections(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear layer of one block."""
        h, i, kv = self.hidden, self.intermediate, self.kv_dim
        return {
            "q_proj": (h, h),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (h, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def linear_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.projections().values())

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    def lora_params(self, rank: int, modules: tuple[str, ...] = TARGET_MODULES) -> int:
        return self.layers * sum(rank * (a + b) for name, (a, b) in self.projections().items() if name in modules)


@dataclass(frozen=True)
class Setup:
    rank: int
    sequence: int
    batch: int  # per step; gradient accumulation keeps the effective batch
    embeddings: str  # "gpu" (bf16, frozen) or "cpu"

    def describe(self) -> str:
        where = "on the GPU in bf16" if self.embeddings == "gpu" else "on the CPU"
        return f"rank {self.rank}, {self.sequence} tokens, batch {self.batch}, embeddings {where}"


@dataclass(frozen=True)
class Plan:
    shape: Shape
    setup: Setup
    parts: dict[str, float]  # MB while training
    scorer_batch: int
    scoring_mb: float  # the scorer's logits at that batch
    free_mb: int
    refused: str | None = None
    tried: list[str] = field(default_factory=list)

    @property
    def need_mb(self) -> float:
        return need(self.parts)

    @property
    def fits(self) -> bool:
        return self.refused is None

    def lines(self) -> list[str]:
        head = f"QLoRA of {self.shape.name}: {self.setup.describe()}"
        out = [head, *(f"  {name:<34} {mb:>7,.0f} MB" for name, mb in self.parts.items())]
        out.append(f"  {'total, with allocator slack':<34} {self.need_mb:>7,.0f} MB of {self.free_mb:,} MB free")
        out.append(f"  scoring children: batch {self.scorer_batch} ({self.scoring_mb:,.0f} MB of logits)")
        out.append(self.refused or f"  fits, {self.free_mb - self.need_mb:,.0f} MB to spare")
        return out


def need(parts: dict[str, float]) -> float:
    """MB needed: the parts, PyTorch's with the allocator's slack, plus the CUDA context."""
    torch_side = sum(mb for name, mb in parts.items() if name != "CUDA context")
    return torch_side * SLACK + parts.get("CUDA context", 0.0)


def parts(shape: Shape, setup: Setup) -> dict[str, float]:
    """The MB of each part of a training step under `setup` (see the module docstring)."""
    tokens = setup.batch * setup.sequence
    embeddings = shape.embedding_params * 2 / MB
    on_gpu_embeddings = setup.embeddings == "gpu" or shape.tied  # a tied head is the same tensor
    norms_and_biases = shape.layers * (4 * shape.hidden + 2 * shape.kv_dim) * 2 / MB
    widest = max(a * b for a, b in shape.projections().values())
    one_layer = tokens * (6 * shape.hidden + 2 * shape.kv_dim + 4 * shape.intermediate) * 2
    return {
        "weights, 4-bit NF4": shape.linear_params * NF4_BITS / 8 / MB + norms_and_biases,
        "input embeddings, bf16": embeddings if on_gpu_embeddings else 0.0,
        "output head, bf16": 0.0 if shape.tied else embeddings,
        "LoRA, gradients, 8-bit AdamW": shape.lora_params(setup.rank) * LORA_BYTES / MB,
        "activations (checkpointed)": (tokens * shape.hidden * 2 * shape.layers + one_layer + widest * 2) / MB,
        "logits and loss": tokens * shape.vocab * LOSS_BYTES / MB,
        "CUDA context": CUDA_CONTEXT_MB,
    }


def scorer_batch(shape: Shape, sequence: int, room_mb: float, most: int = 16) -> tuple[int, float]:
    """The largest batch (at most `most`) whose logits fit in `room_mb`, and their MB."""
    batch = most
    while batch > 1 and batch * sequence * shape.vocab * SCORE_BYTES / MB > room_mb:
        batch //= 2
    return batch, batch * sequence * shape.vocab * SCORE_BYTES / MB


def candidates(rank: int, sequence: int) -> list[Setup]:
    """Setups from the most wanted down: the settings' rank and length first, then smaller;
    embeddings on the GPU before the CPU, bigger batches before smaller."""
    ranks = sorted({rank, min(rank, 8), 4}, reverse=True)
    sequences = sorted({sequence, min(sequence, 256), 128}, reverse=True)
    return [Setup(r, s, b, e) for s in sequences for r in ranks for e in ("gpu", "cpu") for b in (4, 2, 1)]


def plan(shape: Shape, free_mb: int, rank: int = 8, sequence: int = 256) -> Plan:
    """The most wanted setup that fits `free_mb`, or the smallest one, refused, with the
    shortfall in one line."""
    tried = []
    chosen = None
    for setup in candidates(rank, sequence):
        if setup.embeddings == "cpu" and shape.tied:
            continue  # a tied head is the embedding: it cannot leave the GPU
        cost = parts(shape, setup)
        tried.append(f"{setup.describe()}: {need(cost):,.0f} MB")
        if need(cost) <= free_mb:
            chosen = (setup, cost)
            break
    refused = None
    if chosen is None:
        smallest = min(
            (s for s in candidates(rank, sequence) if not (s.embeddings == "cpu" and shape.tied)),
            key=lambda s: need(parts(shape, s)),
        )
        chosen = (smallest, parts(shape, smallest))
        short = need(chosen[1]) - free_mb
        refused = (
            f"QLoRA of {shape.name} does not fit: it needs {need(chosen[1]):,.0f} MB at its smallest "
            f"({smallest.describe()}) and {free_mb:,} MB are free, {short:,.0f} MB short; free GPU memory "
            "or learn on a smaller model"
        )
    setup, cost = chosen
    training_only = cost["LoRA, gradients, 8-bit AdamW"] + cost["activations (checkpointed)"] + cost["logits and loss"]
    room = max(0.0, free_mb - need(cost) + training_only * SLACK) / SLACK  # scoring runs after training
    batch, scoring = scorer_batch(shape, setup.sequence, room)
    return Plan(shape, setup, cost, batch, scoring, free_mb, refused, tried)
