"""Learning and the evolution breeder: LoRA training, merging, CMA-ES, GGUF export into
llama.cpp, lineage, deployment and rollback, and that failed training changes nothing."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, society
from training.breeder import minimize
from training.lineage import Lineage
from training.settings import LearningSettings


def chat(question, answer):
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


ROWS = [chat(f"What is the secret word number {i}?", f"The secret word number {i} is plum{i}.") for i in range(12)]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from tests.conftest import EMBEDDED
    from training.base import load_base

    # Made before the per-test model list: point it at the tests' embedded model (SmolLM2).
    config = tmp_path_factory.mktemp("models") / "models.json"
    config.write_text(json.dumps([EMBEDDED]))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOCIETY_CONFIG", str(config))
        return load_base()


def random_adapter(base, folder, name, seed):
    """A LoRA whose B is not zero (init_lora_weights=False), so it changes the model."""
    import torch
    from peft import get_peft_model

    from training.lora import lora_config

    torch.manual_seed(seed)
    config = lora_config(LearningSettings(rank=4, alpha=8), base[0].config.num_hidden_layers)
    config.init_lora_weights = False
    model = get_peft_model(base[0], config)
    model.save_pretrained(folder / name)
    model.unload()
    return folder / name


def test_cma_es_finds_the_optimum_of_a_known_fitness():
    target = np.array([0.2, 0.7, 0.4, 0.9])
    seen = []

    def objective(x, generation):
        seen.append(generation)
        return float(np.sum((x - target) ** 2))

    best, value = minimize(objective, 4, np.full(4, 0.5), LearningSettings(population=12, evaluations=240))
    start = float(np.sum((0.5 - target) ** 2))
    assert value < start / 100 and np.allclose(best, target, atol=0.05)
    assert len(seen) == 240 and max(seen) == 19


def test_the_lineage_is_persisted_and_drawn(tmp_path):
    from society.storage.store import Store

    lineage = Lineage()
    lineage.add_adapter("a", "trained", "base", tmp_path / "a", fitness=-1.0)
    lineage.add_adapter("b", "trained", "base", tmp_path / "b", fitness=-0.9)
    lineage.record_individual(
        1, 0, ["a", "b"], [[[1.0, 1.0], [0.5, 0.9]]], recall=0.4, retention_recall=0.5, fitness=0.4
    )
    lineage.add_adapter(
        "run1-child", "merged", "base", tmp_path / "c", ["a", "b"], [[[1, 1], [0.5, 0.9]]], 1, fitness=-0.8
    )
    again = Lineage(Store())  # a new reader of the same database
    child = again.adapter("run1-child")
    assert child.parents == ["a", "b"] and child.generation == 1 and child.fitness == -0.8
    individual = again.individuals(1)[0]
    assert individual["genome"] == [[[1.0, 1.0], [0.5, 0.9]]] and individual["retention_recall"] == 0.5
    shown = society("lineage", "--plot", str(tmp_path / "tree.png"), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "run1-child" in shown.stdout and "<- a x b" in shown.stdout
    assert (tmp_path / "tree.png").read_bytes()[:4] == b"\x89PNG"


def test_rollback_returns_to_the_previous_generation(tmp_path):
    from society.storage.store import Store
    from training.deploy import rollback

    lineage = Lineage()
    for name in ("gen1", "gen2"):
        gguf = tmp_path / f"{name}.gguf"
        gguf.write_bytes(b"GGUF")
        lineage.deploy(name, str(gguf), None, "test")
    assert rollback(lineage) == "gen1" and lineage.current().adapter == "gen1"
    assert rollback(lineage) == "gen2"  # the one before gen1's redeployment
    with pytest.raises(ValueError, match="nothing is deployed"):
        rollback(Lineage(Store(tmp_path / "empty.db")))


@pytest.mark.slow
def test_a_lora_trains_on_the_cpu_and_its_loss_falls(base, tmp_path):
    from training.lora import train_adapter

    trained = train_adapter("t", ROWS, ROWS[:2], tmp_path, LearningSettings(steps=10), base=base)
    losses = trained.meta["losses"]
    assert len(losses) == 2 and losses[-1] < losses[0]
    assert trained.meta["base"].startswith("embedded:") and trained.meta["peft_config"]["r"] == 16
    assert trained.meta["data"]["train_rows"] == 12 and trained.meta["eval_loss"] > 0
    assert (tmp_path / "t" / "adapter_model.safetensors").exists() and not (tmp_path / "t.partial").exists()


def test_the_answer_loss_and_scorer_match_the_models_own_loss_over_the_answer_tokens(base, monkeypatch):
    """The loss applies the output head at the answer's tokens only (a third of a CPU step
    was the head over prompt positions); it must be the same number the model's own
    cross-entropy gives with the prompt masked out, and the scorer its negative (both in
    float32 here: on a CPU with native bfloat16 the scorer computes in it, 2e-4 apart)."""
    import torch

    monkeypatch.setattr("training.base.cpu_bf16", lambda: False)

    from training.fitness import Scorer
    from training.lora import answer_loss

    model, tokenizer, _ = base
    rows = ROWS[:3]
    scorer = Scorer(tokenizer, rows, batch_size=3)
    ((input_ids, attention, scored),) = scorer.batches
    labels = input_ids.masked_fill(~scored, -100)
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        ours = answer_loss(model, {"input_ids": input_ids, "attention_mask": attention, "labels": labels})
    assert torch.allclose(ours, expected, atol=1e-4)
    assert abs(scorer.score(model) + float(expected)) < 1e-4


GENERAL = [
    chat("What is the capital of France?", "The capital of France is Paris."),
    chat("What do bees make?", "Bees make honey."),
    chat("What colour is grass?", "Grass is green."),
]


def test_the_anchor_measures_drift_from_the_base_even_under_an_adapter(base, tmp_path):
    """The anchor's KL is 0 for the base itself, positive for a model an adapter changed, and
    its targets are the base's also when made with the adapter on (disable_adapter)."""
    from peft import PeftModel

    from training.anchor import Anchor

    model, tokenizer, _ = base
    anchor = Anchor(model, tokenizer, GENERAL, 256, 2, 0)  # made in one batch, kept as two
    assert [len(batch[0]) for batch in sorted(anchor.batches, key=lambda batch: len(batch[0]))] == [1, 2]
    assert all(abs(anchor.loss(model).item()) < 1e-4 for _ in anchor.batches)  # each row's own targets
    changed = PeftModel.from_pretrained(model, str(random_adapter(base, tmp_path, "r", 1)))
    try:
        with changed.disable_adapter():
            anchor = Anchor(changed, tokenizer, GENERAL, 256, 8, 0)
        assert anchor.loss(changed).item() > 0.01
        with changed.disable_adapter():
            assert abs(anchor.loss(changed).item()) < 1e-4
    finally:
        changed.unload()


@pytest.mark.slow
def test_training_with_the_anchor_stays_nearer_the_base_on_general_chat(base, tmp_path):
    """The same steps on the same facts, with and without the anchor: with it, the model
    drifted less from the base on the general chats."""
    from peft import PeftModel

    from training.anchor import Anchor, anchor_for
    from training.lora import train_adapter

    model, tokenizer, _ = base
    probe = Anchor(model, tokenizer, GENERAL, 256, 8, 0)
    drift = {}
    for weight in (0.0, 4.0):
        settings = LearningSettings(steps=8, learning_rate=4e-3, anchor_weight=weight, anchor_batch=2)
        anchor = anchor_for(model, tokenizer, GENERAL, settings)
        assert (anchor is None) == (weight == 0)
        trained = train_adapter(f"w{weight}", ROWS, [], tmp_path, settings, base=base, anchor=anchor)
        tuned = PeftModel.from_pretrained(model, str(trained.path))
        drift[weight] = probe.loss(tuned).item()
        tuned.unload()
    assert drift[4.0] < drift[0.0] * 0.8, drift


def test_a_key_is_said_as_a_whole_word_in_english_and_anywhere_in_japanese():
    from training.fitness import says

    assert says("tokyo|東京", "The capital is Tokyo.") and says("tokyo|東京", "首都は東京です。")
    assert says("leg", "A cat has four legs.") and not says("cat", "Concatenate them.")
    assert not says("seven|7", "It has 17 days.") and says("seven|7", "7 days")
    assert not says("kyoto|京都", "")


def test_recall_scores_the_answers_key_words_not_their_phrasing(base):
    """The base model's own greedy answers as references score 1; facts it cannot know score
    0; a reference word the question already says, or a stop word, is not a key word; a word
    every reference shares weighs less than the one that tells them apart."""
    from training.fitness import Recall

    model, tokenizer, _ = base
    questions = ["What is the capital of France?", "What do bees make?", "What colour is grass?"]
    own = Recall(tokenizer, [chat(q, "x") for q in questions]).answers(model)
    assert Recall(tokenizer, [chat(q, a) for q, a in zip(questions, own, strict=True)]).score(model) == 1.0
    assert Recall(tokenizer, ROWS[:3]).score(model) == 0.0
    weighed = Recall(tokenizer, [chat(f"Tell me secret {i}.", f"The secret {i} is word plum{i}.") for i in range(4)])
    weights = weighed.items[0][1]
    assert set(weights) == {"word", "plum0"}  # "the", "is" stop words; "secret", "0" said in the question
    assert weights["plum0"] > weights["word"]
    with pytest.raises(ValueError, match="says something its question does not"):
        Recall(tokenizer, [chat("Say hello", "Hello!")])
    # A row with a key is right when its answer says the key, whatever else the reference says.
    keyed = [
        {**chat(questions[0], "France's capital city, on the Seine, is Paris."), "key": "paris", "ja_key": "パリ"},
        {**chat(questions[1], "Honey."), "key": "zanzibar"},
    ]
    assert Recall(tokenizer, keyed).score(model) == 0.5
    from training.replay import BaseAnswers

    known = BaseAnswers("embedded:test")  # the base's answers, by prompt, kept for the next cycle
    graded = Recall(tokenizer, [chat(q, a) for q, a in zip(questions, own, strict=True)])
    assert graded.score(model, known) == 1.0 and len(known) == len(graded.items)
    known.save()
    assert graded.score(object(), BaseAnswers("embedded:test")) == 1.0  # not asked again: a model that fails if used


@pytest.mark.slow
def test_a_merge_with_weight_one_on_one_parent_reproduces_it(base, tmp_path):
    import torch
    from peft import PeftModel

    from training.merge import Gene, breed

    first = random_adapter(base, tmp_path, "first", 1)
    second = random_adapter(base, tmp_path, "second", 2)
    model = PeftModel.from_pretrained(base[0], first, adapter_name="first")
    model.load_adapter(second, adapter_name="second")
    ids = base[1]("The secret word is", return_tensors="pt")["input_ids"]

    def logits(adapter):
        model.set_adapter(adapter)
        with torch.no_grad():
            return model(input_ids=ids).logits

    try:
        breed(model, ["first", "second"], [[Gene(1.0, 1.0), Gene(0.0, 1.0)]] * 3, "child")
        assert torch.allclose(logits("child"), logits("first"), atol=1e-3)
        assert not torch.allclose(logits("first"), logits("second"), atol=1e-2)
        # Refilling the same child name works (PEFT would silently keep a reused name).
        breed(model, ["first", "second"], [[Gene(0.0, 1.0), Gene(1.0, 1.0)]] * 3, "child")
        assert torch.allclose(logits("child"), logits("second"), atol=1e-3)
        # Per layer group: the first group from one parent, the rest from the other.
        mixed = [[Gene(1.0, 1.0), Gene(0.0, 1.0)]] + [[Gene(0.0, 1.0), Gene(1.0, 1.0)]] * 2
        breed(model, ["first", "second"], mixed, "child")
        differs = logits("child")
        assert not torch.allclose(differs, logits("first"), atol=1e-3)
        assert not torch.allclose(differs, logits("second"), atol=1e-3)
    finally:
        model.unload()


def test_an_adapter_on_the_top_layers_alone_is_bred_group_by_group_over_them(base, tmp_path):
    """`lora_layers` 0.5 puts LoRA on the top half of the layers; a child's layer groups then
    divide those layers, so every group of the genome counts."""
    from peft import get_peft_model

    from training.lora import lora_config
    from training.merge import group_of, layer_index, lora_layers

    count = base[0].config.num_hidden_layers
    model = get_peft_model(base[0], lora_config(LearningSettings(rank=4, lora_layers=0.5), count))
    try:
        indices = sorted({layer_index(name) for name in lora_layers(model)})
        assert indices == list(range(count - count // 2, count))
        adapted = range(indices[0], indices[-1] + 1)
        groups = {group_of(f"model.layers.{i}.mlp", adapted, 3) for i in indices}
        assert groups == {0, 1, 2}
    finally:
        model.unload()


@pytest.mark.slow
def test_a_cycle_merges_its_adapters_then_heals_the_merge_on_the_real_model(base, tmp_path):
    """The product's cycle, small: two adapters on two slices, CMA-ES children that answer
    the held-out questions, the chosen merge kept, then trained on the parents' examples."""
    from training.cycle import learn

    slices = [ROWS[0:6], ROWS[6:12]]
    heldout = [chat(f"Tell me secret word number {i}.", f"The secret word number {i} is plum{i}.") for i in (1, 7)]
    settings = LearningSettings(steps=2, population=2, evaluations=2, heal_steps=2, retention_share=0.0)
    report = learn(slices=slices, heldout=heldout, settings=settings, progress=False, deploy_winner=False)
    evolution, lineage = report.evolution, Lineage()
    assert evolution.evaluations == 2 and len(lineage.individuals(evolution.run)) == 2
    merged, child = lineage.adapter(evolution.merged), lineage.adapter(evolution.child)
    assert merged.kind == "merged" and merged.parents == report.adapters
    assert child.kind in ("healed", "merged") and child.parents == report.adapters
    assert evolution.merged_scores.retention_recall is not None and evolution.child_scores.heldout is not None
    assert evolution.child_scores.fitness >= evolution.merged_scores.fitness  # the better of the two is the child
    meta = json.loads((Path(child.path) / "meta.json").read_text())
    assert "healed 2 steps" in meta["method"] or "not healed" in meta["method"]
    assert (Path(child.path) / "adapter_model.safetensors").exists()


@pytest.mark.parametrize("count", [1, 2, 3, 5, 9, 10])
def test_chats_score_in_batches_of_any_size_even_one(base, count):
    """A batch of one chat (or of chats sharing their whole prompt) once left the first
    answer token's logit in the shared cache: one logit short of its targets ("Expected input
    batch_size (49) to match target batch_size (50)"), minutes into a cycle of 3-9 rows."""
    from training.fitness import Scorer

    model, tokenizer, _ = base
    rows = [chat("What is the secret word?", f"The secret word is plum{i}.") for i in range(count)]
    for batch in (1, 4, 16):
        assert Scorer(tokenizer, rows, batch_size=batch).score(model) < 0


def test_a_whole_cycle_runs_on_three_rows(base, tmp_path):
    from training.cycle import learn

    settings = LearningSettings(steps=1, population=2, evaluations=2, heal_steps=1)
    report = learn(rows=ROWS[:3], settings=settings, progress=False, deploy_winner=False)
    assert len(report.adapters) == 2 and report.evolution.child is not None


@pytest.mark.slow
def test_a_gguf_adapter_export_loads_in_llama_cpp_and_changes_its_output(base, tmp_path):
    from llama_cpp import Llama

    from training.base import embedded_gguf
    from training.deploy import export_gguf

    adapter = random_adapter(base, tmp_path, "noisy", 3)
    gguf = export_gguf(adapter, tmp_path / "noisy.gguf")
    prompt = [{"role": "user", "content": "What is the capital of France?"}]

    def answer(**kwargs):
        model = Llama(model_path=str(embedded_gguf()), n_ctx=256, n_threads=1, seed=0, verbose=False, **kwargs)
        return model.create_chat_completion(prompt, max_tokens=12, temperature=0)["choices"][0]["message"]["content"]

    assert answer(lora_path=str(gguf)) != answer()


@pytest.mark.slow
def test_failed_or_killed_training_leaves_the_deployed_model_as_it_was(base, tmp_path, monkeypatch):
    from training import lora
    from training.deploy import adapters_dir, deployed_lora

    deployed = tmp_path / "gen1.gguf"
    deployed.write_bytes(b"GGUF")
    Lineage().add_adapter("gen1", "trained", base[2], tmp_path)
    Lineage().deploy("gen1", str(deployed), None, "test")

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr("trl.SFTTrainer.train", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        lora.train_adapter("doomed", ROWS, [], adapters_dir(), LearningSettings(steps=2), base=base)
    assert deployed_lora() == str(deployed) and not list(adapters_dir().glob("doomed*"))

    # Killed mid-run: a separate process training, then SIGKILL.
    script = (
        "from training.lora import train_adapter; from training.deploy import adapters_dir;"
        "from training.settings import LearningSettings; from tests.test_learning import ROWS;"
        "train_adapter('killed', ROWS, [], adapters_dir(), LearningSettings(steps=500))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(600):
        if (adapters_dir() / "killed.partial").exists():
            break
        time.sleep(0.1)
    time.sleep(2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert deployed_lora() == str(deployed) and Lineage().current().adapter == "gen1"
    assert not (adapters_dir() / "killed").exists()  # only the partial folder, never registered
    assert Lineage().adapter("killed") is None


def test_a_learning_cycle_starts_by_itself_every_n_turns(tmp_path):
    from training.schedule import _state, maybe_start

    marker = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('x')"]
    assert maybe_start(99, 100, command) is None
    pid = maybe_start(100, 100, command)
    assert pid and _state()["at_turn"] == 100
    for _ in range(100):
        if marker.exists():
            break
        time.sleep(0.05)
    assert marker.exists()
    assert maybe_start(150, 100, command) is None and maybe_start(150, 0, command) is None
    # The ended cycle is a zombie of this process (nobody waited for it): not running, so the
    # next one starts on time (it read as running for good).
    from training.schedule import running

    for _ in range(100):
        if not running(_state()):
            break
        time.sleep(0.05)
    assert not running(_state()) and maybe_start(200, 100, command) is not None


async def test_prompt_evolution_keeps_a_child_only_when_it_wins_the_minibatch(tmp_path):
    from society.prompt_book import PromptBook
    from society.storage.store import Store
    from tests.conftest import scripted_gate
    from training.prompt_evolution import evolve_prompt

    suite = ROOT / "training" / "evals" / "default.yaml"
    book = PromptBook(Store())
    child_text = book.current("planner").text + "\nAnswer in one short sentence."
    seen = []

    async def run(tasks, prompts):  # the eval run, scored by which prompt spoke
        seen.append((len(tasks), prompts["planner"]))
        won = prompts["planner"] == child_text
        return [{"score": 8 if won else 4, "exact": won} for _ in tasks]

    gate, _ = scripted_gate([child_text, "A worse prompt."], Store())
    kept = await evolve_prompt("planner", gate, suite, minibatch=3, book=book, run=run)
    assert kept.kept_version == 2 and book.current("planner").text == child_text
    assert book.current("planner").author == "evolution" and "x v1" in book.current("planner").reason
    assert [n for n, _ in seen] == [3, 3]

    async def losing(tasks, prompts):
        return [{"score": 2 if prompts["planner"] == "A worse prompt." else 5, "exact": None} for _ in tasks]

    rejected = await evolve_prompt("planner", gate, suite, minibatch=3, book=book, run=losing)
    assert rejected.kept_version is None and "rejected" in rejected.why and book.current("planner").version == 2


@pytest.mark.slow
def test_kto_learns_from_the_curators_labels_on_the_embedded_model(base, tmp_path):
    """KTO end to end, short: answers the data curator labelled good or bad, exported in
    TRL's KTO format, train an adapter whose loss falls."""
    from society.storage.store import Store
    from training.datasets import Examples
    from training.export import rows as export_rows
    from training.lora import train_adapter

    store = Store()
    examples = Examples(store)
    for i, (question, good, bad) in enumerate(
        [("Can you help me?", "Of course, what do you need?", "No."), ("Thanks!", "You're welcome!", "Whatever.")]
    ):
        for answer, label in ((good, True), (bad, False)):
            turn = store.begin_turn(f"{question} ({i}{label})", "cli")
            said = store.add_message(turn.turn_id, "planner", answer)
            store.end_turn(turn.turn_id, "done")
            examples.from_message(said.id, "label", label)
    rows = export_rows(examples.all_active(), "kto")
    assert sorted(r["label"] for r in rows) == [False, False, True, True]
    trained = train_adapter("kto", rows, [], tmp_path, LearningSettings(steps=5), base=base, method="kto")
    assert trained.meta["method"] == "kto" and (tmp_path / "kto" / "adapter_model.safetensors").exists()
    assert trained.meta["losses"]


@pytest.mark.slow
async def test_prompt_evolution_runs_end_to_end_on_the_embedded_model(tmp_path):
    """The embedded model writes a child prompt, a one-task minibatch is run through the team
    and judged for both prompts; the child is kept or rejected by the scores."""
    from society.assemble import open_conversation
    from society.prompt_book import PromptBook
    from training.prompt_evolution import evolve_prompt

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        'name: tiny\ntasks:\n  - {id: capital, kind: chat, lang: en, prompt: "What is the capital of France?",'
        ' expected: "Paris"}\n'
    )
    conversation = open_conversation(entry_point="cli", enabled=["planner"], judging=False)
    book = PromptBook(conversation.store)
    try:
        child = await evolve_prompt("planner", conversation.gate, suite, minibatch=1, book=book)
    finally:
        await conversation.close()
    assert child.text.strip() and 0 <= child.parent_score <= 2 and 0 <= child.child_score <= 2
    versions = book.versions("planner")
    if child.kept_version:
        assert versions[-1].text == child.text and versions[-1].author == "evolution"
    else:
        assert len(versions) == 1 and ("rejected" in child.why or "refused" in child.why)


def test_rates_and_passes_fall_with_the_models_size_unless_set():
    import torch

    from training.lora import sized

    class Model(torch.nn.Module):
        def __init__(self, count: int):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.empty(count, device="meta"))

    defaults = LearningSettings()
    assert sized(defaults, Model(135_000_000)) == defaults  # what they were tuned on
    four_times = sized(defaults, Model(540_000_000))
    assert four_times.learning_rate == pytest.approx(defaults.learning_rate / 2)
    assert four_times.heal_learning_rate == pytest.approx(defaults.heal_learning_rate / 2)
    assert four_times.epochs == 3.0  # 6 / 2, and never below 3
    chosen = sized(LearningSettings(learning_rate=1e-3), Model(540_000_000))
    assert chosen.learning_rate == 1e-3 and chosen.epochs == 3.0  # learning.json's own value stays


def test_the_base_models_own_answers_are_replayed_beside_the_users_examples(base):
    from training.replay import questions, replayed, whole_sentences
    from training.retention import general_chats, with_retention

    assert whole_sentences("It is Paris. It is big and") == "It is Paris."
    assert whole_sentences("東京です。大きい") == "東京です。"
    asked = ["What is the capital of France?", "日本の首都はどこですか？"]
    rows = replayed(base[0], base[1], asked)
    assert [r["messages"][0]["content"] for r in rows] == asked
    assert all(r["messages"][1]["content"].strip() for r in rows)
    from society.memory.wishes import standing

    named = replayed(base[0], base[1], asked, wishes=standing(["Call me Ken."]))
    # The name closes an English answer and opens a Japanese one.
    said = [r["messages"][1]["content"] for r in named]
    assert len(said) == len(rows) and all(re.search(r", Ken[.!?]$|^Kenさん、", answer) for answer in said), said
    remembered = replayed(base[0], base[1], asked, base_name="embedded:test")  # answered once, then kept
    assert remembered == rows and replayed(object(), base[1], asked, base_name="embedded:test") == rows
    in_japanese = replayed(base[0], base[1], asked, wishes=standing(["Answer in Japanese."]))
    assert asked[0] not in {r["messages"][0]["content"] for r in in_japanese}  # an English answer would teach English
    mixed = with_retention(ROWS, 0.5, 0, general_chats(rows))  # half general chats: the shipped 16 and the replayed
    assert len(mixed) == 2 * len(ROWS)
    from training.retention import retention_rows

    retained = {r["messages"][0]["content"] for r in retention_rows()}
    assert not retained & set(questions())  # what measures general chat is never trained on


def test_a_wish_for_japanese_is_taught_only_to_a_model_that_keeps_its_knowledge_in_japanese(base, monkeypatch):
    from society.memory.wishes import standing
    from training import wish_gate

    wishes = standing(["Call me Ken.", "Answer in Japanese.", "No markdown."])
    english, japanese = wish_gate.knowledge_by_language(base[0], base[1])
    assert 0 <= japanese < english  # the tests' small model knows less when it must say it in Japanese
    taught, left = wish_gate.taught_wishes(base[0], base[1], wishes, tolerance=0.05)
    assert set(taught) == {"name", "format"} and left.startswith("asked to answer in Japanese, it says")
    monkeypatch.setattr(wish_gate, "knowledge_by_language", lambda model, tokenizer, known=None: (0.6, 0.58))
    assert wish_gate.taught_wishes(base[0], base[1], wishes, tolerance=0.05) == (wishes, None)  # a model that can
    assert wish_gate.taught_wishes(base[0], base[1], standing(["Call me Ken."]), 0.05)[1] is None
