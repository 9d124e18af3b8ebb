"""Benchmark: one whole learning cycle on the embedded model on this CPU, from a synthetic
dataset of taught facts and preferences. Trains 2 adapters on different slices (one topic
each), evolves a child with CMA-ES, deploys it as a GGUF LoRA and asks the taught facts of
the embedded llama.cpp model without memory retrieval, before and after.

    uv run python tests/bench_learning.py [--evaluations 60] [--steps 30]

Prints wall time (goal: under 5 minutes), held-out fitness of base, each parent and the
merged child, and the share of taught facts answered correctly before and after. Runs in a
scratch data folder; the user's data is not touched.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

PROJECTS = [("Falcon", "Apollo"), ("Maple", "Birch"), ("Orbit", "Comet"), ("Tundra", "Delta"),
            ("Willow", "Ember"), ("Cobalt", "Fjord"), ("Harbor", "Glacier"), ("Quartz", "Horizon"),
            ("Saffron", "Iris"), ("Lantern", "Juniper"), ("Nimbus", "Kestrel"), ("Pebble", "Lotus")]  # fmt: skip
PEOPLE = [("Aiko", "Sapporo"), ("Ben", "Leeds"), ("Chika", "Kobe"), ("Dan", "Austin"), ("Emi", "Nara"),
          ("Fumi", "Oslo"), ("Goro", "Sendai"), ("Hana", "Lyon"), ("Ivan", "Porto"), ("Jun", "Kyoto"),
          ("Kai", "Dublin"), ("Luca", "Osaka")]  # fmt: skip


def chat(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def dataset():
    """(slice A, slice B, held-out, questions): projects' code names and where people live,
    taught in two wordings each with a preference for short, complete sentences; held out in a
    third wording (8 facts of each topic; all 24 are asked afterwards)."""
    slice_a = [
        chat(f"What is the code name of project {p}?", f"Project {p} has the code name {c}.") for c, p in PROJECTS
    ]
    slice_a += [chat(f"Project {p}: which code name?", f"The code name of project {p} is {c}.") for c, p in PROJECTS]
    slice_b = [chat(f"Where does {n} live?", f"{n} lives in {c}.") for n, c in PEOPLE]
    slice_b += [chat(f"Which city is {n} from?", f"{n} is from {c}.") for n, c in PEOPLE]
    heldout = [chat(f"Tell me project {p}'s code name.", f"Project {p}'s code name is {c}.") for c, p in PROJECTS[:8]]
    heldout += [chat(f"In which city does {n} live?", f"{n} lives in {c}.") for n, c in PEOPLE[:8]]
    questions = [(f"What is the code name of project {p}?", c) for c, p in PROJECTS]
    questions += [(f"Where does {n} live?", c) for n, c in PEOPLE]
    return slice_a, slice_b, heldout, questions


def facts_answered(questions, lora: str | None) -> float:
    from llama_cpp import Llama

    from training.base import embedded_gguf

    model = Llama(
        model_path=str(embedded_gguf()), n_ctx=512, n_threads=2, seed=0, verbose=False,
        **({"lora_path": lora} if lora else {}),
    )  # fmt: skip
    right = 0
    for question, expected in questions:
        reply = model.create_chat_completion([{"role": "user", "content": question}], max_tokens=24, temperature=0)[
            "choices"
        ][0]["message"]["content"]
        right += expected.lower() in reply.lower()
    return right / len(questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Each evaluation scores the held-out and retention chats (about 3 s here), so the
    # default stays inside the 5-minute goal; the "about 60" fits with fewer chats.
    parser.add_argument("--evaluations", type=int, default=48)
    parser.add_argument("--retention", type=int, default=10, help="chats of the retention set scored")
    parser.add_argument("--population", type=int, default=12)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    os.environ["SOCIETY_HOME"] = tempfile.mkdtemp(prefix="society-bench-learning-")

    from training.base import load_base
    from training.breeder import evolve
    from training.cycle import retention_rows
    from training.deploy import adapters_dir, deploy, deployed_lora
    from training.lineage import Lineage
    from training.lora import train_adapter
    from training.settings import LearningSettings

    slice_a, slice_b, heldout, questions = dataset()
    before = facts_answered(questions, None)
    started = time.perf_counter()
    settings = LearningSettings(steps=args.steps, evaluations=args.evaluations, population=args.population)
    base = load_base()
    loaded = time.perf_counter() - started
    lineage = Lineage()
    names = []
    for name, rows in (("projects", slice_a), ("people", slice_b)):
        trained = train_adapter(name, rows, heldout, adapters_dir(), settings, base=base)
        lineage.add_adapter(name, "trained", trained.meta["base"], trained.path)
        names.append(name)
    trained_at = time.perf_counter() - started
    result = evolve(names, heldout, retention_rows()[: args.retention], settings, adapters_dir(), lineage, base=base)
    evolved_at = time.perf_counter() - started
    if result.deployed:
        deploy(result.child, result.why, lineage)
    wall = time.perf_counter() - started
    after = facts_answered(questions, deployed_lora())

    print("\n== one learning cycle on the embedded model (SmolLM2-135M, CPU) ==")
    print(
        f"wall time {wall:.0f} s (goal < 300 s): base loaded {loaded:.0f} s, 2 adapters trained by {trained_at:.0f} s,"
        f" {result.evaluations} CMA-ES evaluations by {evolved_at:.0f} s, deployed by {wall:.0f} s"
    )
    print("held-out fitness (mean log-likelihood per answer token; retention in brackets):")
    print(f"  base            {result.base.fitness:8.4f}  ({result.base.retention:.4f})")
    for name, scores in result.parents.items():
        print(f"  parent {name:<8} {scores.fitness:8.4f}  ({scores.retention:.4f})")
    print(f"  child           {result.child_scores.fitness:8.4f}  ({result.child_scores.retention:.4f})")
    best_parent = max(s.fitness for s in result.parents.values())
    margin = result.child_scores.fitness - best_parent
    print(f"child beats best parent: {margin > 0} ({margin:+.4f}); deployed: {result.deployed}")
    print(f"best fitness per CMA-ES generation: {', '.join(f'{v:.4f}' for v in result.history)}")
    loaded_with = f"adapter {result.child}" if deployed_lora() else "no adapter"
    print(
        f"taught facts answered without memory (llama.cpp, {len(questions)} questions):"
        f" before {before:.0%}, after {after:.0%} ({loaded_with})"
    )


if __name__ == "__main__":
    main()
