"""`uv run python -m tests.show_ollama_requests`: the request bodies the product sends to
Ollama for a plain turn, a reasoning turn (/think), a tool turn and the background judge and
summary calls, as the faithful stand-in (tests/ollama_standin.py) received them. Messages
are shortened to their role and first characters; everything else is as sent."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path


def shown(body: dict) -> dict:
    short = dict(body)
    short["messages"] = [f"{m['role']}: {str(m.get('content'))[:60]!r}" for m in body.get("messages", [])]
    if short.get("tools"):
        short["tools"] = [t["function"]["name"] for t in body["tools"]]
    if isinstance(short.get("format"), dict):
        short["format"] = json.dumps(body["format"])[:120] + "..."
    return short


async def main() -> None:
    os.environ["SOCIETY_HOME"] = tempfile.mkdtemp()
    os.environ["SOCIETY_LEARN"] = "0"
    from autogen_core.models import UserMessage

    from society.storage.store import Store
    from tests.ollama_standin import OllamaStandin
    from tests.test_ollama import gate_over, ladder, turn

    standin = OllamaStandin()
    server, url = standin.serve()
    store = Store()
    gate = gate_over(standin, ladder(Path(tempfile.mkdtemp()), url), store)
    os.environ["SOCIETY_JUDGE"] = "0"
    cases = []

    async def case(name: str, work) -> None:
        before = len(standin.chats())
        await work()
        cases.append((name, standin.chats()[before:]))

    await case("plain turn", lambda: turn(gate, store, "What is the capital of France?"))
    standin.replies.append({"content": "42.", "thinking": "Six times seven is forty-two."})
    await case("/think turn", lambda: turn(gate, store, "What is six times seven?", think=True))
    standin.replies += [
        {"content": "Sure, I will keep that in mind."},
        {"content": json.dumps({"tool": "remember", "arguments": {"content": "My cat is called Tama"}})},
        {"content": "I will remember that."},
    ]
    await case(
        "tool turn (memory keeper)",
        lambda: turn(gate, store, "@memory_keeper remember my cat is Tama", roles=("planner", "memory_keeper")),
    )
    ask = [UserMessage(content="Summarise the conversation so far.", source="user")]
    await case("background summary", lambda: gate.create_recorded("summarizer", ask))
    standin.loaded.clear()
    standin.replies.append({"content": json.dumps({"helpful": 8, "correct": 9, "honest": 9, "reason": "right"})})
    scores = {"type": "object", "properties": {"helpful": {"type": "integer"}}, "required": ["helpful"]}
    await case("background judge (model not loaded)", lambda: gate.create_recorded("judge", ask, json_schema=scores))
    server.shutdown()
    for name, bodies in cases:
        print(f"== {name}: {len(bodies)} request(s)")
        for body in bodies:
            print(json.dumps(shown(body), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
