"""The evolution breeder: Evolutionary Model Merge (Akiba et al. 2024) in parameter space.

CMA-ES (the `cma` package, ask/tell) searches genomes, a weight and a density per parent per
layer group, over a pool of same-base LoRA adapters. Each genome becomes a child through
PEFT (training/merge.py) and is scored, as Sakana scored theirs, by task accuracy: the
child answers the held-out questions and the answers are checked for the reference's key
words (training/fitness.py Recall), less a penalty when its answers to general questions
(the retention set) fall by more than the tolerance. Every individual is stored; the best
child is kept as an adapter; the run's best (the child when it is at least as good as its
best parent, else that parent) is deployed only if it beats the current model and keeps
general chat. Log-likelihoods are computed for the base, the parents and the child, for
reports.

Merge, then heal: a merge of adapters that each learned half of the user's facts keeps most
of both halves but not all (measured: 11/12 and 5/12 of two parents' 12/12 and 8/12), so the
chosen child then trains a few steps on all its parents' examples (`heal_steps`). The merged
child is kept beside it (`runN-merge`) and whichever of the two scores better is the child.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from society.errors import LearningError
from training.lineage import Lineage
from training.merge import Gene, breed, decode, encode
from training.settings import LearningSettings

SIGMA0 = 1 / 6
RETENTION_PENALTY = 2.0
CANDIDATE = "candidate"
ANSWER_BATCH = 48  # questions answered at once on the CPU (fewer, larger batches: fewer decoding steps)


@dataclass
class Scores:
    recall: float  # share of the held-out answers' key words the model's own answers hold
    retention_recall: float | None  # the same on the retention set (general chat); None: not needed
    fitness: float
    # Log-likelihood per token of the held-out reference answers, for reports (that of the
    # retention set is no longer computed: the recall there is what guards general chat).
    heldout: float | None = None

    def columns(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in ("heldout", "recall", "retention_recall", "fitness")}


@dataclass
class Evolution:
    run: int
    child: str | None
    child_scores: Scores | None
    base: Scores
    parents: dict[str, Scores]
    current: Scores
    deployed: bool
    why: str
    evaluations: int
    seconds: float
    history: list[float] = field(default_factory=list)  # best fitness after each generation
    merged: str | None = None  # the merge before healing, when the child was healed
    merged_scores: Scores | None = None
    winner: str | None = None  # what is deployed when `deployed`: the child, or a parent that beat it


def fitness_of(recall: float, retention: float, base_retention: float, tolerance: float) -> float:
    """Held-out recall, less a penalty when general chat falls by more than `tolerance`."""
    return recall - RETENTION_PENALTY * max(0.0, base_retention - retention - tolerance)


def minimize(objective, dimensions: int, x0: np.ndarray, settings: LearningSettings, on_generation=None):
    """CMA-ES over [0, 1]^dimensions, at most `settings.evaluations` evaluations; returns
    (best x, best value) of what it evaluated. `objective(x, generation)` is minimised."""
    import cma

    strategy = cma.CMAEvolutionStrategy(
        list(x0),
        SIGMA0,
        {"bounds": [0, 1], "popsize": settings.population, "seed": settings.seed + 1, "verbose": -9},
    )
    best_x, best_value, spent, generation = np.array(x0), float("inf"), 0, 0
    while spent < settings.evaluations and not strategy.stop():
        candidates = strategy.ask()[: settings.evaluations - spent]
        values = [objective(np.asarray(x), generation) for x in candidates]
        spent += len(candidates)
        for x, value in zip(candidates, values, strict=True):
            if value < best_value:
                best_x, best_value = np.asarray(x), value
        if len(candidates) == settings.population:
            strategy.tell(candidates, values)
        generation += 1
        if on_generation:
            on_generation(generation, best_value)
    return best_x, best_value


def _save_adapter(peft_model, adapter: str, target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        peft_model.save_pretrained(scratch, selected_adapters=[adapter])
        saved = next(Path(scratch).rglob("adapter_config.json")).parent
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(saved, target)


def evolve(
    parents: list[str],
    heldout_rows: list[dict[str, Any]],
    retention_rows: list[dict[str, Any]],
    settings: LearningSettings,
    folder: Path,
    lineage: Lineage | None = None,
    base=None,
    progress: bool = True,
    heal_rows: list[dict[str, Any]] | None = None,
    base_answers: dict[str, str] | None = None,
    anchor=None,
) -> Evolution:
    """Evolve a child of `parents`; with `heal_rows` (what the parents trained on, together)
    and `settings.heal_steps`, the chosen merge then trains on them, held near the base by
    the parents' `anchor` (training/anchor.py). `base_answers`: the base model's
    answers given before (training/replay.py `BaseAnswers`), for its scores."""
    from peft import PeftModel
    from tqdm import tqdm

    from training.base import load_base
    from training.fitness import Recall, Scorer

    lineage = lineage or Lineage()
    if len(parents) < 2:
        raise LearningError("evolution needs at least 2 parent adapters; train some with `society learn`")
    found = {name: lineage.adapter(name) for name in parents}
    missing = [name for name, adapter in found.items() if adapter is None]
    if missing:
        raise LearningError(f"no adapter named {', '.join(missing)}; see `society lineage`")
    started = time.perf_counter()
    model, tokenizer, base_name = base or load_base(settings.hf_base)
    peft_model = PeftModel.from_pretrained(model, found[parents[0]].path, adapter_name=parents[0])
    try:
        for name in parents[1:]:
            peft_model.load_adapter(found[name].path, adapter_name=name)
        # Generating keeps only the next token's logits: batches larger than the scorer's,
        # except on a GPU whose memory plan set the scorer's batch.
        answer_batch = settings.scorer_batch if settings.hf_base is not None else ANSWER_BATCH
        heldout = Recall(tokenizer, heldout_rows, answer_batch)
        retention = Recall(tokenizer, retention_rows, answer_batch)
        heldout_ll = Scorer(tokenizer, heldout_rows, settings.max_length, settings.scorer_batch)
        tolerance = settings.retention_tolerance

        def measure(model, base_retention=None, likelihood=True, to_beat=-float("inf"), known=None) -> Scores:
            h = heldout.score(model, known)
            if h <= to_beat:
                # The retention penalty can only lower the fitness: a child that cannot become
                # the best needs no check of its general chat (most of them; half the cost).
                return Scores(h, None, h)
            r = retention.score(model, known)
            scores = Scores(h, r, fitness_of(h, r, r if base_retention is None else base_retention, tolerance))
            if likelihood:
                scores.heldout = heldout_ll.score(model)
            return scores

        with peft_model.disable_adapter():
            base_scores = measure(peft_model, known=base_answers)
        base_r = base_scores.retention_recall

        def scores_of(adapter: str, likelihood: bool = True, to_beat: float = -float("inf")) -> Scores:
            peft_model.set_adapter(adapter)
            if settings.hf_base is not None:  # 4-bit weights: merging in and out would round them each time
                return measure(peft_model, base_r, likelihood, to_beat)
            # Merged into the weights while it answers: a third faster than PEFT's side path.
            peft_model.merge_adapter([adapter])
            try:
                return measure(peft_model, base_r, likelihood, to_beat)
            finally:
                peft_model.unmerge_adapter()

        def timed(what: str) -> None:  # learning.log: where the evolution's time goes
            if progress:
                print(f"  evolution: {what} after {time.perf_counter() - started:.0f} s", flush=True)

        parent_scores = {name: scores_of(name) for name in parents}
        timed("the base and the parents scored")
        for name, scores in parent_scores.items():
            lineage.score(name, **scores.columns())
        current = lineage.current(settings.ollama_model if settings.hf_base else None)  # this base's
        current_scores = base_scores
        if current is not None and current.adapter:
            if current.adapter in parent_scores:
                current_scores = parent_scores[current.adapter]
            elif (deployed := lineage.adapter(current.adapter)) is not None and Path(deployed.path).exists():
                peft_model.load_adapter(deployed.path, adapter_name="deployed")
                current_scores = scores_of("deployed")
                peft_model.delete_adapter("deployed")

        run = lineage.next_run()
        groups, count = settings.layer_groups, len(parents)
        # Start at the middle of the weights (0.75 each) with nearly no DARE thinning:
        # dropping entries of a small LoRA's A and B hurts more than it does full deltas.
        x0 = np.clip(encode([[Gene(0.75, 1.0) for _ in parents] for _ in range(groups)]), 0.0, 0.98)
        best = {"fitness": -float("inf"), "x": None, "scores": None, "seed": 0}
        spent = [0]  # evaluations so far (a disabled progress bar does not count)
        bar = tqdm(total=settings.evaluations, desc="evolving", disable=not progress)
        history: list[float] = []

        def objective(x: np.ndarray, generation: int) -> float:
            genome, seed = decode(x, groups, count), settings.seed + spent[0]
            spent[0] += 1
            breed(peft_model, parents, genome, CANDIDATE, seed=seed)
            # Generating answers is the cost: the likelihoods are left to the chosen child.
            scores = scores_of(CANDIDATE, likelihood=False, to_beat=best["fitness"])
            plain = [[[g.weight, g.density] for g in row] for row in genome]
            lineage.record_individual(run, generation, parents, plain, **scores.columns())
            if scores.fitness > best["fitness"]:
                best.update(fitness=scores.fitness, x=x, scores=scores, seed=seed)
            bar.update(1)
            bar.set_postfix(best=f"{best['fitness']:.4f}")
            return -scores.fitness

        minimize(objective, groups * count * 2, x0, settings, lambda g, v: history.append(-v))
        evaluations = spent[0]
        bar.close()
        timed(f"{evaluations} children scored")
        # A genome and its DARE seed make one child: rebuild the best once and save it.
        child_name = f"run{run}-child"
        breed(peft_model, parents, decode(best["x"], groups, count), CANDIDATE, seed=best["seed"])
        merged_scores: Scores = best["scores"]
        child_scores, merged_name, healed = merged_scores, None, 0
        if heal_rows and settings.heal_steps:
            merged_name = f"run{run}-merge"
            _save_adapter(peft_model, CANDIDATE, folder / merged_name)
            healed = _heal(peft_model, tokenizer, heal_rows, settings, folder, anchor)
            peft_model.eval()  # the trainer left it in training mode
            peft_model.set_adapter(CANDIDATE)
            timed(f"healed {healed} steps")
            healed_scores = scores_of(CANDIDATE)
            timed("the healed child scored")
            if healed_scores.fitness >= merged_scores.fitness:
                child_scores = healed_scores
            else:  # the heal did harm: the merge is the child
                breed(peft_model, parents, decode(best["x"], groups, count), CANDIDATE, seed=best["seed"])
                healed = 0
        if child_scores.heldout is None:  # the merge is the child: its likelihoods, for reports
            peft_model.set_adapter(CANDIDATE)
            child_scores.heldout = heldout_ll.score(peft_model)
        _save_adapter(peft_model, CANDIDATE, folder / child_name)
    finally:
        peft_model.unload()

    generation = 1 + max(found[name].generation for name in parents)
    genome = [[[g.weight, g.density] for g in row] for row in decode(best["x"], groups, count)]
    method = "merge (cat, DARE per parent)"
    if merged_name is not None:
        lineage.add_adapter(
            merged_name, "merged", base_name, folder / merged_name, parents, genome, generation,
            **merged_scores.columns(),
        )  # fmt: skip
        method += f", healed {healed} steps" if healed else ", not healed (the heal scored lower)"
    meta = {
        "name": child_name,
        "base": base_name,
        "method": method,
        "parents": parents,
        "genome": genome,
        "run": run,
        "generation": generation,
        **child_scores.columns(),
    }
    child_path = folder / child_name
    (child_path / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    lineage.add_adapter(
        child_name,
        "healed" if merged_name is not None and healed else "merged",
        base_name,
        child_path,
        parents,
        genome,
        generation,
        **child_scores.columns(),
    )
    best_name = max(parent_scores, key=lambda name: parent_scores[name].fitness)
    best_parent = parent_scores[best_name].fitness
    # The run's best is deployed when it beats the current model: the child when it is at
    # least as good as its best parent (when a parent already answers every kept-out
    # wording the child could never be better, and a cycle that taught every fact deployed
    # nothing), else that parent (a merge that costs general chat more than it adds loses to
    # a parent that kept it: measured 0.771 against 0.775 with 20 facts, chat 25 % vs 35 %).
    winner, won = (
        (child_name, child_scores) if child_scores.fitness >= best_parent else (best_name, parent_scores[best_name])
    )
    retention_ok = won.retention_recall is not None and won.retention_recall >= base_r - tolerance
    deployable = won.fitness > current_scores.fitness and retention_ok
    why = (
        f"child {child_scores.fitness:.3f} vs best parent {best_parent:.3f}, current {current_scores.fitness:.3f};"
        f" general chat {child_scores.retention_recall:.0%} (base {base_r:.0%})"
        + (f"; the parent {best_name} wins" if winner != child_name else "")
    )
    return Evolution(
        run,
        child_name,
        child_scores,
        base_scores,
        parent_scores,
        current_scores,
        deployable,
        why,
        evaluations,
        time.perf_counter() - started,
        history,
        merged_name,
        merged_scores if merged_name is not None else None,
        winner,
    )


def _heal(
    peft_model, tokenizer, rows: list[dict[str, Any]], settings: LearningSettings, folder: Path, anchor=None
) -> int:
    """Train the active adapter (the chosen merge) `settings.heal_steps` steps on `rows`, at
    `heal_learning_rate`, held near the base by `anchor`; returns the steps."""
    from training.lora import sft

    gentle = settings.model_copy(update={"learning_rate": settings.heal_learning_rate})
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        sft(peft_model, tokenizer, rows, gentle, Path(scratch), steps=settings.heal_steps, anchor=anchor)
    return settings.heal_steps
