"""Benchmark of learning on the embedded model (SmolLM2-135M on this CPU); a script, not a test:

    uv run python tests/bench_learning.py [--facts dev|report] [--skip calibration,kto,prompts]

Runs in a scratch data folder (the user's data is not touched) and prints:
  - the embedded judge's accuracy on the calibration pairs and the judge weight it earns;
  - one learning cycle as the product runs it (training/cycle.py: two adapters, one topic of
    taught facts each with general chats mixed in, CMA-ES merging, deployment as a GGUF LoRA),
    its minutes, and through llama.cpp without memory: the taught facts asked in a wording
    never trained on nor scored during evolution, before and after, for the base, each parent
    and the merged child (which must beat both: it needs both parents' facts); general
    questions before and after (retention); the recall (evolution's fitness) and
    log-likelihoods on the held-out wording and the retention set;
  - the memory plan for qwen2:7b-instruct on a 6 GB card with Ollama unloaded;
  - a KTO run on good/bad labelled answers, with the likelihood margin of good over bad on
    held-out labelled answers before and after;
  - a prompt-evolution run for the planner (child vs current on a minibatch of the eval suite).

Facts come in two sets: `dev` (project code names, home cities) was used to choose the
cycle's settings; `report` (favourite dishes, instruments) was only measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from society.models.machine.hardware import keep_weights_off_amx  # noqa: E402

keep_weights_off_amx()  # Llama objects made here crash on AMX without it

# (subject, fact, four wordings: two taught, one scored during evolution, one only asked)
DEV = {
    "projects": (
        [("Apollo", "Falcon"), ("Birch", "Maple"), ("Comet", "Orbit"), ("Delta", "Tundra"), ("Ember", "Willow"),
         ("Fjord", "Cobalt"), ("Glacier", "Harbor"), ("Horizon", "Quartz"), ("Iris", "Saffron"),
         ("Juniper", "Lantern"), ("Kestrel", "Nimbus"), ("Lotus", "Pebble")],
        ["What is the code name of project {s}?", "Project {s}: which code name?",
         "Tell me project {s}'s code name.", "Which code name does project {s} have?"],
        "The code name of project {s} is {f}.",
    ),
    "people": (
        [("Aiko", "Sapporo"), ("Ben", "Leeds"), ("Chika", "Kobe"), ("Dan", "Austin"), ("Emi", "Nara"),
         ("Fumi", "Oslo"), ("Goro", "Sendai"), ("Hana", "Lyon"), ("Ivan", "Porto"), ("Jun", "Kyoto"),
         ("Kai", "Dublin"), ("Luca", "Osaka")],
        ["Where does {s} live?", "Which city is {s} from?", "In which city does {s} live?",
         "What city is {s}'s home?"],
        "{s} lives in {f}.",
    ),
}  # fmt: skip
REPORT = {
    "dishes": (
        [("Riko", "curry"), ("Sam", "ramen"), ("Tomo", "paella"), ("Uma", "lasagna"), ("Vera", "sushi"),
         ("Wes", "goulash"), ("Yuki", "tempura"), ("Zoe", "risotto"), ("Akira", "burritos"), ("Bea", "dumplings"),
         ("Cole", "falafel"), ("Dai", "pierogi")],
        ["What is {s}'s favourite dish?", "Which dish does {s} like best?", "Tell me {s}'s favourite food.",
         "What does {s} like to eat most?"],
        "{s}'s favourite dish is {f}.",
    ),
    "instruments": (
        [("Eri", "cello"), ("Finn", "banjo"), ("Gin", "oboe"), ("Hugo", "harp"), ("Ines", "tuba"),
         ("Jiro", "viola"), ("Kira", "flute"), ("Leo", "trumpet"), ("Mai", "accordion"), ("Nils", "clarinet"),
         ("Oto", "bassoon"), ("Pia", "ukulele")],
        ["Which instrument does {s} play?", "What does {s} play in the band?", "Tell me {s}'s instrument.",
         "What instrument is {s}'s?"],
        "{s} plays the {f}.",
    ),
}  # fmt: skip
# General questions asked before and after: none of them in training/retention.jsonl (which
# evolution selects on) or training/retention_mix.jsonl (which adapters train on).
GENERAL = [
    ("What is the capital of France?", "paris"), ("What do cows give us to drink?", "milk"),
    ("What is the capital of Germany?", "berlin"), ("What do you call a baby cat?", "kitten"),
    ("What colour is snow?", "white"), ("What is frozen water called?", "ice"),
    ("Which animal is called the king of the jungle?", "lion"), ("How many minutes are in an hour?", "60"),
    ("How many months are in a year?", "12"), ("How many legs does a spider have?", "8"),
    ("What colour is grass?", "green"), ("At how many degrees Celsius does water boil?", "100"),
]  # fmt: skip


def chat(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def facts(topics: dict) -> tuple[list[list[dict]], list[dict], list[tuple[str, str, str]]]:
    """(one training slice per topic, held-out chats scored by evolution, asked questions
    as (topic, question, expected))."""
    slices, heldout, asked = [], [], []
    for topic, (pairs, wordings, answer) in topics.items():
        rows = []
        for subject, fact in pairs:
            said = answer.format(s=subject, f=fact)
            rows += [chat(wordings[0].format(s=subject), said), chat(wordings[1].format(s=subject), said)]
            heldout.append(chat(wordings[2].format(s=subject), said))
            asked.append((topic, wordings[3].format(s=subject), fact))
        slices.append(rows)
    return slices, heldout, asked


def answered(questions: list[tuple[str, str]], lora: str | None) -> list[bool]:
    """Each question asked of the embedded GGUF in llama.cpp (with `lora`), no memory."""
    from llama_cpp import Llama

    from training.base import embedded_gguf

    model = Llama(
        model_path=str(embedded_gguf()), n_ctx=512, n_threads=2, seed=0, verbose=False,
        **({"lora_path": lora} if lora else {}),
    )  # fmt: skip
    right = []
    for question, expected in questions:
        reply = model.create_chat_completion([{"role": "user", "content": question}], max_tokens=24, temperature=0)
        right.append(expected.lower() in reply["choices"][0]["message"]["content"].lower())
    return right


def share(flags: list[bool]) -> str:
    return f"{sum(flags) / len(flags):.0%} ({sum(flags)}/{len(flags)})"


def calibration() -> None:
    from training.calibration import TRUST_AT
    from training.commands import calibrate_judge, judging_model
    from training.reward import WEIGHTS

    model = judging_model()
    started = time.perf_counter()
    calibrate_judge(model)
    from training.calibration import Calibrations

    found = Calibrations().get(model)
    weight = WEIGHTS["judge"] if found.trusted else 0.0
    print(
        f"judge calibration: {model} {found.correct}/{found.total} pairs ({found.accuracy:.0%}; bar {TRUST_AT:.0%})"
        f" -> judge weight {weight} ({time.perf_counter() - started:.0f} s)"
    )


def cycle(topics: dict, evaluations: int | None) -> None:
    from training.cycle import learn
    from training.deploy import adapters_dir, deployed_lora, export_gguf
    from training.lineage import Lineage
    from training.settings import LearningSettings

    slices, heldout, asked = facts(topics)
    questions = [(q, f) for _, q, f in asked]
    general = list(GENERAL)
    before_facts, before_general = answered(questions, None), answered(general, None)
    settings = LearningSettings(**({"evaluations": evaluations} if evaluations else {}))
    started = time.perf_counter()
    report = learn(slices=slices, heldout=heldout, settings=settings, progress=False)
    minutes = (time.perf_counter() - started) / 60
    evolution = report.evolution
    lineage = Lineage()
    rows = {"base": (before_facts, before_general, evolution.base)}
    for name in report.adapters:
        gguf = export_gguf(Path(lineage.adapter(name).path), adapters_dir() / f"{name}.gguf")
        rows[f"parent {name[-2:]}"] = (answered(questions, str(gguf)), None, evolution.parents[name])
    if evolution.merged:  # the merge itself, before it was healed on the parents' examples
        gguf = export_gguf(Path(lineage.adapter(evolution.merged).path), adapters_dir() / f"{evolution.merged}.gguf")
        rows["merge"] = (answered(questions, str(gguf)), None, evolution.merged_scores)
    child_lora = deployed_lora() if report.deployed else None
    if child_lora is None:  # not deployed: still measure the child
        child = lineage.adapter(evolution.child)
        child_lora = str(export_gguf(Path(child.path), adapters_dir() / f"{evolution.child}.gguf"))
    rows["child"] = (answered(questions, child_lora), answered(general, child_lora), evolution.child_scores)
    topic_names = list(topics)
    print(
        f"learning cycle: {minutes:.1f} minutes (goal < 5) for {len(slices)} adapters of {settings.rank}-rank LoRA"
        f" and {evolution.evaluations} CMA-ES evaluations, the merge healed {settings.heal_steps} steps;"
        f" deployed: {report.deployed or 'nothing'}"
    )
    trained = [json.loads((Path(lineage.adapter(n).path) / "meta.json").read_text()) for n in report.adapters]
    print(
        f"  of which training {sum(m['seconds'] for m in trained):.0f} s"
        f" ({sum(m['seconds'] for m in trained) / sum(m['steps'] for m in trained):.2f} s a step: the machine's pace),"
        f" evolution with the heal {evolution.seconds:.0f} s"
    )
    print(f"taught facts asked in an unseen wording, without memory ({len(questions)}: {', '.join(topic_names)}):")
    print(
        "  model        all facts       "
        + "  ".join(f"{t:<14}" for t in topic_names)
        + "  held-out recall  LL      retention recall"
    )
    for label, (right, _, scores) in rows.items():
        per_topic = [[r for r, (t, _, _) in zip(right, asked, strict=True) if t == topic] for topic in topic_names]
        print(
            f"  {label:<12} {share(right):<15} "
            + "  ".join(f"{share(p):<14}" for p in per_topic)
            + f"  {scores.recall:<15.1%}  {likelihood(scores.heldout)}  {scores.retention_recall:.1%}"
        )
    print(f"general questions (retention): before {share(before_general)}, after {share(rows['child'][1])}")


def likelihood(value: float | None) -> str:
    return "   -  " if value is None else f"{value:+.3f}"


def memory_plan() -> None:
    from training.memory_plan import Shape, plan

    listed = json.loads((ROOT / "training" / "bases.json").read_text())["bases"]
    base = next(b for b in listed if b["repo"] == "Qwen/Qwen2-7B-Instruct")
    found = plan(Shape.from_config("qwen2:7b-instruct (" + base["repo"] + ")", base["config"]), 5900, 16, 256)
    print("memory plan, 6 GB card (5,900 MB free once Ollama unloaded its model):")
    print("\n".join("  " + line for line in found.lines()))


def kto() -> None:
    from training.base import load_base
    from training.deploy import adapters_dir
    from training.fitness import Scorer
    from training.lora import train_adapter
    from training.settings import LearningSettings

    good = [("Can you help me?", "Yes, of course. What do you need?"), ("Thanks!", "You're welcome!")]
    bad = [("Can you help me?", "No."), ("Thanks!", "Whatever.")]
    prompts = ["Could you give me a hand?", "Will you help me with something?", "Thank you so much!", "Hello there!",
               "Can you explain something to me?", "Are you there?", "I need some help.", "Good morning!"]  # fmt: skip
    kind = ["Of course! I'm happy to help. What would you like?", "Sure, I'd be glad to help.",
            "You're very welcome!", "Hello! How can I help you today?",
            "Certainly, what would you like explained?", "Yes, I'm here. How can I help?",
            "I'm here to help. What do you need?", "Good morning! How are you?"]  # fmt: skip
    rude = ["No.", "Figure it out yourself.", "Whatever.", "What do you want?", "No, I won't.", "Maybe.",
            "Not my problem.", "Hmm."]  # fmt: skip
    rows = [{"prompt": [{"role": "user", "content": p}], "completion": [{"role": "assistant", "content": c}],
             "label": True} for p, c in zip(prompts[:6], kind[:6], strict=True)]  # fmt: skip
    rows += [{"prompt": [{"role": "user", "content": p}], "completion": [{"role": "assistant", "content": c}],
              "label": False} for p, c in zip(prompts[:6], rude[:6], strict=True)]  # fmt: skip
    held_good = [chat(p, c) for p, c in [*good, *zip(prompts[6:], kind[6:], strict=True)]]
    held_bad = [chat(p, c) for p, c in [*bad, *zip(prompts[6:], rude[6:], strict=True)]]
    model, tokenizer, name = base = load_base()
    margin_before = Scorer(tokenizer, held_good).score(model) - Scorer(tokenizer, held_bad).score(model)
    started = time.perf_counter()
    trained = train_adapter("kto", rows, [], adapters_dir(), LearningSettings(), base=base, method="kto")
    from peft import PeftModel

    tuned = PeftModel.from_pretrained(model, trained.path)
    margin_after = Scorer(tokenizer, held_good).score(tuned) - Scorer(tokenizer, held_bad).score(tuned)
    tuned.unload()
    print(
        f"KTO on {len(rows)} labelled answers ({trained.meta['steps']} steps, {time.perf_counter() - started:.0f} s):"
        f" held-out margin of good over bad answers, log-likelihood per token: {margin_before:+.3f} ->"
        f" {margin_after:+.3f}"
    )


def prompts() -> None:
    from society.assemble import open_conversation
    from training.prompt_evolution import evolve_prompt

    suite = ROOT / "training" / "evals" / "default.yaml"
    conversation = open_conversation(entry_point="bench", enabled=["planner"], judging=False)
    started = time.perf_counter()
    try:
        child = asyncio.run(evolve_prompt("planner", conversation.gate, suite, minibatch=3))
    finally:
        asyncio.run(conversation.close())
    print(
        f"prompt evolution for the planner ({time.perf_counter() - started:.0f} s): {child.why}\n"
        f"  child prompt: {child.text[:160]!r}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", choices=("dev", "report"), default="report")
    parser.add_argument("--evaluations", type=int, help="CMA-ES evaluations (default: the product's setting)")
    parser.add_argument("--skip", default="", help="comma-separated: calibration, cycle, kto, prompts")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    os.environ["SOCIETY_HOME"] = tempfile.mkdtemp(prefix="society-bench-learning-")
    os.environ["SOCIETY_LEARN"] = "0"  # the product's default models otherwise: the embedded one here
    memory_plan()
    if "calibration" not in skip:
        calibration()
    if "cycle" not in skip:
        cycle(DEV if args.facts == "dev" else REPORT, args.evaluations)
    if "kto" not in skip:
        kto()
    if "prompts" not in skip:
        prompts()


if __name__ == "__main__":
    main()
