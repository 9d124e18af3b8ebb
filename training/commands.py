"""The learning commands: `society data`, `rewards`, `eval`, `learn`, `evolve`, `evolve-prompt`,
`lineage` and `deploy`. Registered by society/assemble.py; heavy imports stay inside."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from society.commands import fail, guard

if TYPE_CHECKING:
    pass

app = typer.Typer()
data_app = typer.Typer(help="Tuning data: list, export in TRL's formats, clean.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list(
    kind: Annotated[str | None, typer.Option("--kind", help="sft, pair, label or eval.")] = None,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Words the examples contain.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The newest tuning examples."""
    from training.datasets import KINDS, Examples

    if kind is not None and kind not in KINDS:
        raise fail(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    found = guard(lambda: Examples().listing(kind, limit, search))
    if as_json:
        print(json.dumps([e.to_dict() for e in found], ensure_ascii=False))
        return
    print("\n".join(e.line() for e in found) or "no examples yet")


@data_app.command("curate")
def data_curate() -> None:
    """Bring the examples made from what you said up to date now (every cycle does it first):
    stated facts, corrections and standing wishes."""
    from training.curate import Curator

    print(guard(lambda: Curator().curate()).line())


@data_app.command("export")
def data_export(
    path: Annotated[str, typer.Argument(help="A folder; train.jsonl and eval.jsonl are written in it.")],
    format: Annotated[str, typer.Option("--format", "-f", help="sft, dpo or kto.")] = "sft",
    eval_share: Annotated[float, typer.Option("--eval-share", help="Share held out for evaluation.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/eval split.")] = 0,
) -> None:
    """Export the examples as JSONL for TRL's SFT, DPO or KTO trainers."""
    from pathlib import Path

    from training.export import FORMATS, export

    if format not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if not 0 <= eval_share < 1:
        raise fail(f"--eval-share must be at least 0 and below 1, got {eval_share}")
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise fail(f"{folder} is a file; give a folder to write train.jsonl and eval.jsonl into")
    counts = guard(lambda: export(format, folder, eval_share, seed))
    print(f"{format}: {counts['train']} train, {counts['eval']} eval rows in {folder}/train.jsonl, eval.jsonl")


@data_app.command("clean")
def data_clean() -> None:
    """Delete (softly) duplicate, empty and broken examples."""
    from training.datasets import Examples

    removed = guard(lambda: Examples().clean())
    print(", ".join(f"{count} {reason}" for reason, count in removed.items()) + " removed")


@app.command()
def rewards(
    last: Annotated[int, typer.Option("--last", "-n", min=1, help="How many answers.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Measure the judge's model on the calibration set now.")
    ] = False,
) -> None:
    """Recent answers' rewards with their parts, what the judge's scores count, and each
    role's prompt versions with fitness."""
    from dataclasses import asdict

    from roles import ROLE_NAMES
    from society.prompt_book import PromptBook
    from training.calibration import Calibrations, judge_line
    from training.reward import Rewards

    model = guard(judging_model)
    if calibrate:
        guard(lambda: calibrate_judge(model))
    recent = guard(lambda: Rewards().recent(last))
    book = PromptBook()
    versions = {role: [v.to_dict() for v in book.versions(role)] for role in ROLE_NAMES}
    calibrations = Calibrations()
    found = calibrations.get(model)
    judge = {
        "model": model,
        "accuracy": found.accuracy if found else None,
        "trusted": bool(found and found.trusted),
        "line": judge_line(calibrations, model),
    }
    if as_json:
        print(
            json.dumps(
                {"judge": judge, "rewards": [asdict(r) for r in recent], "versions": versions}, ensure_ascii=False
            )
        )
        return
    print(judge["line"])
    print("answer  role            prompt  judge  engagement  explicit  reward")
    for r in recent:
        judge = f"{r.judge_score:.1f}" if r.judge_score is not None else "-"
        reward = f"{r.reward:+.2f}" if r.reward is not None else "-"
        explicit = {1: "good", -1: "bad"}.get(r.explicit or 0, "-")
        print(
            f"#{r.message_id:<6} {r.role:<15} v{r.prompt_version or '-':<6} {judge:<6} {r.level or '-':<11}"
            f" {explicit:<9} {reward}"
        )
    print()
    for role, listed in versions.items():
        for v in listed:
            fitness = f"{v['fitness']:+.2f}" if v["fitness"] is not None else "-"
            print(f"{role:<18} v{v['version']:<3} uses {v['uses']:<4} fitness {fitness:<6} {v['reason']}")


def judging_model() -> str | None:
    """The model the judge role would get now."""
    from society.models.config import load_entries
    from society.models.gate import ModelGate

    choices = ModelGate(load_entries()).plan("judge")
    return choices[0].entry.model if choices else None


def calibrate_judge(model: str | None) -> None:
    """Measure `model` as a judge now (two verdicts per calibration pair), printing the figure."""
    import asyncio

    from society.errors import SocietyError
    from society.models.config import load_entries
    from society.models.gate import ModelGate
    from society.prompt_book import PromptBook
    from society.storage.store import Store
    from training.calibration import load_pairs
    from training.datasets import Examples
    from training.rewarding import Rewarding

    if model is None:
        raise SocietyError("no model can judge now; see: society status")
    store = Store()
    gate = ModelGate(load_entries(), store)
    rewarding = Rewarding(store, gate, PromptBook(store), Examples(store), judging=True)
    print(f"calibrating judge {model} on {len(load_pairs())} pairs (two scores, two comparisons each)...", flush=True)
    found = asyncio.run(rewarding.calibrate(model))
    if found is None:
        raise SocietyError(f"{model} could not be measured: another model answered (see: society status)")
    dev, report = found.accuracy_of(split="dev"), found.accuracy_of(split="report")
    en, ja = found.accuracy_of(lang="en"), found.accuracy_of(lang="ja")
    print(f"scores: dev {dev:.0%}, report {report:.0%}; English {en:.0%}, Japanese {ja:.0%}")
    if (preferred := found.preferred()) is not None:
        print(f"head to head, both orders: the correct answer preferred in {preferred:.0%} of pairs")


@app.command("eval")
def eval_command(
    suite: Annotated[str | None, typer.Argument(help="A suite YAML file, or 'default' for the shipped one.")] = None,
    compare: Annotated[
        tuple[int, int] | None, typer.Option("--compare", help="Compare two earlier runs: RUN_A RUN_B.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Only the first N tasks.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run a judge-scored evaluation suite through the team, or compare two runs."""
    import asyncio
    from pathlib import Path

    from training.evals import EvalError, load_run, run_suite
    from training.evals import compare as compare_runs

    def run():
        if compare:
            return compare_runs(load_run(compare[0]), load_run(compare[1]))
        if not suite:
            raise EvalError("give a suite file (or 'default'), or --compare RUN_A RUN_B")
        path = Path(__file__).resolve().parent.parent / "training" / "evals" / "default.yaml"
        path = path if suite == "default" else Path(suite).expanduser()

        def progress(done: int, total: int, result: dict) -> None:
            exact = "" if result["exact"] is None else (" pass" if result["exact"] else " fail")
            print(f"[{done}/{total}] {result['id']}: score {result['score']}{exact}", file=sys.stderr)

        return asyncio.run(run_suite(path, limit, progress))

    result = guard(run)
    if isinstance(result, str):
        print(result)
    elif as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        from training.evals import markdown

        print(markdown(result))
        print(f"kept as run {result['id']} (evals/run-{result['id']}.md in the data folder)")


@app.command()
def learn() -> None:
    """Run one learning cycle now: LoRA adapters on slices of the curated examples, evolution,
    deployment when the child is as good as its parents and beats the current model."""
    from training.cycle import learn as run_cycle
    from training.schedule import record_outcome

    try:
        report = run_cycle()
    except BaseException as err:
        # One line wherever the user looks (status, the page's panel, lineage); the whole
        # traceback stays in learning.log for an automatic cycle.
        record_outcome(False, f"{type(err).__name__}: {err}")
        raise
    evolution = report.evolution
    print(f"trained {', '.join(report.adapters)}; evolved {evolution.child} in run {evolution.run}")
    print(f"  {evolution.why}")
    print(f"deployed {report.deployed}" if report.deployed else "kept the current model")
    print(f"{report.seconds:.0f} s")
    outcome = f"deployed {report.deployed}" if report.deployed else "kept the current model"
    record_outcome(True, f"{outcome} ({evolution.why}; {report.seconds / 60:.1f} min)")


@app.command()
def evolve(
    parents: Annotated[list[str], typer.Argument(help="Adapter names (at least 2); see `society lineage`.")],
    deploy_winner: Annotated[bool, typer.Option("--deploy/--no-deploy", help="Deploy a winning child.")] = True,
) -> None:
    """Breed a child of existing adapters with CMA-ES (held-out split of the curated examples)."""
    from training.breeder import evolve as breed_child
    from training.cycle import split
    from training.datasets import Examples
    from training.deploy import adapters_dir, deploy
    from training.export import rows
    from training.retention import retention_rows
    from training.settings import load_settings

    settings = load_settings()
    _, heldout = split(rows(Examples().all_active(), "sft"), 1, settings.seed)
    result = breed_child(parents, heldout, retention_rows(), settings, adapters_dir())
    print(f"{result.child}: {result.why}")
    if result.deployed and deploy_winner:
        print(f"deployed: {deploy(result.winner, f'run {result.run}: {result.why}')}")


@app.command("evolve-prompt")
def evolve_prompt(
    role: Annotated[str, typer.Argument(help="The role whose prompt to evolve, e.g. planner.")],
    minibatch: Annotated[int, typer.Option("--minibatch", min=1, help="Eval tasks the child must win on.")] = 4,
    suite: Annotated[str, typer.Option("--suite", help="Eval suite YAML, or 'default'.")] = "default",
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Breed a child of the role's two fittest prompt versions; keep it if it wins a minibatch."""
    import asyncio
    from pathlib import Path

    from society.models.config import load_entries
    from society.models.gate import ModelGate
    from society.storage.store import Store
    from training.prompt_evolution import evolve_prompt as breed_prompt

    path = Path(__file__).resolve().parent.parent / "training" / "evals" / "default.yaml"
    path = path if suite == "default" else Path(suite).expanduser()
    child = asyncio.run(breed_prompt(role, ModelGate(load_entries(), Store()), path, minibatch, seed))
    print(f"{role}: {child.why}")


@app.command()
def lineage(
    plot: Annotated[str | None, typer.Option("--plot", help="Also draw the family tree into this PNG file.")] = None,
) -> None:
    """The family tree: adapters with parents, generation and fitness; deployments."""
    from pathlib import Path

    from training.lineage import Lineage

    tree = Lineage()
    for adapter in tree.adapters():
        fitness = "-" if adapter.fitness is None else f"{adapter.fitness:.4f}"
        parents = f" <- {' x '.join(adapter.parents)}" if adapter.parents else ""
        print(f"gen {adapter.generation}  {adapter.name:<28} {adapter.kind:<8} fitness {fitness}{parents}")
    for deployment in tree.deployments():
        print(f"deployed {deployment.adapter or 'base model'} at {deployment.created_at}: {deployment.reason}")
    from training.schedule import last_line

    if line := last_line():
        print(line)
    if plot:
        from training.plot import plot_lineage

        print(f"picture: {plot_lineage(Path(plot), tree)}")


@app.command()
def deploy(
    name: Annotated[str | None, typer.Argument(help="Adapter to deploy.")] = None,
    previous: Annotated[bool, typer.Option("--rollback", help="Return to the previous deployment.")] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="With --rollback: the Ollama model (default: the embedded one).")
    ] = None,
) -> None:
    """Deploy an adapter (GGUF LoRA for the embedded model, a new tag for Ollama), or roll back."""
    from training import deploy as deployment

    if previous:
        back = guard(lambda: deployment.rollback(base=model))
        print(f"{model or 'the embedded model'} now runs {back or 'without an adapter'}")
    elif name:
        print(f"deployed: {deployment.deploy(name, 'by hand')}")
    else:
        raise fail("name an adapter to deploy, or use --rollback")
