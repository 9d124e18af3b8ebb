"""What Ollama says about its models, read rather than guessed: where the server is
(`OLLAMA_HOST`, parsed as Ollama parses it), what a model is (`/api/show`: architecture,
size, quantization, context length, capabilities), how much VRAM it needs at the context we
ask for (weights + KV cache + compute buffer), and what is loaded now and whether it sits
wholly on the GPU (`/api/ps`: `size_vram` against `size`).

Every reading is cheap and fails soft (None): a missing Ollama is a reading, not an error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORT = 11434
PROBE_TIMEOUT_S = 0.5
SHOW_TIMEOUT_S = 2.0
BATCH = 512  # Ollama's default num_batch: the compute buffer scales with it
FALLBACK_VOCAB = 152_064  # Qwen2's; the largest common vocabulary, so an unknown one is not underestimated
MB = 2**20


def parse_host(value: str | None) -> str:
    """The base URL for `OLLAMA_HOST`, as Ollama's own envconfig reads it: scheme optional
    (http), port 11434 when no scheme is given (80 or 443 with one), a path kept. A bind-all
    address (0.0.0.0, ::) is what the server listens on, not somewhere to connect: it is
    reached on the loopback address."""
    text = (value or "").strip().strip("\"'")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest, port = "http", text, DEFAULT_PORT
    else:
        port = {"https": 443}.get(scheme, 80)
    split = urlsplit(f"//{rest}")
    try:
        port = split.port or port
    except ValueError:  # a port that is not a number: keep the default, the probe will say
        pass
    host = split.hostname or "127.0.0.1"
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    path = split.path.rstrip("/")
    return f"{scheme}://{host}:{port}{path}"


@dataclass(frozen=True)
class ModelFacts:
    """One model as `/api/show` and `/api/tags` describe it."""

    name: str
    file_mb: int  # the weights as stored; loaded as they are
    architecture: str | None = None
    parameter_size: str | None = None  # "7.6B"
    quantization: str | None = None  # "Q4_0"
    context_length: int | None = None  # the most the model was trained for
    capabilities: tuple[str, ...] = ()  # completion, tools, thinking, vision, insert
    layers: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    embedding: int | None = None
    vocab: int | None = None

    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def kv_cache_mb(self, num_ctx: int) -> int:
        """Keys and values for `num_ctx` tokens at f16 (Ollama's default cache type)."""
        if not (self.layers and self.kv_heads and self.head_dim):
            return 0
        return int(2 * self.layers * num_ctx * self.kv_heads * self.head_dim * 2 / MB)

    def compute_mb(self, num_ctx: int) -> int:
        """The compute buffer of one batch, as Ollama estimates it for a full offload
        (fs/ggml GraphSize, its general case): f32 attention scores over the context for
        every head, or the logits over the vocabulary, whichever is larger."""
        embedding = self.embedding or 4096
        attention = 1 + 4 * embedding + num_ctx * (1 + (self.heads or 32))
        logits = embedding + (self.vocab or FALLBACK_VOCAB)
        return int(4 * BATCH * max(attention, logits) / MB)

    def need_mb(self, num_ctx: int) -> int:
        """VRAM to hold the model wholly on the GPU at `num_ctx`: weights, KV cache and the
        compute buffer; what `/api/ps` reports as `size` once it is loaded at that context."""
        return self.file_mb + self.kv_cache_mb(num_ctx) + self.compute_mb(num_ctx)


def facts_from(name: str, show: dict[str, Any], file_bytes: int) -> ModelFacts:
    """ModelFacts from an `/api/show` answer and the file size `/api/tags` gives."""
    info = show.get("model_info") or {}
    details = show.get("details") or {}
    arch = info.get("general.architecture") or details.get("family")

    def number(key: str) -> int | None:
        value = info.get(f"{arch}.{key}")
        if isinstance(value, list):  # per-layer values (some architectures): the largest
            value = max(value) if value else None
        return int(value) if isinstance(value, int | float) else None

    heads = number("attention.head_count")
    embedding = number("embedding_length")
    head_dim = number("attention.key_length") or (embedding // heads if embedding and heads else None)
    tokens = info.get("tokenizer.ggml.tokens")
    return ModelFacts(
        name=name,
        file_mb=int(file_bytes / MB),
        architecture=arch,
        parameter_size=details.get("parameter_size"),
        quantization=details.get("quantization_level"),
        context_length=number("context_length"),
        capabilities=tuple(show.get("capabilities") or ()),
        layers=number("block_count"),
        heads=heads,
        kv_heads=number("attention.head_count_kv") or heads,
        head_dim=head_dim,
        embedding=embedding,
        vocab=number("vocab_size") or (len(tokens) if isinstance(tokens, list) and tokens else None),
    )


_facts: dict[tuple[str, str, str], ModelFacts] = {}  # (url, model, digest): a re-pull is a new entry
_facts_lock = threading.Lock()
_recent: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, ModelFacts]]] = {}
FACTS_TTL_S = 30.0  # the gate reads the machine before every call; pulls are rare


def read_facts(base_url: str, models: list[str]) -> dict[str, ModelFacts]:
    """Facts of those of `models` the server at `base_url` has; {} when it cannot be asked.
    `/api/tags` is asked at most every FACTS_TTL_S, `/api/show` once per model digest."""
    key = (base_url, tuple(models))
    with _facts_lock:
        recent = _recent.get(key)
    if recent is not None and time.monotonic() - recent[0] < FACTS_TTL_S:
        return recent[1]
    found = _ask_facts(base_url, models)
    if found:
        with _facts_lock:
            _recent[key] = (time.monotonic(), found)
    return found


def _ask_facts(base_url: str, models: list[str]) -> dict[str, ModelFacts]:
    import httpx

    try:
        with httpx.Client(base_url=base_url, timeout=SHOW_TIMEOUT_S) as client:
            tags = client.get("/api/tags")
            tags.raise_for_status()
            pulled = {m.get("name"): m for m in tags.json().get("models", []) if isinstance(m, dict)}
            found = {}
            for model in models:
                tag = pulled.get(model) or pulled.get(f"{model}:latest")
                if tag is None:
                    continue
                key = (base_url, model, str(tag.get("digest")))
                with _facts_lock:
                    known = _facts.get(key)
                if known is None:
                    shown = client.post("/api/show", json={"model": model})
                    if not shown.is_success:
                        continue
                    known = facts_from(model, shown.json(), int(tag.get("size") or 0))
                    with _facts_lock:
                        _facts[key] = known
                found[model] = known
            return found
    except (httpx.HTTPError, OSError, ValueError):
        return {}


@dataclass(frozen=True)
class Loaded:
    """A model Ollama holds in memory now."""

    size_mb: int
    vram_mb: int
    context_length: int | None = None

    @property
    def offloaded(self) -> bool:
        """Partly on the CPU: Ollama could not fit it and runs the rest of its layers slowly."""
        return self.vram_mb + 16 < self.size_mb  # rounding of the two figures aside

    def where(self) -> str:
        if self.vram_mb == 0:
            return "loaded, on the CPU"
        if self.offloaded:
            return f"loaded, partly offloaded ({self.vram_mb} of {self.size_mb} MB on the GPU)"
        return "loaded, all on the GPU"


def read_loaded(base_url: str) -> dict[str, Loaded] | None:
    """Models Ollama holds in memory (`/api/ps`); None if Ollama is down."""
    import httpx

    try:
        response = httpx.get(f"{base_url}/api/ps", timeout=PROBE_TIMEOUT_S)
        response.raise_for_status()
        models = response.json().get("models", [])
    except (httpx.HTTPError, OSError, ValueError):
        return None
    loaded = {}
    for item in models:
        name = item.get("name") or item.get("model")
        if not name:
            continue
        size = int(item.get("size") or 0) // MB
        vram = int(item.get("size_vram") or 0) // MB
        loaded[name] = Loaded(size_mb=max(size, vram), vram_mb=vram, context_length=item.get("context_length"))
    return loaded


def described(entry, facts: ModelFacts | None):
    """`entry` as Ollama describes its model: the abilities it really has (`tools`,
    `thinking` -> reasoning) replace the typed ones, and its context is no longer than the
    model was trained for. Unchanged when Ollama said nothing."""
    from dataclasses import replace

    if facts is None or not facts.capabilities:
        return entry
    abilities = [a for a in entry.abilities if a not in ("tools", "reasoning")]
    abilities += [a for a, cap in (("tools", "tools"), ("reasoning", "thinking")) if facts.has(cap)]
    window = min(entry.context_window, facts.context_length or entry.context_window)
    return replace(entry, abilities=tuple(abilities), context_window=window)


def call_args(entry, wants_reasoning: bool, background: bool, loaded: bool) -> dict[str, Any]:
    """Per-call Ollama arguments. `think` only to a model that can think, and true only when
    reasoning is wanted (Ollama thinks by default, spending tokens on every plain answer).
    `keep_alive` 0 for background work on a model that is not loaded, so the judge's model
    leaves the card for the chat's; otherwise the entry's own (request_args sends it)."""
    args: dict[str, Any] = {}
    if entry.has("reasoning"):
        args["think"] = wants_reasoning
    if background and not loaded:
        args["keep_alive"] = 0
    return args


def loaded_as(loaded: dict[str, Loaded], model: str) -> Loaded | None:
    """How `model` is among the `loaded` ones (a name without a tag is its `:latest`), or None."""
    found = loaded.get(model)
    if found is None and ":" not in model:
        found = loaded.get(f"{model}:latest")
    return found


def offloaded(entry) -> Loaded | None:
    """How Ollama holds `entry`'s model when partly on the CPU, else None. On a 6 GB card
    Ollama offloads what does not fit instead of failing, and the symptom is only slowness."""
    loaded = loaded_as(read_loaded(entry.base_url) or {}, entry.model)
    return loaded if loaded is not None and loaded.offloaded else None
