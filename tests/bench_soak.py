"""Soak benchmark (a script, not a test): `python tests/bench_soak.py [TURNS]`.

Four doors talk to one conversation at once for TURNS turns (default 200) on a scripted
model (a local OpenAI-compatible stand-in that answers in 50 ms): the HTTP API, a WebSocket
that disconnects at random, headless `society run` processes of which some are SIGKILLed at
random moments, and a terminal chat fed through a pipe. Afterwards it checks, and prints:
every acknowledged message is in the database, no turn's messages are interleaved with
another's, no turn is left 'running', the database passes `integrity_check`, and the API
answered after every kill.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GENERATION_S = 0.05


def stand_in_model(stack: contextlib.ExitStack) -> str:
    """An OpenAI-compatible server that answers every chat with the question's first words."""
    from tests.conftest import chat_completion, recording_server

    def answer(method: str, path: str, body: dict) -> tuple[int, dict]:
        if method == "GET":
            return 200, {"object": "list", "data": [{"id": "stand-in", "object": "model"}]}
        asked = next((m["content"] for m in reversed(body.get("messages", [])) if m["role"] == "user"), "")
        time.sleep(GENERATION_S)
        return 200, chat_completion(f"Answer to: {str(asked)[:40]}")

    url, _ = stack.enter_context(recording_server(answer))
    return f"{url}/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Soak:
    def __init__(self, turns: int):
        self.turns = turns
        self.home = Path(tempfile.mkdtemp(prefix="society-soak-"))
        config = self.home / "models.json"
        self.stack = contextlib.ExitStack()
        entry = {"model": "stand-in", "api_type": "openai", "base_url": stand_in_model(self.stack), "max_tokens": 32}
        config.write_text(json.dumps([entry]))
        self.env = {
            **os.environ,
            "SOCIETY_HOME": str(self.home),
            "SOCIETY_CONFIG": str(config),
            "SOCIETY_JUDGE": "0",
            "SOCIETY_LEARN": "0",
            "PYTHONPATH": str(ROOT),
        }
        self.port = free_port()
        self.acknowledged: list[str] = []  # texts whose storing a door confirmed
        self.started = 0
        self.kills = 0
        self.waits = 0  # 429s the API door waited out
        self.api_after_kill: list[bool] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def claim(self) -> int | None:
        with self.lock:
            if self.started >= self.turns:
                return None
            self.started += 1
            return self.started

    def ack(self, text: str) -> None:
        with self.lock:
            self.acknowledged.append(text)

    # -- doors -----------------------------------------------------------------------------

    def api_door(self) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120) as client:
            while (n := self.claim()) is not None:
                text = f"api question {n}"
                reply = client.post("/chat", json={"message": text})
                while reply.status_code == 429:  # the per-client budget: a client waits as told
                    self.waits += 1
                    time.sleep(float(reply.headers.get("retry-after", 5)))
                    reply = client.post("/chat", json={"message": text})
                if reply.status_code == 200:
                    self.ack(text)
                else:
                    self.errors.append(f"api {reply.status_code}: {reply.text[:120]}")

    def websocket_door(self) -> None:
        import asyncio

        import websockets

        async def run() -> None:
            while (n := self.claim()) is not None:
                text = f"socket question {n}"
                try:
                    async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=30) as ws:
                        await ws.send(json.dumps({"message": text}))
                        first = json.loads(await asyncio.wait_for(ws.recv(), 120))
                        if first.get("type") == "message":
                            self.ack(text)  # the user's message came back stored
                        elif first.get("type") == "error":
                            self.errors.append(f"socket: {first.get('detail', first)}"[:160])
                            await asyncio.sleep(5)  # refused (the budget): a client waits
                        if random.random() < 0.5:
                            continue  # leave mid-turn
                        while json.loads(await asyncio.wait_for(ws.recv(), 120)).get("type") not in ("done", "error"):
                            pass
                except websockets.InvalidStatus as err:  # refused before it opened (the budget: 403)
                    self.errors.append(f"socket: {err}"[:160])
                    await asyncio.sleep(5)
                except (websockets.ConnectionClosed, TimeoutError, OSError) as err:
                    self.errors.append(f"socket: {type(err).__name__}: {err}"[:160])

        asyncio.run(run())

    def run_door(self) -> None:
        while (n := self.claim()) is not None:
            text = f"headless question {n}"
            proc = subprocess.Popen(
                [sys.executable, "-m", "society.cli", "run", "--json", text],
                env=self.env,
                cwd=self.home,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            if random.random() < 0.3:
                time.sleep(random.uniform(0.5, 8.0))  # in start-up, waiting for the turn, or mid-turn
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    with self.lock:
                        self.kills += 1
                    proc.wait()
                    self.api_after_kill.append(self.api_usable())
                    continue
            out, _ = proc.communicate(timeout=300)
            if proc.returncode == 0:
                self.ack(text)

    def chat_door(self) -> None:
        lines = []
        while (n := self.claim()) is not None and len(lines) < self.turns // 8:
            lines.append(f"terminal question {n}")
        if not lines:
            return
        proc = subprocess.run(
            [sys.executable, "-m", "society.cli", "chat"],
            input="\n".join(lines) + "\n/quit\n",
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        for line in lines:
            if "Answer to: " + line[:29] in proc.stdout:
                self.ack(line)

    def api_usable(self) -> bool:
        """The API answers (a 429 is an answer: the doors share one client's budget)."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/history?last=1", timeout=30).status_code in (200, 429)
        except httpx.HTTPError:
            return False

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        server = subprocess.Popen(
            [sys.executable, "-m", "society.cli", "ui", "--port", str(self.port)],
            env=self.env,
            cwd=self.home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while not self.api_usable():
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.5)
            started = time.perf_counter()
            doors = [self.api_door, self.websocket_door, self.run_door, self.run_door, self.chat_door]
            threads = [threading.Thread(target=door) for door in doors]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.report(time.perf_counter() - started)
        finally:
            server.terminate()
            server.wait(30)
            self.stack.close()

    def report(self, seconds: float) -> None:
        database = sqlite3.connect(self.home / "society.db")
        integrity = database.execute("PRAGMA integrity_check").fetchone()[0]
        rows = database.execute("SELECT id, turn_id, role, content FROM messages ORDER BY id").fetchall()
        statuses = dict(database.execute("SELECT status, COUNT(*) FROM turns GROUP BY status").fetchall())
        stored_questions = {content for _, _, role, content in rows if role == "user"}
        lost = [text for text in self.acknowledged if text not in stored_questions]
        turn_order = [turn for _, turn, _, _ in rows]
        interleaved = sum(1 for a, b in zip(turn_order, turn_order[1:], strict=False) if b < a)
        finished = {}
        for _, turn, _, _ in rows:
            finished.setdefault(turn, 0)
        print(f"soak: {self.started} turns started through 4 doors in {seconds:.0f} s; turns by status: {statuses}")
        print(f"  acknowledged messages: {len(self.acknowledged)}; lost: {len(lost)} {lost[:3]}")
        print(f"  messages out of turn order (interleaved): {interleaved}")
        print(f"  turns left 'running': {statuses.get('running', 0)}; integrity_check: {integrity}")
        print(f"  society run processes SIGKILLed: {self.kills}; API usable after each: {all(self.api_after_kill)}")
        print(f"  door errors: {len(self.errors)} {self.errors[:3]}; API refusals waited out (429): {self.waits}")


if __name__ == "__main__":
    Soak(int(sys.argv[1]) if len(sys.argv) > 1 else 200).run()
