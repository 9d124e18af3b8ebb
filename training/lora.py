"""LoRA fine-tuning with TRL on the data curator's exports: SFT on supervised chats, KTO on
answers labelled good or bad. Each adapter folder holds the PEFT weights and a meta.json
(base model, PEFT config, data hashes, steps, losses, eval loss). Training writes into a
`.partial` folder renamed at the end, so a run that fails or is killed leaves nothing
half-made behind and the deployed model as it was."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from society.errors import LearningError
from training.settings import LearningSettings

TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class Trained:
    name: str
    path: Path
    meta: dict[str, Any]


def data_hash(rows: list[dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, ensure_ascii=False, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def lora_config(settings: LearningSettings, layer_count: int):
    """PEFT's config for `settings` on a model of `layer_count` layers: on the top
    `settings.lora_layers` share of them (the gradient then stops at the lowest adapted
    layer)."""
    from peft import LoraConfig

    top = {}
    if settings.lora_layers < 1:
        first = layer_count - max(1, round(settings.lora_layers * layer_count))
        top = {"layers_to_transform": list(range(first, layer_count)), "layers_pattern": "layers"}
    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=0.0,
        target_modules=TARGET_MODULES,
        task_type="CAUSAL_LM",
        **top,
    )


# The rates and passes of training/settings.py were tuned on SmolLM2-135M. A bigger model
# learns from less: the Qwen2.5-0.5B at the 135M's 2e-3 and 6 passes drove its loss to 0.04
# and its general chat from 62 % to 32 % (the cycle then kept the base model).
REFERENCE_PARAMETERS = 135_000_000
MIN_EPOCHS = 3.0


def sized(settings: LearningSettings, model) -> LearningSettings:
    """`settings` for the size of `model`: the learning rates, and the passes over the data
    (not below MIN_EPOCHS), fall with the square root of its parameter count past the 135M's,
    unless learning.json sets them."""
    count = sum(p.numel() for p in model.parameters())
    factor = min(1.0, math.sqrt(REFERENCE_PARAMETERS / max(1, count)))
    chosen = settings.model_fields_set
    update: dict[str, Any] = {}
    for name in ("learning_rate", "heal_learning_rate"):
        if name not in chosen:
            update[name] = getattr(settings, name) * factor
    if "epochs" not in chosen:
        update["epochs"] = max(MIN_EPOCHS, settings.epochs * factor)
    return settings.model_copy(update=update)


EFFECTIVE_BATCH = 8  # examples per optimizer step, through accumulation where the memory plan lowers the batch


def steps_for(settings: LearningSettings, rows: int) -> int:
    """Optimizer steps: `settings.steps` when set, else `epochs` passes over `rows` (at most
    `max_steps`)."""
    if settings.steps:
        return settings.steps
    per_step = settings.batch_size * max(1, EFFECTIVE_BATCH // settings.batch_size)
    return max(1, min(settings.max_steps, math.ceil(settings.epochs * rows / per_step)))


def _config_kwargs(settings: LearningSettings, out: Path, quantized: bool, rows: int) -> dict[str, Any]:
    import torch

    from training.base import cpu_bf16

    return {
        "output_dir": str(out / "trainer"),
        "max_steps": steps_for(settings, rows),
        "learning_rate": settings.learning_rate,
        # QLoRA: the memory plan's batch (training/memory_plan.py), gradient checkpointing and
        # a paged 8-bit optimizer keep 7B in 6 GB; accumulation keeps the effective batch.
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": max(1, EFFECTIVE_BATCH // settings.batch_size),
        "gradient_checkpointing": quantized,
        "optim": "paged_adamw_8bit" if quantized else "adamw_torch",
        "use_cpu": not torch.cuda.is_available(),
        "bf16": quantized or cpu_bf16(),
        "logging_steps": 5,
        "save_strategy": "no",
        "report_to": "none",
        "seed": settings.seed,
        "disable_tqdm": False,  # the progress bar
    }


def as_prompt_completion(row: dict[str, Any]) -> dict[str, Any]:
    """A chat as TRL's conversational prompt-completion row: the loss is then on the answer
    alone (completion_only_loss), not on the system prompt and question every row repeats,
    which is what makes a fact stick instead of the answers' pattern."""
    messages = row["messages"]
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def answer_loss(model, inputs: dict[str, Any], num_items_in_batch=None):
    """Cross-entropy on the answer tokens alone (training.fitness.answer_logits).

    TRL's own loss runs the output head over every position of the batch (its fused, chunked
    head also computes entropy and top-1 figures for the logs): on 2 CPU cores that was a
    third of each step, for positions whose loss is masked anyway."""
    import torch.nn.functional as F

    from training.fitness import answer_logits

    targets = inputs["labels"][:, 1:]
    scored = targets != -100
    logits = answer_logits(model, inputs["input_ids"], inputs.get("attention_mask"), scored)
    total = F.cross_entropy(logits, targets[scored], reduction="sum")
    count = scored.sum() if num_items_in_batch is None else num_items_in_batch
    return total / max(1, int(count))


def _sft_trainer(anchor=None, weight: float = 0.0, **kwargs):
    """TRL's SFTTrainer with `answer_loss`, plus `weight` times the `anchor`'s pull towards
    the base model (training/anchor.py) when there is one."""
    from trl import SFTTrainer

    class AnswerLossTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = answer_loss(model, inputs, num_items_in_batch)
            if anchor is not None:
                loss = loss + weight * anchor.loss(model) / self.args.gradient_accumulation_steps
            return loss

    return AnswerLossTrainer(**kwargs)


def sft(
    peft_model,
    tokenizer,
    rows: list[dict[str, Any]],
    settings: LearningSettings,
    out: Path,
    steps: int = 0,
    anchor=None,
):
    """Train `peft_model`'s active adapter on the chats `rows`, loss on the answers only;
    `steps` optimizer steps, or as `settings` say; held near the base model by `anchor`
    (training/anchor.py `anchor_for`) at `settings.anchor_weight`. Returns the finished
    trainer."""
    from datasets import Dataset
    from trl import SFTConfig

    kwargs = _config_kwargs(settings, out, settings.hf_base is not None, len(rows))
    # Chats of like length in one batch: a batch is padded to its longest chat, and one long
    # general chat among short facts made every row of its batch that long. (Not for KTO,
    # whose KL term pairs each example with its neighbours in a fixed order.)
    kwargs["train_sampling_strategy"] = "group_by_length"
    if steps:
        kwargs["max_steps"] = steps
    trainer = _sft_trainer(
        anchor,
        settings.anchor_weight,
        model=peft_model,
        args=SFTConfig(**kwargs, max_length=settings.max_length),
        train_dataset=Dataset.from_list([as_prompt_completion(row) for row in rows]),
        processing_class=tokenizer,
    )
    trainer.train()
    return trainer


def train_adapter(
    name: str,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    folder: Path,
    settings: LearningSettings,
    base=None,
    method: str = "sft",
    anchor=None,
) -> Trained:
    """Train one adapter on `train_rows` (TRL's conversational `messages` rows for SFT,
    `prompt`/`completion`/`label` rows for KTO) and save it as `folder`/`name`; SFT held
    near the base by `anchor` (see `sft`)."""
    from datasets import Dataset
    from peft import get_peft_model

    from training.base import load_base
    from training.fitness import Scorer

    if method not in ("sft", "kto"):
        raise LearningError(f"method must be sft or kto, got '{method}'")
    if not train_rows:
        raise LearningError(f"no {method} examples to train '{name}' on; see `society data list`")
    model, tokenizer, base_name = base or load_base(settings.hf_base)
    quantized = settings.hf_base is not None
    target = folder / name
    partial = folder / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.perf_counter()
    peft_model = get_peft_model(model, lora_config(settings, model.config.num_hidden_layers))
    try:
        if method == "sft":
            trainer = sft(peft_model, tokenizer, train_rows, settings, partial, anchor=anchor)
        else:
            from trl import KTOConfig, KTOTrainer

            kwargs = _config_kwargs(settings, partial, quantized, len(train_rows))
            kwargs["per_device_train_batch_size"] = max(2, kwargs["per_device_train_batch_size"])
            config = KTOConfig(**kwargs, max_length=settings.max_length)
            trainer = KTOTrainer(
                model=peft_model, args=config, train_dataset=Dataset.from_list(train_rows), processing_class=tokenizer
            )
            trainer.train()
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        eval_chats = [r for r in eval_rows if "messages" in r]
        eval_loss = (
            -Scorer(tokenizer, eval_chats, settings.max_length, settings.scorer_batch).score(peft_model)
            if eval_chats
            else None
        )
        peft_model.save_pretrained(partial)
        shutil.rmtree(partial / "trainer", ignore_errors=True)
        meta = {
            "name": name,
            "base": base_name,
            "method": method,
            "peft_config": json.loads(json.dumps(peft_model.peft_config["default"].to_dict(), default=list)),
            "data": {"train_hash": data_hash(train_rows), "train_rows": len(train_rows), "eval_rows": len(eval_rows)},
            "steps": steps_for(settings, len(train_rows)),
            "learning_rate": settings.learning_rate,
            "losses": losses,
            "eval_loss": eval_loss,
            "seconds": round(time.perf_counter() - started, 1),
        }
        (partial / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        peft_model.unload()  # the base model comes back unchanged for the next adapter
    return Trained(name, target, meta)
