"""How well a model answers a set of chats: `Recall` (the answers it writes hold the
reference's key words; the evolution loop's fitness, on the held-out split and the retention
set) and `Scorer` (the mean log-likelihood per answer token of the reference answers, with
the prompts only conditioning; reported beside it, and the trainer's eval loss)."""

from __future__ import annotations

import math
import os
import re
from typing import Any

MIN_SHARED = 8  # tokens: a shorter common prefix is not worth a separate pass


def shared_prefix(input_ids, attention_mask, scored) -> int:
    """How many leading tokens every row has in common (unpadded, none of them the position
    of a scored token's logit)."""
    same = (input_ids == input_ids[:1]).all(dim=0)
    if attention_mask is not None:
        same &= attention_mask.bool().all(dim=0)
    # scored[:, t] is the token at t + 1, predicted by the output at position t: that
    # position must be computed in the batch, not in the shared cache. (A batch of one chat,
    # or of chats that share their whole prompt, left the first answer token's logit in the
    # cache: one logit short of the targets.)
    same[:-1] &= ~scored.any(dim=0)
    run = int(same.long().cumprod(dim=0).sum())
    return min(run, input_ids.shape[1] - 2)


def answer_logits(model, input_ids, attention_mask, scored):
    """The logits that predict each token where `scored` (shaped like `input_ids[:, 1:]`) is
    true, with the output head applied at those positions only: over every position, the
    head of a 49k-152k vocabulary costs more time and memory than the answers need.

    Every chat starts with the same system prompt and markup (20 of SmolLM2's 46 tokens for a
    short fact): that prefix runs once and its cache is shared by the batch, gradients
    included, unless activation (gradient) checkpointing, which drops caches, is on."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder()
    checkpointed = getattr(base, "is_activation_checkpointing", False)
    shared = 0 if checkpointed else shared_prefix(input_ids, attention_mask, scored)
    if shared < MIN_SHARED:
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return base.get_output_embeddings()(hidden[:, :-1][scored]).float()
    cache = decoder(input_ids=input_ids[:1, :shared], use_cache=True).past_key_values
    cache.batch_repeat_interleave(input_ids.shape[0])
    hidden = decoder(
        input_ids=input_ids[:, shared:], attention_mask=attention_mask, past_key_values=cache, use_cache=True
    ).last_hidden_state  # positions shared onwards
    return base.get_output_embeddings()(hidden[:, :-1][scored[:, shared:]]).float()


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
        encoded.sort(key=lambda pair: len(pair[0]))  # a batch is as wide as its longest chat
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
        import torch.nn.functional as F

        from training.base import cpu_precision

        total = 0.0
        device = next(model.parameters()).device
        with torch.no_grad(), cpu_precision():
            for input_ids, attention, scored in self.batches:
                input_ids, wanted = input_ids.to(device), scored[:, 1:].to(device)
                logits = answer_logits(model, input_ids, attention.to(device), wanted)
                total -= float(F.cross_entropy(logits, input_ids[:, 1:][wanted], reduction="sum"))
        return total / self.tokens


class Recall:
    """Accuracy, not likelihood: each chat's question answered greedily by the model, scored
    by how much of the reference answer's key words the answer holds. Key words are the
    answer's search terms (society/text/keywords.py: no stop words, Japanese bigrams) that
    the question does not already say, weighted by rarity across the set (IDF), so the fact
    in "Riko's favourite dish is curry." counts and the phrasing every answer shares hardly.
    A row that names its `key` (and `ja_key`) scores 1 when the answer says it, else 0:
    scored by the reference's other words too, a child that answered general questions right
    in fewer words ("A week has 7 days, Ken.") fell from the base's 68 % to 42 % while it
    answered 15 of its 20 and 18 of a second set's 30 (the base: 17 and 17).

    Likelihood of the reference measures phrasing: an adapter that answers every taught fact
    in its own words scored worse than one that knew a third of them. Sakana's evolutionary
    merge also scored children by task accuracy.

    Answers stop at `max_new_tokens` (24): a reference's key words come early, and every
    step of the longest answer is a step for the whole batch."""

    def __init__(self, tokenizer, rows: list[dict[str, Any]], batch_size: int = 16, max_new_tokens: int = 24):
        from society.text.keywords import query_terms

        self.tokenizer, self.batch_size = tokenizer, batch_size
        items = []
        for row in rows:
            messages = row["messages"]
            asked = set(query_terms(" ".join(m["content"] for m in messages[:-1])))
            # The one thing a right answer says, in either language; else the reference's key words.
            key = "|".join(filter(None, (row.get("key"), row.get("ja_key")))) or None
            keys = [] if key else [term for term in query_terms(messages[-1]["content"]) if term not in asked]
            if keys or key:
                prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
                ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
                length = len(tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"])
                budget = min(max_new_tokens, length + 4)
                items.append((ids, keys, key, budget, f"{budget}\t{prompt}"))
        if not items:
            raise ValueError("no chat whose answer says something its question does not")
        # Every prompt starts with the same system prompt and chat markup (26 of 37 tokens
        # here): it is run once per scoring and its cache shared by the whole batch.
        prompts = [ids for ids, *_ in items]
        shared = min(len(os.path.commonprefix(prompts)), min(map(len, prompts)) - 1)  # each keeps a token
        self.prefix = prompts[0][:shared]
        documents = [set(keys) for _, keys, *_ in items]
        items.sort(key=lambda item: item[3])  # similar lengths batched together
        self.items = [
            (ids[shared:], {k: math.log(1 + len(documents) / sum(k in d for d in documents)) for k in keys}, budget)
            for ids, keys, _, budget, _ in items
        ]
        self.answer_keys = [key for _, _, key, _, _ in items]  # a row's `key`, else None
        self.keys = [known for *_, known in items]  # what an answer is known by: its prompt and length

    def answers(self, model, known: dict[str, str] | None = None) -> list[str]:
        """Greedy answers, in the order of `self.items`. Each row is the shared prefix, left
        padding, then its own question: positions follow the attention mask, so a question
        sits right after the prefix whatever the padding.

        `known`: answers this model gave before, by prompt (training/replay.py
        `BaseAnswers`); only the others are generated, and added to it."""
        if known is not None:
            missing = [i for i, key in enumerate(self.keys) if key not in known]
            if missing:
                new = self._generate(model, [self.items[i] for i in missing])
                known.update((self.keys[i], answer) for i, answer in zip(missing, new, strict=True))
            return [known[key] for key in self.keys]
        return self._generate(model, self.items)

    def _generate(self, model, items: list) -> list[str]:
        import copy

        import torch

        from training.base import cpu_precision

        tokenizer = self.tokenizer
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        device = next(model.parameters()).device
        found = []
        with torch.no_grad(), cpu_precision():
            prefix_cache = None
            if self.prefix:
                prefix = torch.tensor([self.prefix], device=device)
                prefix_cache = model(input_ids=prefix, use_cache=True).past_key_values
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                width = max(len(ids) for ids, _, _ in chunk)
                rows = [self.prefix + [pad] * (width - len(ids)) + ids for ids, _, _ in chunk]
                mask = [[1] * len(self.prefix) + [0] * (width - len(ids)) + [1] * len(ids) for ids, _, _ in chunk]
                shared = {}
                if prefix_cache is not None:
                    shared["past_key_values"] = copy.deepcopy(prefix_cache)
                    shared["past_key_values"].batch_repeat_interleave(len(chunk))
                out = model.generate(
                    input_ids=torch.tensor(rows, device=device),
                    attention_mask=torch.tensor(mask, device=device),
                    max_new_tokens=max(b for _, _, b in chunk),
                    do_sample=False,
                    pad_token_id=pad,
                    **shared,
                )
                found += [tokenizer.decode(row[len(rows[0]) :], skip_special_tokens=True) for row in out]
        return found

    def score(self, model, known: dict[str, str] | None = None) -> float:
        """Mean share of key-word weight found in the answers (0 to 1, higher is better)."""
        from society.text.keywords import query_terms

        total = 0.0
        answers = self.answers(model, known)
        for (_, weights, _), key, answer in zip(self.items, self.answer_keys, answers, strict=True):
            if key is not None:
                total += says(key, answer)
                continue
            said = set(query_terms(answer))
            total += sum(w for k, w in weights.items() if k in said) / sum(weights.values())
        return total / len(self.items)


def says(key: str, reply: str) -> bool:
    """One of `key`'s words ("|") in `reply`: an English one as a whole word (a plural too),
    a Japanese one anywhere."""
    words = key.split("|")
    lowered = reply.lower()
    bounded = (rf"(?<![a-z0-9]){re.escape(word.lower())}(?:e?s)?(?![a-z0-9])" for word in words if word.isascii())
    return any(re.search(pattern, lowered) for pattern in bounded) or any(
        word in reply for word in words if not word.isascii()
    )
