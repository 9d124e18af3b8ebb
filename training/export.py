"""Export the examples as JSONL in the formats TRL's trainers read, split into train and eval:

- sft: conversational language modelling, `{"messages": [{"role", "content"}, ...]}` (SFTTrainer)
- dpo: conversational preference, `{"prompt": [...], "chosen": [...], "rejected": [...]}` (DPOTrainer)
- kto: conversational unpaired preference, `{"prompt": [...], "completion": [...], "label": bool}` (KTOTrainer)
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from training.datasets import Example, Examples

FORMATS = ("sft", "dpo", "kto")


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def rows(examples: list[Example], format: str) -> list[dict[str, Any]]:
    """The examples that fit `format`, as that format's rows. Answers labelled bad are never
    taught by SFT; pairs feed DPO; every labelled answer feeds KTO."""
    if format == "sft":
        return [
            {"messages": e.prompt + _assistant(e.completion)}
            for e in examples
            if e.kind in ("sft", "label") and e.label is not False
        ]
    if format == "dpo":
        return [
            {"prompt": e.prompt, "chosen": _assistant(e.completion), "rejected": _assistant(e.rejected or "")}
            for e in examples
            if e.kind == "pair"
        ]
    if format == "kto":
        return [
            {"prompt": e.prompt, "completion": _assistant(e.completion), "label": bool(e.label)}
            for e in examples
            if e.label is not None
        ]
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got '{format}'")


def export(
    format: str, folder: Path, eval_share: float = 0.1, seed: int = 0, examples: Examples | None = None
) -> dict[str, int]:
    """Write `folder`/train.jsonl and `folder`/eval.jsonl; the count of each. The split is a
    seeded shuffle, so the same data and seed give the same split."""
    if not 0 <= eval_share < 1:
        raise ValueError(f"--eval-share must be at least 0 and below 1, got {eval_share}")
    chosen = rows((examples or Examples()).all_active(), format)
    random.Random(seed).shuffle(chosen)
    held_out = round(len(chosen) * eval_share) if len(chosen) > 1 else 0
    splits = {"train": chosen[held_out:], "eval": chosen[:held_out]}
    folder.mkdir(parents=True, exist_ok=True)
    for name, split in splits.items():
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in split:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {name: len(split) for name, split in splits.items()}
