"""Load on a shared server: USERS users each send TURNS turns at once through the real
`society ui` (the API over HTTP), on Postgres with a Chroma server and WORKERS worker
processes, then the same on SQLite with one worker, for comparison.

    uv run python tests/bench_server.py [--users 10] [--turns 10] [--workers 2]

The model is an OpenAI-compatible stand-in with a 7B model's delays on a GPU box (first token
FIRST_TOKEN_S, then TOKEN_S a token, PARALLEL requests at once), declared in the model list
as a server elsewhere, so calls from every worker share its room as a real household
server's would. Its answer repeats the message it answers, so each reply is checked against
its own question. Judging and learning are off (their own benchmarks measure them); the
rolling summary and memory (recall, consolidation, embeddings) run as in use.

Printed per setup: turns answered and failed, messages lost (a sent message, or its answer,
missing from the user's history), users whose history is out of order or holds another
user's words, latency p50/p95/max (and p95 without each user's first turn, which opens their
conversation), turns per second, and the turns /metrics counts across every worker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIRST_TOKEN_S = 0.25
TOKEN_S = 0.02  # 50 tokens a second
PARALLEL = 4
BOX_MB = 24_576


def model_server() -> tuple[ThreadingHTTPServer, str]:
    """The stand-in GPU box: answers "Noted: <the last user message>" with a 7B's delays."""
    from tests.conftest import as_event_stream, chat_completion

    room = threading.Semaphore(PARALLEL)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
            body = json.loads(raw) if raw else {}
            if self.path.endswith("/models"):
                answer, kind = json.dumps({"object": "list", "data": [{"id": "box-7b"}]}).encode(), "application/json"
            else:
                asked = [m for m in body.get("messages", []) if m.get("role") == "user"]
                text = asked[-1]["content"] if asked else ""
                text = text if isinstance(text, str) else json.dumps(text)
                reply = f"Noted: {text.strip()}"
                with room:  # the server's own queue
                    time.sleep(FIRST_TOKEN_S + TOKEN_S * len(reply) / 4)
                completion = chat_completion(reply)
                if body.get("stream"):
                    answer, kind = as_event_stream(completion), "text/event-stream"
                else:
                    answer, kind = json.dumps(completion).encode(), "application/json"
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = _reply

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


OWNER_TOKEN = "bench-owner-token"  # /metrics is the server owner's


def start_society(home: Path, env: dict[str, str], workers: int) -> tuple[subprocess.Popen, str]:
    import httpx

    from tests.servers import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "society.cli", "ui", "--port", str(port), "--workers", str(workers)],
        cwd=home,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            if process.poll() is not None:
                raise SystemExit(f"society ui stopped: {process.stderr.read()[-2000:]}") from None
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("society ui did not start in 180 s")


async def one_user(
    base: str, name: str, token: str, turns: int, latencies: list[float], failures: list[str], warm: list | None = None
):
    import httpx

    sent = []
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=600) as api:
        for index in range(turns):
            message = f"{name} turn {index}: remember the number {index * 7 + len(name)}."
            started = time.perf_counter()
            try:
                reply = await api.post("/chat", json={"message": message})
            except httpx.HTTPError as err:
                failures.append(f"{name} {index}: {type(err).__name__}")
                continue
            latencies.append(time.perf_counter() - started)
            if warm is not None and index > 0:  # the first opens the user's conversation (loads, migrations)
                warm.append(latencies[-1])
            if reply.status_code != 200:
                failures.append(f"{name} {index}: HTTP {reply.status_code} {reply.text[:200]}")
                continue
            if message not in reply.json()["answer"]:  # its own answer, not another turn's
                failures.append(f"{name} {index}: answered {reply.json()['answer'][:80]!r}")
            sent.append(message)
        read = await api.get("/history", params={"last": 1000})
        if read.status_code != 200:
            failures.append(f"{name} history: HTTP {read.status_code} {read.text[:200]}")
            return sent, []
        return sent, read.json()


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def check_history(name: str, sent: list[str], history: list[dict]) -> tuple[int, bool, bool]:
    """(messages lost, in order, only this user's words) of one user's conversation."""
    said = [m["content"] for m in history if m["role"] == "user"]
    answers = [m["content"] for m in history if m["role"] != "user" and m["kind"] == "text"]
    lost = sum(1 for m in sent if m not in said) + sum(1 for m in sent if not any(m in a for a in answers))
    in_order = said == [m for m in sent if m in said]
    own = all(m.startswith(f"{name} turn ") for m in said)
    return lost, in_order, own


def run_setup(label: str, env: dict[str, str], workers: int, users: int, turns: int, model_url: str) -> dict:
    import httpx

    home = Path(tempfile.mkdtemp(prefix="society-bench-server-"))
    env = {**env, "SOCIETY_HOME": str(home), "SOCIETY_JUDGE": "0", "SOCIETY_LEARN": "0"}
    ladder = [
        {
            "model": "box-7b",
            "api_type": "openai",
            "base_url": f"{model_url}/v1",
            "api_key": "unused",
            "server_vram_mb": BOX_MB,
            "parallel": PARALLEL,
            "context_window": 8192,
        }
    ]
    (home / "models.json").write_text(json.dumps(ladder), encoding="utf-8")
    env["SOCIETY_CONFIG"] = str(home / "models.json")
    if "vector_server" in env:
        (home / "memory.json").write_text(json.dumps({"vector_server": env.pop("vector_server")}), encoding="utf-8")
    os.environ["SOCIETY_HOME"] = str(home)  # users.json of this server
    from society.storage import users as registry

    tokens = {f"user{i:02d}": registry.add(f"user{i:02d}") for i in range(users)}
    process, base = start_society(home, {**env, "SOCIETY_API_TOKEN": OWNER_TOKEN}, workers)
    latencies: list[float] = []
    warm: list[float] = []
    failures: list[str] = []

    async def everyone():
        return await asyncio.gather(
            *(one_user(base, name, token, turns, latencies, failures, warm) for name, token in tokens.items())
        )

    started = time.perf_counter()
    try:
        results = asyncio.run(everyone())
        wall = time.perf_counter() - started
        metrics = httpx.get(f"{base}/metrics", headers={"authorization": f"Bearer {OWNER_TOKEN}"})  # the owner's
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    lost = out_of_order = mixed = 0
    for name, (sent, history) in zip(tokens, results, strict=True):
        missing, in_order, own = check_history(name, sent, history)
        lost += missing
        out_of_order += not in_order
        mixed += not own
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.text.splitlines()
        if line.startswith('society_turns_total{status="done"}')
    )
    ordered = sorted(latencies)
    p95 = percentile(ordered, 0.95)
    figures = {
        "setup": label,
        "answered": len(latencies) - len([f for f in failures if "HTTP" in f]),
        "failed": len(failures),
        "lost": lost,
        "out_of_order": out_of_order,
        "mixed": mixed,
        "p50": statistics.median(ordered) if ordered else float("nan"),
        "p95": p95,
        "max": ordered[-1] if ordered else float("nan"),
        "warm_p95": percentile(sorted(warm), 0.95),
        "per_s": len(latencies) / wall,
        "metrics_done": counted,
        "wall": wall,
    }
    for failure in failures[:5]:
        print(f"  failure: {failure}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated: postgres, sqlite")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    from tests.servers import start_chroma, start_postgres

    server, model_url = model_server()
    rows = []
    try:
        if "postgres" not in skip:
            admin, stop_postgres = start_postgres()
            chroma, stop_chroma = start_chroma()
            try:
                env = {"SOCIETY_DATABASE_URL": admin, "vector_server": chroma}
                label = f"Postgres + Chroma server, {args.workers} workers"
                rows.append(run_setup(label, env, args.workers, args.users, args.turns, model_url))
            finally:
                stop_chroma()
                stop_postgres()
        if "sqlite" not in skip:
            rows.append(run_setup("SQLite + local index, 1 worker", {}, 1, args.users, args.turns, model_url))
    finally:
        server.shutdown()
    total = args.users * args.turns
    print(f"\n{args.users} users x {args.turns} turns ({total} turns) on a stand-in 7B box ({PARALLEL} at once)")
    print(
        f"{'setup':<40} {'answered':>8} {'failed':>6} {'lost':>4} {'order':>5} {'mixed':>5}"
        f" {'p50 s':>6} {'p95 s':>6} {'max s':>6} {'warm p95':>8} {'turns/s':>7} {'/metrics':>8}"
    )
    for r in rows:
        print(
            f"{r['setup']:<40} {r['answered']:>8} {r['failed']:>6} {r['lost']:>4} {r['out_of_order']:>5}"
            f" {r['mixed']:>5} {r['p50']:>6.2f} {r['p95']:>6.2f} {r['max']:>6.2f} {r['warm_p95']:>8.2f}"
            f" {r['per_s']:>7.2f}"
            f" {r['metrics_done']:>8.0f}"
        )
    print("warm p95: every turn but each user's first (which opens their conversation: loads and migrations)")
    if len(rows) == 2:
        ratio, warm = rows[0]["p95"] / rows[1]["p95"], rows[0]["warm_p95"] / rows[1]["warm_p95"]
        print(f"p95 ratio (first / second setup): {ratio:.2f}, warm {warm:.2f}")


if __name__ == "__main__":
    main()
