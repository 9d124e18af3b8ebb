"""What holds a fine-tuned model near its base on general chat: the base model's own next-token
probabilities along general chats (knowledge distillation from the base, as in "learning
without forgetting"), the top TOP_K at each answer position, computed once before training.
Each training step adds the adapted model's cross-entropy against them on one batch of those
chats, weighted by `anchor_weight` (training/settings.py).

Held only along the part of each answer the user's wishes left as written (not at ", Ken."
or where two sentences end), the 0.5B's parents kept less general chat (bench_teach, the
cycle's guard: 60-70 % against 75 % with the whole answer, base 85 %) and no child was
deployable in two cycles; with the wished ending taught there instead (cross-entropy on
", Ken." and the stop) the child kept 75 % and was not deployed either. So the whole answer,
wishes included, is held.

One anchor serves a whole cycle (both parents and the heal): the base does not change.

Training on the base's greedy answers (training/replay.py) teaches only its first choice at
each token; the whole distribution says more per token about what it knew."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from training.settings import LearningSettings

TOP_K = 32
COMPUTE_BATCH = 16


class Anchor:
    """Soft targets for `rows` (chats), from `model` as it is when made: make it before
    training, or inside `peft_model.disable_adapter()`."""

    def __init__(self, model, tokenizer, rows: list[dict[str, Any]], max_length: int, batch_size: int, seed: int):
        import torch

        from training.base import cpu_precision
        from training.fitness import Scorer, answer_logits

        device = next(model.parameters()).device
        self.batches = []
        # The base answers COMPUTE_BATCH chats at once (at the training's 2 a batch, making the
        # anchor took 60 s instead of 37 on 2 cores); they are kept as batches of `batch_size`.
        scorer = Scorer(tokenizer, rows, max_length, max(batch_size, COMPUTE_BATCH))
        with torch.no_grad(), cpu_precision():
            for input_ids, attention, scored in scorer.batches:
                input_ids, attention, wanted = input_ids.to(device), attention.to(device), scored[:, 1:].to(device)
                logits = answer_logits(model, input_ids, attention, wanted)
                log_p, index = torch.log_softmax(logits.float(), dim=-1).topk(TOP_K, dim=-1)
                at = [0, *wanted.sum(dim=1).cumsum(0).tolist()]  # row r's answer tokens: at[r]:at[r + 1]
                for a in range(0, len(input_ids), batch_size):
                    b = min(a + batch_size, len(input_ids))
                    kept = (input_ids[a:b], attention[a:b], wanted[a:b], log_p[at[a] : at[b]], index[at[a] : at[b]])
                    self.batches.append(kept)
        random.Random(seed).shuffle(self.batches)  # Scorer sorts by length
        self.steps = 0

    def loss(self, model):
        """KL divergence from the base's top TOP_K probabilities to `model`'s, per answer
        token, on the next batch (the batches in turn): 0 while the model is the base."""
        import torch

        from training.fitness import answer_logits

        input_ids, attention, wanted, log_p, index = self.batches[self.steps % len(self.batches)]
        self.steps += 1
        logits = answer_logits(model, input_ids, attention, wanted)
        log_q = torch.log_softmax(logits.float(), dim=-1).gather(-1, index)
        return (log_p.exp() * (log_p - log_q)).sum(dim=-1).mean()


def anchor_for(model, tokenizer, chats: list[dict[str, Any]], settings: LearningSettings) -> Anchor | None:
    """The anchor `settings` (training/settings.py) ask for on `chats`, from `model` as it is
    (the base, before any adapter); None when `anchor_weight` is 0 or there are no chats."""
    if settings.anchor_weight <= 0 or not chats:
        return None
    return Anchor(model, tokenizer, chats, settings.max_length, settings.anchor_batch, settings.seed)
