"""The executor with the real embedded model and constrained decoding, through the team."""

import json

import pytest

from society.conversation import Conversation
from society.paths import data_dir

pytestmark = pytest.mark.slow


async def executor_turn(conversation, text):
    messages = [m async for m in conversation.turn(text)]
    calls = [m for m in messages if m.kind == "tool_call"]
    results = [m for m in messages if m.kind == "tool_result"]
    return calls, results


async def test_the_executor_creates_edits_and_reads_back_a_file():
    conversation = Conversation(enabled=["planner", "executor"])
    notes = data_dir() / "workspace" / "notes.txt"
    try:
        calls, results = await executor_turn(conversation, "@executor write hello world to notes.txt")
        assert calls and calls[0].content.startswith("write_file(")
        assert json.loads(calls[0].content[len("write_file(") : -1])["path"] == "notes.txt"
        assert notes.exists() and results[0].content.startswith("write_file returned: wrote")
        written = notes.read_text()

        calls, results = await executor_turn(conversation, "@executor in notes.txt change hello to goodbye")
        # The tool is chosen right and its call is valid; the 135M model's old_text is often
        # not text of the file, which edit_file refuses rather than guessing.
        assert calls and calls[0].content.startswith("edit_file(")
        assert results[0].content.startswith(("edit_file returned: replaced 1", "edit_file failed: ValueError"))

        calls, results = await executor_turn(conversation, "@executor show notes.txt")
        assert calls and calls[0].content.startswith("read_file(")
        assert notes.read_text().strip() in results[0].content
        assert written == notes.read_text() or "replaced 1" in " ".join(r.content for r in results)
    finally:
        await conversation.close()
