"""One learning cycle: the data curator's examples -> LoRA adapters on slices of them ->
evolution -> deployment when the child wins. Started by `society learn`, or by itself every
`every_interactions` turns (society/conversation.py), in the background."""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from society.errors import LearningError
from society.memory.wish_verdicts import record as record_verdict
from society.memory.wishes import Wish
from training.retention import general_chats, retention_rows, with_retention
from training.settings import LearningSettings, load_settings


def split(rows: list[dict[str, Any]], slices: int, seed: int) -> tuple[list[list[dict]], list[dict]]:
    """(training slices, held-out rows) for rows that bring no questions of their own to
    check with: a seeded shuffle, a fifth held out (at least 1) when there are enough rows to
    spare, the rest dealt round-robin so each slice holds different examples. With fewer rows
    than slices, every slice gets all of them, and they are also what is checked."""
    if not rows:
        raise LearningError("no examples to learn from yet: tell the society about yourself, or add examples")
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    if len(shuffled) < 2 * slices + 1:
        return [shuffled[i::slices] or shuffled for i in range(slices)], shuffled
    held = max(1, len(shuffled) // 5)
    rest = shuffled[held:]
    return [rest[i::slices] for i in range(slices)], shuffled[:held]


def deal(rows: list[dict[str, Any]], slices: int, seed: int) -> list[list[dict]]:
    """Every row in one slice (a seeded shuffle dealt round-robin); all rows to each slice
    when there are fewer rows than slices."""
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    return [shuffled[i::slices] or shuffled for i in range(slices)]


def curated_data(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Wish]]:
    """(rows to train on, rows to check with, the standing wishes): the curator's examples
    from what the user said, corrected and asked for (every one trained), the examples the
    data curator and the user added, and as check each fact's wording kept out of training.
    Answers the rewards labelled are left to KTO: they are the model's own words, mostly
    chit-chat."""
    from training.curate import Curator
    from training.datasets import Examples
    from training.export import rows as export_rows

    examples = Examples()
    wishes = Curator(examples=examples).curate().standing
    # The wishes' own chats are made by the cycle, for the wishes it teaches (wish_gate.py).
    active = [e for e in examples.all_active() if e.created_by != "reward" and not (e.topic or "").startswith("wish:")]
    checks = [
        {"messages": e.prompt + [{"role": "assistant", "content": e.completion}]} for e in active if e.kind == "eval"
    ]
    return export_rows(active, "sft"), checks, wishes


def _chat(question: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def ollama_urls() -> list[str]:
    """The Ollama servers on the model list (the local one when none is named)."""
    import os

    from society.models.backends.ollama.api import parse_host
    from society.models.config import load_entries

    urls = [e.base_url for e in load_entries() if e.kind.reports_loaded and e.base_url]
    return urls or [parse_host(os.environ.get("OLLAMA_HOST"))]


@dataclass
class CycleReport:
    adapters: list[str]
    evolution: Any
    deployed: str | None
    seconds: float


def learn(
    rows: list[dict[str, Any]] | None = None,
    heldout: list[dict[str, Any]] | None = None,
    settings: LearningSettings | None = None,
    progress: bool = True,
    deploy_winner: bool = True,
    slices: list[list[dict[str, Any]]] | None = None,
) -> CycleReport:
    """Train `adapters_per_cycle` adapters on slices of the SFT examples (or `rows`, or the
    given `slices` with `heldout`), each with general chats mixed in, evolve them and deploy
    the child if it is as good as its parents and beats the current model."""
    from society.models.machine.gpu_claim import claim_gpu
    from training.anchor import anchor_for
    from training.base import load_base, plan_training
    from training.breeder import evolve
    from training.curate import wish_rows
    from training.deploy import adapters_dir, deploy
    from training.lineage import Lineage
    from training.lora import sized, train_adapter
    from training.replay import BaseAnswers, replayed
    from training.target import current_target
    from training.wish_gate import taught_wishes

    started = time.perf_counter()

    def timed(what: str) -> None:
        """A line of learning.log with the seconds since the cycle started: where its time goes."""
        if progress:
            print(f"[{time.perf_counter() - started:5.0f} s] {what}", flush=True)

    settings = settings or load_settings()
    wishes: dict[str, Wish] = {}
    curated = slices is None and rows is None  # sliced once the model says which wishes it can learn
    if curated:
        rows, checks, wishes = curated_data(settings.seed)
        if not rows and not wishes:
            raise LearningError("no examples to learn from yet: tell the society about yourself, or add examples")
    elif slices is None:
        slices, held = split(rows, settings.adapters_per_cycle, settings.seed)
        heldout = heldout or held
    elif not heldout:
        raise LearningError("given slices need held-out rows to compare the adapters on")
    lineage = Lineage()
    target = current_target(settings.hf_base)  # the model the user talks to
    if target.missing:
        raise LearningError(target.line())
    settings = settings.model_copy(update={"hf_base": target.hf_base, "ollama_model": target.ollama_model})
    if progress:
        print(target.line(), flush=True)
    with ExitStack() as gpu:
        if settings.hf_base is not None:  # QLoRA: the GPU is taken from the chat until trained
            unloaded = gpu.enter_context(claim_gpu("learning", ollama_urls()))
            planned = plan_training(settings.hf_base, settings.rank, settings.max_length)  # after unloading
            setup = planned.setup
            settings = settings.model_copy(
                update={
                    "rank": setup.rank,
                    "alpha": 2 * setup.rank,
                    "max_length": setup.sequence,
                    "batch_size": setup.batch,
                    # The anchor's chats ride beside each batch: no more of them than it holds.
                    "anchor_batch": min(settings.anchor_batch, setup.batch),
                    "scorer_batch": planned.scorer_batch,
                }
            )
            if progress:
                print(f"Ollama unloaded: {', '.join(unloaded) or 'nothing was loaded'}", flush=True)
                print("\n".join(planned.lines()), flush=True)
            base = load_base(settings.hf_base, setup)
        else:
            base = load_base(None)
        timed("base model loaded")
        settings = sized(settings, base[0])
        base_answers = BaseAnswers(base[2])
        if progress:
            print(
                f"training at rate {settings.learning_rate:.2g} (heal {settings.heal_learning_rate:.2g}),"
                f" {settings.epochs:g} passes over the examples",
                flush=True,
            )
        if curated:
            made = wishes
            wishes, left = taught_wishes(*base[:2], wishes, settings.retention_tolerance, base_answers)
            if "language" in made:  # what the conversation puts in this model's prompt
                record_verdict(target.chat_model, made["language"], left)
            if left and progress:
                print(f"the wish for {made['language'].value} is neither taught nor prompted: {left}", flush=True)
            base_answers.save()
            timed("the wishes' language measured")
            rows = rows + [_chat(question, answer) for question, answer in wish_rows(wishes)]
            if checks:  # every example trained; the kept-out wordings check what was learnt
                slices, heldout = deal(rows, settings.adapters_per_cycle, settings.seed), heldout or checks
            else:
                slices, held = split(rows, settings.adapters_per_cycle, settings.seed)
                heldout = heldout or held
        replay = []  # the base model's own answers, before any adapter is put on it
        if settings.retention_share > 0 or settings.anchor_weight > 0:
            replay = replayed(*base[:2], wishes=wishes, base_name=base[2])
        timed(f"the base model answered {len(replay)} general questions to hold the training to")
        general = general_chats(replay, wishes)
        anchor = anchor_for(*base[:2], general, settings)  # the base's, before any adapter: for the whole cycle
        timed("the anchor computed (the base's next-token probabilities)" if anchor else "no anchor")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        names, taught = [], []
        for i, chunk in enumerate(slices):
            mixed = with_retention(chunk, settings.retention_share, settings.seed + i, general)
            taught += mixed
            # No eval rows: evolution scores every parent on the held-out rows anyway.
            trained = train_adapter(f"{stamp}-s{i}", mixed, [], adapters_dir(), settings, base=base, anchor=anchor)
            lineage.add_adapter(trained.name, "trained", trained.meta["base"], trained.path)
            names.append(trained.name)
            timed(f"adapter {trained.name} trained on {len(mixed)} chats")
        evolution = evolve(
            names, heldout, retention_rows(wishes), settings, adapters_dir(), lineage, base, progress, taught,
            base_answers, anchor,
        )  # fmt: skip
        base_answers.save()  # for the next cycle: the base's answers to this one's questions
        timed(f"evolved: {evolution.evaluations} children scored")
    deployed = None
    if evolution.deployed and deploy_winner:
        deploy(evolution.winner, f"run {evolution.run}: {evolution.why}", lineage, settings)
        deployed = evolution.winner
        timed(f"deployed {deployed}")
    return CycleReport(names, evolution, deployed, time.perf_counter() - started)
