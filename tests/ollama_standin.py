"""A faithful stand-in for Ollama, for the machine this product is for (Ollama with 7B models
on a 6 GB card), where no Ollama or GPU can run.

A real HTTP server that records every request it RECEIVED (method, path, headers, body) and
answers as Ollama does, from its API docs and source:
- `/api/chat`, streamed (NDJSON, Ollama's default) or not: `thinking` apart from the content
  for models that can think (thinking by default; `think: false` turns it off; `think: true`
  on a model that cannot is a 400), `tool_calls` (a 400 for a model without tools), `format`
  recorded, and the prompt cut at `num_ctx` the way Ollama cuts it, oldest messages first,
  silently (each cut is counted in `truncated`). Context 4096 when no `num_ctx` is sent.
- Loading: a model is loaded at the context asked for; its size is weights + KV cache +
  compute buffer by Ollama's own estimate; other models are evicted to make room, and what
  still does not fit is offloaded to the CPU (`size_vram` < `size`). `keep_alive: 0` unloads
  after the answer (with no messages: at once, `done_reason: "unload"`).
- `/api/ps`, `/api/show` (architecture, parameter count, quantization, context length,
  capabilities), `/api/tags`, `/api/version`, `/api/blobs/<digest>` (HEAD and POST, digest
  checked) and `/api/create` (a model from a base and an adapter blob).
`card()` is the NVML reading such a machine would give, with what the stand-in has loaded.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from society.models.machine.hardware import GpuReading

MB = 2**20
DEFAULT_CONTEXT = 4096  # Ollama's default below 24 GB of VRAM
RTX_4050_MB = 6141  # as NVML reports the 6 GB laptop card
DESKTOP_MB = 450  # what the desktop holds on that card
CUDA_MINIMUM_MB = 457  # what Ollama keeps free on a CUDA card beyond a model's need


@dataclass(frozen=True)
class Model:
    name: str
    family: str
    parameter_size: str
    quantization: str
    file_bytes: int
    layers: int
    heads: int
    kv_heads: int
    embedding: int
    context_length: int
    vocab: int
    capabilities: tuple[str, ...]
    digest: str = ""

    def size_bytes(self, num_ctx: int) -> int:
        """Weights + f16 KV cache + Ollama's full-offload graph estimate (GraphSize)."""
        head_dim = self.embedding // self.heads
        kv = 2 * self.layers * num_ctx * self.kv_heads * head_dim * 2
        graph = 4 * 512 * max(1 + 4 * self.embedding + num_ctx * (1 + self.heads), self.embedding + self.vocab)
        return self.file_bytes + kv + graph

    def show(self) -> dict[str, Any]:
        arch = self.family
        return {
            "modelfile": f"FROM {self.name}",
            "parameters": "stop <|im_end|>",
            "template": "{{ .Prompt }}",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": self.family,
                "families": [self.family],
                "parameter_size": self.parameter_size,
                "quantization_level": self.quantization,
            },
            "model_info": {
                "general.architecture": arch,
                "general.parameter_count": int(float(self.parameter_size.rstrip("B")) * 1e9),
                f"{arch}.block_count": self.layers,
                f"{arch}.attention.head_count": self.heads,
                f"{arch}.attention.head_count_kv": self.kv_heads,
                f"{arch}.embedding_length": self.embedding,
                f"{arch}.context_length": self.context_length,
                f"{arch}.vocab_size": self.vocab,
                "tokenizer.ggml.tokens": None,  # Ollama leaves the long arrays out unless verbose
            },
            "capabilities": list(self.capabilities),
            "modified_at": "2026-11-01T00:00:00Z",
        }


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


# Figures of the real models (file sizes as `ollama list` gives them, shapes from their GGUF).
QWEN2_7B = Model(
    "qwen2:7b-instruct", "qwen2", "7.6B", "Q4_0", 4_431_388_000, 28, 28, 4, 3584, 32768, 152064, ("completion", "tools")
)
QWEN25_7B = Model(
    "qwen2.5:7b-instruct-q4_K_M",
    "qwen2",
    "7.6B",
    "Q4_K_M",
    4_683_087_000,
    28,
    28,
    4,
    3584,
    32768,
    152064,
    ("completion", "tools"),
)
DEEPSEEK_R1_7B = Model(
    "deepseek-r1:7b",
    "qwen2",
    "7.6B",
    "Q4_K_M",
    4_683_073_000,
    28,
    28,
    4,
    3584,
    131072,
    152064,
    ("completion", "thinking"),
)
QWEN2_1_5B = Model(
    "qwen2:1.5b-instruct-q4_K_M",
    "qwen2",
    "1.5B",
    "Q4_K_M",
    986_046_000,
    28,
    12,
    2,
    1536,
    32768,
    151936,
    ("completion", "tools"),
)
LAPTOP_MODELS = (DEEPSEEK_R1_7B, QWEN25_7B, QWEN2_7B, QWEN2_1_5B)


@dataclass
class Running:
    model: Model
    num_ctx: int
    size: int
    size_vram: int
    keep_alive: Any = None
    used_at: float = field(default_factory=time.monotonic)


Reply = dict[str, Any]  # {"content", "thinking", "tool_calls": [{"function": {"name", "arguments"}}]}


class OllamaStandin:
    """The stand-in's state: its models, what is loaded, the card, and what it received."""

    def __init__(self, models=LAPTOP_MODELS, card_mb: int = RTX_4050_MB, desktop_mb: int = DESKTOP_MB):
        self.models: dict[str, Model] = {m.name: replace(m, digest=m.digest or _digest(m.name)) for m in models}
        self.card_mb = card_mb
        self.desktop_mb = desktop_mb
        self.loaded: dict[str, Running] = {}
        self.blobs: set[str] = set()
        self.received: list[dict[str, Any]] = []
        self.truncated: list[int] = []  # messages Ollama dropped, per chat request that overflowed
        self.replies: list[Reply | Callable[[dict], Reply]] = []
        self.lock = threading.Lock()
        self.url = ""
        self.generation_s = 0.0  # how long each chat takes to answer, beside the others
        self.in_flight = 0
        self.most_in_flight = 0  # the most chats it was answering at once

    # -- what a test looks at ------------------------------------------------------------

    def chats(self) -> list[dict[str, Any]]:
        """The bodies of the /api/chat requests received, in order."""
        return [r["body"] for r in self.received if r["path"] == "/api/chat"]

    def card(self) -> GpuReading:
        used = self.desktop_mb + sum(r.size_vram for r in self.loaded.values()) // MB
        return GpuReading(name="NVIDIA GeForce RTX 4050 Laptop GPU", total_mb=self.card_mb, free_mb=self.card_mb - used)

    # -- Ollama's behaviour ----------------------------------------------------------------

    def _find(self, name: str) -> Model | None:
        return self.models.get(name) or self.models.get(f"{name}:latest")

    def _load(self, model: Model, num_ctx: int, keep_alive: Any) -> Running:
        running = self.loaded.get(model.name)
        if running is not None and running.num_ctx == num_ctx:
            running.used_at = time.monotonic()
            running.keep_alive = keep_alive
            return running
        self.loaded.pop(model.name, None)  # another context: a reload
        size = model.size_bytes(num_ctx)
        usable = (self.card_mb - self.desktop_mb - CUDA_MINIMUM_MB) * MB
        free = usable - sum(r.size_vram for r in self.loaded.values())
        if size > free:
            self.loaded.clear()  # the scheduler evicts idle models to make room
            free = usable
        running = Running(model, num_ctx, size, min(size, max(free, 0)), keep_alive)
        self.loaded[model.name] = running
        return running

    def _fit(self, messages: list[dict], num_ctx: int) -> tuple[list[dict], int]:
        """Ollama's truncation: the oldest messages go first until the prompt fits."""

        def tokens(m: dict) -> int:
            return len(str(m.get("content") or "")) // 4 + 4

        kept = list(messages)
        while len(kept) > 1 and sum(tokens(m) for m in kept) > num_ctx:
            kept.pop(0)
        dropped = len(messages) - len(kept)
        if dropped:
            self.truncated.append(dropped)
        return kept, sum(tokens(m) for m in kept)

    def chat(self, body: dict) -> tuple[int, Any, bool]:
        """(status, reply, streamed)."""
        model = self._find(str(body.get("model")))
        stream = body.get("stream", True)
        if model is None:
            return 404, {"error": f'model "{body.get("model")}" not found, try pulling it first'}, False
        think = body.get("think")
        if think and "thinking" not in model.capabilities:
            return 400, {"error": f'"{model.name}" does not support thinking'}, False
        if body.get("tools") and "tools" not in model.capabilities:
            return 400, {"error": f"registry.ollama.ai/library/{model.name} does not support tools"}, False
        options = body.get("options") or {}
        num_ctx = int(options.get("num_ctx") or DEFAULT_CONTEXT)
        messages = body.get("messages") or []
        keep_alive = body.get("keep_alive")
        if not messages and keep_alive in (0, "0", "0s"):
            self.loaded.pop(model.name, None)
            return 200, self._final(model, {"role": "assistant", "content": ""}, "unload", 0, 0), False
        self._load(model, num_ctx, keep_alive)
        kept, prompt_tokens = self._fit(messages, num_ctx)
        scripted = self.replies.pop(0) if self.replies else {"content": "A stand-in answer."}
        reply = scripted(body) if callable(scripted) else dict(scripted)
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content", "")}
        if "thinking" in model.capabilities and think is not False:
            message["thinking"] = reply.get("thinking", "Let me think this through.")
        if reply.get("tool_calls"):
            message["tool_calls"] = reply["tool_calls"]
        if keep_alive in (0, "0", "0s"):
            self.loaded.pop(model.name, None)
        num_predict = int(options.get("num_predict") or 128)
        done = self._final(model, message, "stop", prompt_tokens, min(num_predict, len(message["content"]) // 4 + 1))
        return 200, done, bool(stream)

    @staticmethod
    def _final(model: Model, message: dict, reason: str, prompt: int, completion: int) -> dict:
        return {
            "model": model.name,
            "created_at": "2026-11-30T00:00:00Z",
            "message": message,
            "done": True,
            "done_reason": reason,
            "total_duration": 1_000_000,
            "load_duration": 1000,
            "prompt_eval_count": prompt,
            "eval_count": completion,
            "eval_duration": 900_000,
        }

    def ps(self) -> dict:
        return {
            "models": [
                {
                    "name": r.model.name,
                    "model": r.model.name,
                    "size": r.size,
                    "size_vram": r.size_vram,
                    "digest": r.model.digest,
                    "context_length": r.num_ctx,
                    "expires_at": "2026-11-30T01:00:00Z",
                    "details": {"family": r.model.family, "quantization_level": r.model.quantization},
                }
                for r in self.loaded.values()
            ]
        }

    def tags(self) -> dict:
        return {
            "models": [
                {
                    "name": m.name,
                    "model": m.name,
                    "size": m.file_bytes,
                    "digest": m.digest,
                    "modified_at": "2026-11-01T00:00:00Z",
                    "details": {"family": m.family, "parameter_size": m.parameter_size},
                }
                for m in self.models.values()
            ]
        }

    def create(self, body: dict) -> tuple[int, dict]:
        base = self._find(str(body.get("from")))
        if base is None:
            return 404, {"error": f"base model {body.get('from')!r} not found"}
        missing = [d for d in (body.get("adapters") or {}).values() if d.removeprefix("sha256:") not in self.blobs]
        if missing:
            return 400, {"error": f"blob {missing[0]} not found; upload it to /api/blobs first"}
        name = str(body.get("model"))
        self.models[name] = replace(base, name=name, digest=_digest(name + json.dumps(body, sort_keys=True)))
        return 200, {"status": "success"}

    # -- the server -----------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict, raw: bytes) -> tuple[int, Any, bool]:
        body: Any = {}
        if raw and not path.startswith("/api/blobs/"):
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, {"error": "invalid JSON"}, False
        if path == "/api/chat" and self.generation_s:  # a server that answers several at once
            with self.lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            time.sleep(self.generation_s)
            with self.lock:
                self.in_flight -= 1
        with self.lock:
            self.received.append({"method": method, "path": path, "headers": headers, "body": body})
            if path == "/api/chat" and method == "POST":
                return self.chat(body)
            if path == "/api/ps":
                return 200, self.ps(), False
            if path == "/api/tags":
                return 200, self.tags(), False
            if path == "/api/version":
                return 200, {"version": "0.12.6"}, False
            if path == "/api/show" and method == "POST":
                model = self._find(str(body.get("model") or body.get("name")))
                if model is None:
                    return 404, {"error": f"model '{body.get('model')}' not found"}, False
                return 200, model.show(), False
            if path.startswith("/api/blobs/sha256:"):
                digest = path.removeprefix("/api/blobs/sha256:")
                if method == "HEAD":
                    return (200 if digest in self.blobs else 404), {}, False
                if hashlib.sha256(raw).hexdigest() != digest:
                    return 400, {"error": "digest mismatch"}, False
                self.blobs.add(digest)
                return 201, {}, False
            if path == "/api/create" and method == "POST":
                status, answer = self.create(body)
                return status, answer, status == 200 and body.get("stream", True)
        return 404, {"error": "404 page not found"}, False

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self):
                raw = self.rfile.read(int(self.headers.get("content-length", 0) or 0))
                status, answer, streamed = standin.handle(self.command, self.path, dict(self.headers), raw)
                if streamed:
                    data = b"".join(json.dumps(c).encode() + b"\n" for c in _chunks(answer))
                    kind = "application/x-ndjson"
                else:
                    data = json.dumps(answer).encode() if self.command != "HEAD" else b""
                    kind = "application/json; charset=utf-8"
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_HEAD = do_DELETE = _reply

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_port}"
        return server, self.url


def _chunks(final: dict) -> list[dict]:
    """A streamed answer as Ollama sends it: thinking, then content, a few characters per
    chunk, then the final chunk with the counts and an empty message."""
    if "message" not in final:  # /api/create's statuses
        return [{"status": "using existing layer"}, {"status": "writing manifest"}, final]
    message = final["message"]
    chunks = []
    for key in ("thinking", "content"):
        text = message.get(key) or ""
        for start in range(0, len(text), 8):
            chunks.append({**final, "message": {"role": "assistant", key: text[start : start + 8]}, "done": False})
    if message.get("tool_calls"):
        chunks.append({**final, "message": {"role": "assistant", "content": "", "tool_calls": message["tool_calls"]}})
        chunks[-1]["done"] = False
    for chunk in chunks:
        for key in ("done_reason", "total_duration", "prompt_eval_count", "eval_count", "eval_duration"):
            chunk.pop(key, None)
    return [*chunks, {**final, "message": {"role": "assistant", "content": ""}}]
