"""Tool-use benchmark: can the embedded model call the right tool with the right arguments?

    uv run python tests/bench_tools.py [--limit N] [--edits]
    uv run python tests/bench_tools.py --functions dev|test [--limit N] [--shuffle SEED] [--model NAME]

Each case of tests/data/tool_use_cases.jsonl (Japanese and English) is a user request with
the tool and arguments it should lead to. Every case is asked twice through the real gate
on the embedded SmolLM2-135M, with the executor's and researcher's seven tools offered:
once with constrained decoding (a llama.cpp grammar from the tools' JSON schema) and once
without (the same prompt; the reply parsed as JSON if it is JSON). Printed per mode: the
share of valid replies (a real tool with valid arguments, or an answer), of correct tool
choice, of correct arguments, and the mean latency.

Then the edit cases are carried out for real: the file is made with the text to replace in
it, the model's edit_file call is run, and the file is checked. Printed with the gate's
grounding of old_text in the file's own text and without it.

With --functions, the cases are instead those of tests/function_cases.py (a request, one to
four functions of its own, one call expected), half "dev" (tuned on) or "test" (reported).
Printed per half and kind: accuracy (the right function with every argument accepted), the
accuracy of the model's raw first reply (its call before the gate's holding), the share of
valid calls (a call of an offered function whose arguments fit its schema), of loops
(replies cut off at the token limit) and the mean seconds per item. A call the holding made
worse than the model's own is printed (WORSE) whatever BENCH_VERBOSE says.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.bench_models import MODELS, use_model  # noqa: E402

CASES = Path(__file__).parent / "data" / "tool_use_cases.jsonl"


def argument_matches(expected: dict, actual: dict) -> bool:
    """Each expected value must appear (case-insensitively) in the argument of that name."""
    for name, value in expected.items():
        got = actual.get(name)
        if not isinstance(got, str) or value.lower() not in got.lower():
            return False
    return True


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="only the first N cases")
    parser.add_argument("--edits", action="store_true", help="only the edits carried out")
    parser.add_argument("--functions", choices=("dev", "test"), help="the function-calling cases of this half")
    parser.add_argument(
        "--shuffle", type=int, metavar="SEED", help="the cases in a random order: few share the last one's functions"
    )
    parser.add_argument("--model", choices=MODELS, help="this embedded model instead of the model list's")
    options = parser.parse_args()
    if options.model:
        use_model(options.model)
    os.environ.setdefault("SOCIETY_HOME", tempfile.mkdtemp(prefix="society-bench-"))
    if options.functions:
        await function_calling(options.functions, options.limit, options.shuffle)
        return

    from autogen_core.models import SystemMessage, UserMessage

    from roles.base import read_prompt
    from society.models.config import load_entries
    from society.models.gate import ModelGate
    from society.models.turns import Turn, in_turn
    from society.toolcalls.client import tool_calls
    from society.tools.approval import Guard
    from society.tools.files import edit_grounder, file_tools
    from society.tools.settings import load_settings
    from society.tools.shell import shell_tools
    from society.tools.web import web_tools

    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    if options.limit:
        cases = cases[: options.limit]
    entries = [e for e in load_entries() if e.backend == "llama_cpp"]
    loaded = {entries[0].model: ModelGate(entries).clients.client_for(entries[0])}  # one model load for every mode

    def gate_with(**options) -> ModelGate:
        return ModelGate(entries, clients=loaded, notify=lambda line: None, wrap=tool_calls(**options))

    guard = Guard(load_settings())
    tools = [*file_tools(guard), *shell_tools(guard), *web_tools(guard)]
    system = SystemMessage(content=read_prompt("roles", "executor"))
    print(f"{len(cases)} cases, {len(tools)} tools, model {entries[0].model}")
    for constrained in () if options.edits else (True, False):
        gate = gate_with(constrain=constrained)
        valid = tool_right = args_right = 0
        latencies = []
        for case in cases:
            started = time.perf_counter()
            with in_turn(Turn()) as turn:
                result = await gate.create(
                    "executor", [system, UserMessage(content=case["prompt"], source="user")], tools=tools
                )
            latencies.append(time.perf_counter() - started)
            record = turn.calls["executor"]
            valid += bool(record.valid_tool_reply)
            if isinstance(result.content, list):
                call = result.content[0]
                name, arguments = call.name, json.loads(call.arguments)
            else:
                name, arguments = ("answer" if record.valid_tool_reply else "(invalid)"), {}
            if name == case["tool"]:
                tool_right += 1
                args_right += argument_matches(case["args"], arguments)
        n = len(cases)
        label = "constrained  " if constrained else "unconstrained"
        print(
            f"{label}: valid {valid / n:6.1%}  right tool {tool_right / n:6.1%}  right arguments {args_right / n:6.1%}"
            f"  mean latency {statistics.mean(latencies):.2f} s"
        )
    edits = [case for case in cases if case["tool"] == "edit_file"]
    for grounded in (True, False):
        gate = gate_with(grounders={"edit_file": edit_grounder(guard)} if grounded else {})
        landed = 0
        for case in edits:
            landed += await edit_lands(gate, guard, system, tools, case)
        label = "edits with grounding   " if grounded else "edits without grounding"
        print(f"{label}: {landed}/{len(edits)} files edited as asked")


FUNCTION_SYSTEM = "You are a helpful assistant. When a function does what the user asks, call it."


async def function_calling(split: str, limit: int, shuffle: int | None = None) -> None:
    from autogen_core.models import SystemMessage, UserMessage

    from society.models.config import load_entries
    from society.models.gate import ModelGate
    from society.models.turns import Turn, in_turn
    from society.toolcalls.client import tool_calls
    from tests.function_cases import cases

    items = cases(split)
    if shuffle is not None:
        # Cases come grouped by function set, so each prompt mostly repeats the last one's and
        # llama.cpp reads little; shuffled, each item's tool list is read afresh, as a harness
        # whose items each bring their own functions would have it.
        random.Random(shuffle).shuffle(items)
    items = items[: limit or None]
    entries = [e for e in load_entries() if e.backend == "llama_cpp"]
    gate = ModelGate(entries, notify=lambda line: None, wrap=tool_calls())
    print(f"{len(items)} {split} cases, model {entries[0].model}")
    rows = []
    for case in items:
        started = time.perf_counter()
        messages = [SystemMessage(content=FUNCTION_SYSTEM), UserMessage(content=case["question"], source="user")]
        with in_turn(Turn()) as turn:
            result = await gate.create("executor", messages, tools=case["functions"])
        seconds = time.perf_counter() - started
        called = result.content[0] if isinstance(result.content, list) else None
        right, valid, arguments = judged(case, called)
        record = turn.calls["executor"]
        raw = (record.first_calls or [None])[0]
        raw_right = judged(case, raw)[0]
        loop = bool(record.cut_off)  # cut off at the token limit: a reply that repeated itself
        rows.append({**case, "right": right, "raw": raw_right, "valid": valid, "loop": loop, "seconds": seconds})
        if os.environ.get("BENCH_VERBOSE") or (raw_right and not right):
            mark = "ok " if right else "BAD" if not raw_right else "WORSE"
            raw_text = (
                f" (raw {json.loads(raw.arguments)})"
                if raw and raw.arguments != getattr(called, "arguments", None)
                else ""
            )
            said = called.name if called else result.content
            print(f"{mark} {case['question'][:60]!r} -> {said!r} {arguments}{raw_text}")
    for label, chosen in (
        ("all", rows),
        ("one function", [r for r in rows if r["kind"] == "one function"]),
        ("several functions", [r for r in rows if r["kind"] == "several functions"]),
        ("Japanese requests", [r for r in rows if r["japanese"]]),
    ):
        if chosen:
            print(f"{split} {label:18s} ({len(chosen):3d}): " + figures(chosen))


def judged(case: dict, called) -> tuple[bool, bool, dict]:
    """(right, valid, arguments) of one call for one case: valid is a call of an offered
    function whose arguments fit its schema; right also the expected function and values."""
    from society.toolcalls.schema import valid_arguments
    from tests.function_cases import call_matches

    schema = next((f for f in case["functions"] if called and f["name"] == called.name), None)
    arguments = json.loads(called.arguments) if called else {}
    valid = schema is not None and valid_arguments(arguments, schema)
    right = (
        valid
        and called.name == case["expected"]["name"]
        and call_matches(case["expected"]["arguments"], arguments, schema["parameters"])
    )
    return right, valid, arguments


def figures(rows: list[dict]) -> str:
    def share(key: str) -> float:
        return sum(r[key] for r in rows) / len(rows)

    return (
        f"accuracy {share('right'):6.1%}  raw first reply {share('raw'):6.1%}"
        f"  valid calls {share('valid'):6.1%}  loops {share('loop'):5.1%}"
        f"  {statistics.mean(r['seconds'] for r in rows):.2f} s/item"
    )


def sample_text(old: str) -> str:
    """A file with `old` once in it, among other text."""
    return f"今日の{old}は早い。\n明日も。\n" if not old.isascii() else f"# notes\nThe {old} one stays here.\nend\n"


async def edit_lands(gate, guard, system, tools, case: dict) -> bool:
    from autogen_core import CancellationToken
    from autogen_core.models import UserMessage

    old, new = case["args"]["old_text"], case["args"]["new_text"]
    path = guard.settings.workspace / case["args"]["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sample_text(old), encoding="utf-8")
    result = await gate.create("executor", [system, UserMessage(content=case["prompt"], source="user")], tools=tools)
    if not isinstance(result.content, list) or result.content[0].name != "edit_file":
        return False
    edit = next(tool for tool in tools if tool.name == "edit_file")
    try:
        await edit.run_json(json.loads(result.content[0].arguments), CancellationToken())
    except Exception:  # noqa: BLE001 - a refused edit is a miss, not a crash
        return False
    return path.read_text(encoding="utf-8") == sample_text(old).replace(old, new, 1)


if __name__ == "__main__":
    asyncio.run(main())
