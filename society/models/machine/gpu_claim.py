"""Learning takes the GPU from the chat while it trains.

A 6 GB card holds Ollama's 7B model or a QLoRA run, not both. So a learning cycle that
trains on the GPU first takes the machine-wide model lock (waiting for a chat call in
flight), asks Ollama to unload what it holds (an empty /api/chat with keep_alive 0, as
Ollama documents), and writes a claim beside the lock saying who holds the GPU. While the
claim's process lives, the ladder skips every rung that needs the GPU and the chat answers
from a CPU rung (and says so); those calls do not wait for the lock the trainer holds, as
they touch no VRAM. The claim goes when the cycle ends, or with its process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from society.paths import model_lock_path

LOCK_TIMEOUT_S = 900
UNLOAD_WAIT_S = 15.0


def claim_path() -> Path:
    return model_lock_path().with_name("society-gpu-claim.json")


def read_claim() -> str | None:
    """Who holds the GPU, as "learning (pid 123)", while that process lives; else None."""
    import psutil

    try:
        claim = json.loads(claim_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pid = claim.get("pid")
    if not isinstance(pid, int) or not psutil.pid_exists(pid):
        return None
    return f"{claim.get('by', 'another program')} (pid {pid})"


def claim_of_another() -> str | None:
    """Who holds the GPU when it is a live process other than this one (read_claim's line)."""
    claim = read_claim()
    return None if claim is None or claim.endswith(f"(pid {os.getpid()})") else claim


def unload_ollama(base_url: str) -> list[str]:
    """Ask the Ollama at `base_url` to unload every model it holds and wait until it has;
    the models unloaded ([] when Ollama is not running)."""
    import httpx

    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            held = [m["name"] for m in client.get("/api/ps").json().get("models", [])]
            for name in held:
                client.post("/api/chat", json={"model": name, "messages": [], "keep_alive": 0}).raise_for_status()
            deadline = time.monotonic() + UNLOAD_WAIT_S
            while held and time.monotonic() < deadline:
                if not client.get("/api/ps").json().get("models"):
                    break
                time.sleep(0.25)
            return held
    except httpx.TransportError:
        return []


@contextmanager
def claim_gpu(by: str, ollama_urls: list[str]) -> Iterator[list[str]]:
    """Hold the GPU for `by` (see the module docstring); yields the Ollama models unloaded."""
    from filelock import FileLock

    lock = FileLock(str(model_lock_path()), thread_local=False, mode=0o666)
    lock.acquire(timeout=LOCK_TIMEOUT_S)
    path = claim_path()
    try:
        path.write_text(json.dumps({"pid": os.getpid(), "by": by, "since": time.time()}), encoding="utf-8")
        unloaded = [model for url in dict.fromkeys(ollama_urls) for model in unload_ollama(url)]
        yield unloaded
    finally:
        path.unlink(missing_ok=True)
        lock.release()
