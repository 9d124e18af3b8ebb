"""The OpenAI-compatible backend (vLLM, LM Studio, llama.cpp's server) against a stand-in that
records what it received: one leading system message, on the second turn too."""

from __future__ import annotations

from society.assemble import open_conversation
from society.models.config import ModelEntry
from society.models.gate import ModelGate
from society.storage.store import Store
from tests.conftest import chat_completion, recording_server


async def test_every_request_has_one_leading_system_message_turn_after_turn():
    with recording_server(lambda method, path, body: (200, chat_completion("Fine."))) as (url, received):
        store = Store()
        gate = ModelGate([ModelEntry("m", "openai", f"{url}/v1", max_tokens=16)], store, reachable={"m"})
        conversation = open_conversation(store, gate, enabled=["planner"])
        # A recalled memory is a system message placed just before the question.
        conversation.memory_bank.remember("The user's favourite colour is blue")
        try:
            for question in ("What is my favourite colour?", "Which colour do I like?", "My colour again?"):
                said = [m async for m in conversation.turn(question, reasoning=question.startswith("Which"))]
                assert said[-1].content == "Fine."
        finally:
            await conversation.close()
    chats = [r["body"] for r in received if r["path"].endswith("/chat/completions")]
    assert len(chats) >= 3
    for body in chats:
        roles = [m["role"] for m in body["messages"]]
        assert roles.count("system") == 1 and roles[0] == "system", roles
