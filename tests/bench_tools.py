"""Tool-use benchmark: can the embedded model call the right tool with the right arguments?

    uv run python tests/bench_tools.py [--limit N]

Each case of tests/data/tool_use_cases.jsonl (Japanese and English) is a user request with
the tool and arguments it should lead to. Every case is asked twice through the real gate
on the embedded SmolLM2-135M, with the executor's and researcher's seven tools offered:
once with constrained decoding (a llama.cpp grammar from the tools' JSON schema) and once
without (the same prompt; the reply parsed as JSON if it is JSON). Printed per mode: the
share of valid replies (a real tool with valid arguments, or an answer), of correct tool
choice, of correct arguments, and the mean latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
    options = parser.parse_args()
    os.environ.setdefault("SOCIETY_HOME", tempfile.mkdtemp(prefix="society-bench-"))

    from autogen_core.models import SystemMessage, UserMessage

    from roles.base import read_prompt
    from society.config import load_entries
    from society.gate import ModelGate
    from society.tools.approval import Guard
    from society.tools.files import file_tools
    from society.tools.settings import load_settings
    from society.tools.shell import shell_tools
    from society.tools.web import web_tools

    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    if options.limit:
        cases = cases[: options.limit]
    entries = [e for e in load_entries() if e.backend == "llama_cpp"]
    gate = ModelGate(entries, notify=lambda line: None)
    guard = Guard(load_settings())
    tools = [*file_tools(guard), *shell_tools(guard), *web_tools(guard)]
    system = SystemMessage(content=read_prompt("roles", "executor"))
    print(f"{len(cases)} cases, {len(tools)} tools, model {entries[0].model}")
    for constrained in (True, False):
        gate.constrain_tools = constrained
        valid = tool_right = args_right = 0
        latencies = []
        for case in cases:
            started = time.perf_counter()
            result = await gate.create(
                "executor", [system, UserMessage(content=case["prompt"], source="user")], tools=tools
            )
            latencies.append(time.perf_counter() - started)
            record = gate.last_call["executor"]
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


if __name__ == "__main__":
    asyncio.run(main())
