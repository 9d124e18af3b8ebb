"""Judge-scored evaluation runs: each task of a suite goes headlessly through the team, in a
data folder of its own (the user's conversation is not touched, but the user's current prompt
versions and model ladder are used), the judge scores the answer and an exact expectation is
checked where the task gives one. The report, JSON and Markdown, is kept in the database and
written to `evals/` in the data folder; two runs compare task by task."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from society.errors import SocietyError
from society.paths import data_dir
from society.storage.store import USER, Store, now
from training.tables import eval_runs

COPIED_SETTINGS = ("OAI_CONFIG_LIST.json", "mcp.json", "tools.json", "memory.json")
KINDS = ("chat", "reasoning", "tool")


class EvalError(SocietyError, ValueError):
    """A suite or run that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Task:
    id: str
    prompt: str
    kind: str = "chat"
    lang: str = "en"
    expected: str | None = None


def load_suite(path: Path) -> tuple[str, list[Task]]:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: no such suite file") from None
    except yaml.YAMLError as err:
        raise EvalError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list) or not raw["tasks"]:
        raise EvalError(f"{path}: expected a mapping with a non-empty 'tasks' list")
    tasks, seen = [], set()
    for index, item in enumerate(raw["tasks"]):
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str) or not item.get("id"):
            raise EvalError(f"{path}: task {index + 1} needs an 'id' and a 'prompt'")
        unknown = set(item) - {"id", "prompt", "kind", "lang", "expected"}
        if unknown:
            raise EvalError(f"{path}: task '{item['id']}' has unknown fields {sorted(unknown)}")
        if item.get("kind", "chat") not in KINDS:
            raise EvalError(f"{path}: task '{item['id']}' kind must be one of {', '.join(KINDS)}")
        if item["id"] in seen:
            raise EvalError(f"{path}: task id '{item['id']}' is used twice")
        seen.add(item["id"])
        expected = item.get("expected")
        tasks.append(
            Task(
                str(item["id"]),
                item["prompt"],
                item.get("kind", "chat"),
                item.get("lang", "en"),
                None if expected is None else str(expected),
            )
        )
    return str(raw.get("name") or path.stem), tasks


async def _run_task(task: Task, home: Path, prompts: dict[str, str]) -> dict[str, Any]:
    """One task in its own scratch data folder (the conversation of the run stays untouched)."""
    from society.paths import using_data_dir

    with using_data_dir(home):
        return await _run_here(task, prompts)


async def _run_here(task: Task, prompts: dict[str, str]) -> dict[str, Any]:
    from society.assemble import open_conversation
    from society.prompt_book import PromptBook
    from society.tools.approval import refuse_all
    from training.judge import judge, mean

    book = PromptBook(Store())
    for role, body in prompts.items():
        if book.current(role).text != body:
            book.edit(role, "the conversation's current version", "eval", new_text=body)
    # The run judges below, once, in the open.
    conversation = open_conversation(entry_point="eval", approver=refuse_all, judging=False)
    started = time.perf_counter()
    error = None
    messages = []
    try:
        messages = [m async for m in conversation.turn(task.prompt)]
    except Exception as err:  # noqa: BLE001 - a failed task is a result, not the end of the run
        error = f"{type(err).__name__}: {err}"
    seconds = round(time.perf_counter() - started, 2)
    said = [m for m in messages if m.role != USER and m.kind in ("text", "tool_result")]
    answer = said[-1].content if said else ""
    transcript = "\n".join(m.content for m in messages if m.role != USER)
    scores = None
    if answer:
        try:
            reference = task.expected  # a checked fact: the judge is shown the expected answer
            scores = await judge(conversation.gate, book.current("judge").text, task.prompt, answer, [], reference)
        except Exception as err:  # noqa: BLE001 - an unscored task is reported as such
            error = error or f"judge: {type(err).__name__}"
    await conversation.close()
    judged = round(mean(scores), 2) if scores else None
    return {
        **asdict(task),
        "answer": answer,
        "tool_calls": [m.content for m in messages if m.kind == "tool_call"],
        "exact": None if task.expected is None else task.expected.lower() in transcript.lower(),
        "judge": scores,
        "score": judged,
        "seconds": seconds,
        "models": sorted({m.model for m in messages if m.model}),
        "error": error,
    }


def summary_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r["score"] for r in results if r["score"] is not None]
    exact = [r["exact"] for r in results if r["exact"] is not None]
    return {
        "mean_score": round(sum(scored) / len(scored), 2) if scored else None,
        "exact_passed": sum(exact),
        "exact_total": len(exact),
    }


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind = {}
    for kind in KINDS:
        chosen = [r["score"] for r in results if r["kind"] == kind and r["score"] is not None]
        if chosen:
            by_kind[kind] = round(sum(chosen) / len(chosen), 2)
    return {
        "tasks": len(results),
        **summary_of(results),
        "by_kind": by_kind,
        "errors": sum(1 for r in results if r["error"]),
        "seconds": round(sum(r["seconds"] for r in results), 1),
    }


def markdown(report: dict[str, Any]) -> str:
    total = report["summary"]
    lines = [
        f"# Evaluation run {report['id']}: {report['suite']}",
        "",
        f"{report['created_at'][:19]} · {total['tasks']} tasks · mean judge score {total['mean_score']}"
        f" · exact {total['exact_passed']}/{total['exact_total']} · {total['seconds']} s",
        "",
        "| task | kind | lang | score | exact | seconds | answer |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        exact = "" if r["exact"] is None else ("pass" if r["exact"] else "fail")
        answer = " ".join((r["answer"] or r["error"] or "").split())[:80].replace("|", "\\|")
        lines.append(f"| {r['id']} | {r['kind']} | {r['lang']} | {r['score']} | {exact} | {r['seconds']} | {answer} |")
    return "\n".join(lines) + "\n"


async def run_tasks(tasks: list[Task], prompts: dict[str, str], progress=None) -> list[dict[str, Any]]:
    """Each task through the team in its own scratch data folder, speaking with `prompts`
    (role -> text) and the user's model and tool settings; the user's data is untouched."""
    main_home = data_dir()
    scratch = Path(tempfile.mkdtemp(prefix="society-eval-"))
    results = []
    try:
        for index, task in enumerate(tasks):
            home = scratch / task.id
            home.mkdir()
            for setting in COPIED_SETTINGS:
                if (main_home / setting).exists():
                    shutil.copy(main_home / setting, home / setting)
            results.append(await _run_task(task, home, prompts))
            if progress:
                progress(index + 1, len(tasks), results[-1])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


async def run_suite(path: Path, limit: int | None = None, progress=None) -> dict[str, Any]:
    """Run the suite and keep its report; the report."""
    name, tasks = load_suite(path)
    tasks = tasks[:limit] if limit else tasks
    from roles import ROLE_NAMES
    from society.prompt_book import PromptBook

    store = Store()
    book = PromptBook(store)
    prompts = {role: book.current(role).text for role in ROLE_NAMES}
    results = await run_tasks(tasks, prompts, progress)
    main_home = data_dir()
    report = {"suite": name, "path": str(path), "created_at": now(), "results": results, "summary": summary(results)}
    with store.engine.begin() as conn:
        added = eval_runs.insert().values(suite=name, report="{}", markdown="", created_at=report["created_at"])
        report["id"] = conn.execute(added.returning(eval_runs.c.id)).scalar_one()
        conn.execute(
            update(eval_runs)
            .where(eval_runs.c.id == report["id"])
            .values(report=json.dumps(report, ensure_ascii=False), markdown=markdown(report))
        )
    folder = main_home / "evals"
    folder.mkdir(exist_ok=True)
    (folder / f"run-{report['id']}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / f"run-{report['id']}.md").write_text(markdown(report), encoding="utf-8")
    return report


def load_run(run_id: int, store: Store | None = None) -> dict[str, Any]:
    with (store or Store()).engine.connect() as conn:
        row = conn.execute(select(eval_runs.c.report).where(eval_runs.c.id == run_id)).first()
    if row is None:
        raise EvalError(f"no evaluation run {run_id}; run one with `society eval SUITE.yaml`")
    return json.loads(row[0])


def _shown(score: float | None) -> str:
    return "-" if score is None else f"{score:.2f}"


def _difference(new: float | None, old: float | None) -> str:
    return "-" if new is None or old is None else f"{new - old:+.2f}"


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Per-task and total differences of run `b` against run `a`."""
    earlier = {r["id"]: r for r in a["results"]}
    lines = [
        f"run {a['id']} ({a['suite']}) -> run {b['id']} ({b['suite']})",
        f"{'task':<22} {'A':>6} {'B':>6} {'diff':>6}  exact",
    ]
    for r in b["results"]:
        old = earlier.get(r["id"])
        if old is None:
            continue
        exact = (
            "" if r["exact"] is None else f"{'pass' if old['exact'] else 'fail'} -> {'pass' if r['exact'] else 'fail'}"
        )
        diff = _difference(r["score"], old["score"])
        lines.append(f"{r['id']:<22} {_shown(old['score']):>6} {_shown(r['score']):>6} {diff:>6}  {exact}")
    # Totals over the tasks both runs have, so a partial run compares fairly.
    common = [r["id"] for r in b["results"] if r["id"] in earlier]
    sa = summary_of([earlier[i] for i in common])
    sb = summary_of([r for r in b["results"] if r["id"] in earlier])
    exact = f"exact {sa['exact_passed']}/{sa['exact_total']} -> {sb['exact_passed']}/{sb['exact_total']}"
    diff = _difference(sb["mean_score"], sa["mean_score"])
    lines.append(
        f"{'total':<22} {_shown(sa['mean_score']):>6} {_shown(sb['mean_score']):>6} {diff:>6}  {exact}"
        f"  ({len(common)} tasks in both)"
    )
    return "\n".join(lines)
