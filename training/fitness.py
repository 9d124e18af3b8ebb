"""Fitness without generating text: the mean log-likelihood per answer token of a set of
chats under a model (the answers scored, the prompts only conditioning). The evolution loop
scores each child this way on the held-out split and on the retention set."""

from __future__ import annotations

from typing import Any


class Scorer:
    """Chats tokenized once (with the tokenizer's chat template), scored many times."""

    def __init__(self, tokenizer, rows: list[dict[str, Any]], max_length: int = 256, batch_size: int = 16):
        import torch

        self.batches = []
        encoded = []
        for row in rows:
            messages = row["messages"]
            prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
            full = tokenizer.apply_chat_template(messages, tokenize=False)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ids = tokenizer(full, add_special_tokens=False)["input_ids"][:max_length]
            if len(ids) > len(prompt_ids):
                encoded.append((ids, len(prompt_ids)))
        if not encoded:
            raise ValueError("no chat with an answer to score")
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            width = max(len(ids) for ids, _ in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            scored = torch.zeros((len(chunk), width), dtype=torch.bool)
            for i, (ids, prompt_length) in enumerate(chunk):
                input_ids[i, : len(ids)] = torch.tensor(ids)
                # From the lengths, not `!= pad`: the pad token is often <|im_end|>, which
                # every chat contains.
                attention[i, : len(ids)] = 1
                scored[i, prompt_length : len(ids)] = True
            self.batches.append((input_ids, attention, scored))
        self.tokens = sum(int(s[:, 1:].sum()) for _, _, s in self.batches)

    def score(self, model) -> float:
        """Mean log-likelihood per answer token (higher is better; 0 is certainty)."""
        import torch

        total = 0.0
        device = next(model.parameters()).device
        with torch.no_grad():
            for input_ids, attention, scored in self.batches:
                logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
                logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
                picked = logprobs.gather(-1, input_ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
                total += float(picked[scored[:, 1:].to(device)].sum())
        return total / self.tokens
