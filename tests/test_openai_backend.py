"""The OpenAI-compatible backend (vLLM, LM Studio, llama.cpp's server) against a stand-in that
records what it received: one leading system message, on the second turn too."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from society.assemble import open_conversation
from society.config import ModelEntry
from society.gate import ModelGate
from society.store import Store


def recording_server():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            received.append(body)
            reply = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "Fine."}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
            }
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


async def test_every_request_has_one_leading_system_message_turn_after_turn():
    server, received = recording_server()
    try:
        store = Store()
        entry = ModelEntry("m", "openai", f"http://127.0.0.1:{server.server_port}/v1", max_tokens=16)
        gate = ModelGate([entry], store, reachable={"m"}, notify=lambda line: None)
        conversation = open_conversation(store, gate, enabled=["planner"])
        # A recalled memory is a system message placed just before the question.
        conversation.memory_bank.remember("The user's favourite colour is blue")
        try:
            for question in ("What is my favourite colour?", "Which colour do I like?", "My colour again?"):
                said = [m async for m in conversation.turn(question, reasoning=question.startswith("Which"))]
                assert said[-1].content == "Fine."
        finally:
            await conversation.close()
    finally:
        server.shutdown()
    assert len(received) >= 3
    for body in received:
        roles = [m["role"] for m in body["messages"]]
        assert roles.count("system") == 1 and roles[0] == "system", roles
