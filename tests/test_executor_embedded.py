"""The executor with the real embedded model and constrained decoding, through the team."""

import json

import pytest

from society.assemble import open_conversation
from society.paths import data_dir

pytestmark = pytest.mark.slow


async def executor_turn(conversation, text):
    messages = [m async for m in conversation.turn(text)]
    calls = [m for m in messages if m.kind == "tool_call"]
    results = [m for m in messages if m.kind == "tool_result"]
    return calls, results


async def test_the_executor_creates_edits_and_reads_back_a_file():
    conversation = open_conversation(enabled=["planner", "executor"])
    notes = data_dir() / "workspace" / "notes.txt"
    try:
        calls, results = await executor_turn(conversation, "@executor write hello world to notes.txt")
        assert calls and calls[0].content.startswith("write_file(")
        assert json.loads(calls[0].content[len("write_file(") : -1])["path"] == "notes.txt"
        assert notes.exists() and results[0].content.startswith("write_file returned: wrote")
        written = notes.read_text()

        calls, results = await executor_turn(conversation, "@executor in notes.txt change hello to goodbye")
        # SmolLM2-135M's own old_text is rarely text of the file; the gate grounds it in the
        # file's text (society/tools/files.py, edit_grounder), so the edit lands.
        assert calls and calls[0].content.startswith("edit_file(")
        assert results[0].content == "edit_file returned: replaced 1 occurrence in notes.txt"
        edited = notes.read_text()
        assert edited != written and "goodbye" in edited.lower()

        calls, results = await executor_turn(conversation, "@executor show notes.txt")
        assert calls and calls[0].content.startswith("read_file(")
        assert edited.strip() in results[0].content
    finally:
        await conversation.close()
