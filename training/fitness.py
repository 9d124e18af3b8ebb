"""How well a model answers a set of chats: `Recall` (the answers it writes hold the
reference's key words; the evolution loop's fitness, on the held-out split and the retention
set) and `Scorer` (the mean log-likelihood per answer token of the reference answers, with
the prompts only conditioning; reported beside it, and the trainer's eval loss)."""

from __future__ import annotations

import math
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


class Recall:
    """Accuracy, not likelihood: each chat's question answered greedily by the model, scored
    by how much of the reference answer's key words the answer holds. Key words are the
    answer's search terms (society/memory/keywords.py: no stop words, Japanese bigrams) that
    the question does not already say, weighted by rarity across the set (IDF), so the fact
    in "Riko's favourite dish is curry." counts and the phrasing every answer shares hardly.

    Likelihood of the reference measures phrasing: an adapter that answers every taught fact
    in its own words scored worse than one that knew a third of them. Sakana's evolutionary
    merge also scored children by task accuracy."""

    def __init__(self, tokenizer, rows: list[dict[str, Any]], batch_size: int = 16, max_new_tokens: int = 32):
        from society.memory.keywords import query_terms

        self.tokenizer, self.batch_size = tokenizer, batch_size
        items = []
        for row in rows:
            messages = row["messages"]
            asked = set(query_terms(" ".join(m["content"] for m in messages[:-1])))
            keys = [term for term in query_terms(messages[-1]["content"]) if term not in asked]
            if keys:
                prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
                length = len(tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"])
                items.append((prompt, keys, min(max_new_tokens, length + 4)))
        if not items:
            raise ValueError("no chat whose answer says something its question does not")
        documents = [set(keys) for _, keys, _ in items]
        self.items = [
            (prompt, {k: math.log(1 + len(documents) / sum(k in d for d in documents)) for k in keys}, budget)
            for prompt, keys, budget in items
        ]
        self.items.sort(key=lambda item: item[2])  # similar lengths batched together

    def answers(self, model) -> list[str]:
        import torch

        tokenizer = self.tokenizer
        side, tokenizer.padding_side = tokenizer.padding_side, "left"  # generation continues on the right
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        device = next(model.parameters()).device
        found = []
        try:
            for start in range(0, len(self.items), self.batch_size):
                chunk = self.items[start : start + self.batch_size]
                prompts = [prompt for prompt, _, _ in chunk]
                encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
                with torch.no_grad():
                    out = model.generate(
                        **encoded, max_new_tokens=max(b for _, _, b in chunk), do_sample=False, pad_token_id=pad
                    )
                width = encoded["input_ids"].shape[1]
                found += [tokenizer.decode(row[width:], skip_special_tokens=True) for row in out]
        finally:
            tokenizer.padding_side = side
        return found

    def score(self, model) -> float:
        """Mean share of key-word weight found in the answers (0 to 1, higher is better)."""
        from society.memory.keywords import query_terms

        total = 0.0
        for (_, weights, _), answer in zip(self.items, self.answers(model), strict=True):
            said = set(query_terms(answer))
            total += sum(w for k, w in weights.items() if k in said) / sum(weights.values())
        return total / len(self.items)
