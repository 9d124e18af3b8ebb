"""Which model a role gets: a pure decision over the ladder, the role and one hardware reading.

Kept free of I/O so every VRAM decision can be tested with recorded readings. Also which
failures send a call down the ladder (`fallback_reason`) and which are bugs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from society.models.config import ModelEntry
from society.models.machine.hardware import Readings
from society.models.machine.model_servers import is_remote, server_of

# What Ollama keeps free on a CUDA card beyond a model's own need (its "minimum memory",
# 457 MiB): a model loads wholly on the GPU only when need + this fits in the free VRAM;
# otherwise Ollama offloads layers to the CPU and the model runs several times slower.
VRAM_HEADROOM_MB = 457


@dataclass(frozen=True)
class Choice:
    entry: ModelEntry
    why: str


def need_mb(entry: ModelEntry, readings: Readings) -> int | None:
    """The VRAM of this card `entry` needs at its context: 0 for the embedded model and for
    an entry whose list says `vram_mb: 0` (an Ollama without a GPU); an OpenAI-compatible
    server's own `vram_mb` (0 when left out: it manages its memory). An Ollama model's is
    computed from what Ollama says of it (weights + KV cache + compute buffer), else the
    list's `vram_mb`; None when nothing says. 0 on a server elsewhere without a GPU."""
    if entry.vram_mb == 0 or entry.server_vram_mb == 0:
        return 0
    return entry.kind.need_mb(entry, readings.ollama_facts.get(entry.model))


def _place(entry: ModelEntry, readings: Readings) -> tuple[int, str] | None:
    """Where `entry` stands on its card now (this machine's, or its server's): (rank, why),
    lower ranks first; None for a GPU model when nothing says what the card has free
    (loading it would be a guess)."""
    card = readings.card(entry)
    loaded = readings.loaded_of(entry)
    need = need_mb(entry, readings)
    free = card.free_mb
    remote = is_remote(entry)
    if loaded is not None and not loaded.offloaded and loaded.vram_mb > 0:
        return 0, "already loaded, all on the GPU" + (f" of {server_of(entry)}" if remote else "")
    if need == 0:
        return 4, entry.kind.where if entry.kind.own_memory else "runs on the CPU"
    if card.claim:
        return None  # learning trains on the GPU: a model loaded now would take its memory
    if free is None:
        # No GPU reading: a model Ollama already runs is safe; loading another is a guess.
        return (3, loaded.where()) if loaded is not None else None
    if need is None:
        return 2, "VRAM need unknown (Ollama did not describe it; set vram_mb)"
    where = f" on {server_of(entry)}" if remote else ""
    others_loaded_mb = sum(m.vram_mb for m in card.loaded.values()) - (loaded.vram_mb if loaded else 0)
    if need + VRAM_HEADROOM_MB <= free:
        return 1, f"fits in {free} MB free VRAM{where} (needs {need} MB)"
    if need + VRAM_HEADROOM_MB <= free + others_loaded_mb:
        return 2, f"fits after evicting the loaded model{where} (needs {need} MB)"
    if loaded is not None:
        return 3, loaded.where()
    # Ollama loads it anyway, part of it on the CPU: slow, yet a 7B model's answer beats the
    # embedded model's, so it stays ahead of the CPU rung.
    return 3, f"would be partly offloaded{where} (needs {need} MB, {free} MB free)"


def plan(
    role: str,
    entries: list[ModelEntry],
    readings: Readings,
    reachable: set[str],
    needs: tuple[str, ...] = (),
) -> list[Choice]:
    """Order the usable entries for `role`, best first; the caller tries them in turn.

    First what the call needs: models with every ability in `needs` before the rest, and a
    reasoning model only when reasoning is wanted (a plain answer from it spends its
    thinking tokens for nothing). Then where the model stands:
    0. loaded by Ollama wholly on the GPU, so a 6 GB card does not swap 7B models back
       and forth between calls;
    1. fits in free VRAM now (need computed at the context asked for);
    2. fits once the loaded models are evicted (Ollama evicts on demand);
    3. partly offloaded to the CPU, loaded so or bound to be (slow: it does not fit);
    4. CPU models (VRAM need 0), always usable, the last resort.
    Ties keep the ladder's order. With no GPU reading, only CPU entries and models Ollama
    reports loaded are used. A model on a server elsewhere is placed on that server's card.
    """
    usable = [e for e in entries if e.model in reachable and e.allows(role)]
    ranked = []
    for index, entry in enumerate(usable):
        placed = _place(entry, readings)
        if placed is None:
            continue
        rank, why = placed
        missing = sum(1 for n in needs if not entry.has(n))
        unwanted = int(entry.has("reasoning") and "reasoning" not in needs)
        ranked.append(((missing, unwanted, rank, index), Choice(entry, why)))
    return [choice for _, choice in sorted(ranked, key=lambda pair: pair[0])]


def skipped(role: str, entries: list[ModelEntry], readings: Readings, reachable: set[str]) -> list[str]:
    """One line per entry the role may use that `plan` left out, saying why."""
    chosen = {c.entry.model for c in plan(role, entries, readings, reachable)}
    lines = []
    for entry in entries:
        if entry.model in chosen or not entry.allows(role):
            continue
        need = need_mb(entry, readings) or "an unknown amount of"
        card = readings.card(entry)
        if entry.model not in reachable:
            lines.append(f"{entry.model}: unreachable")
        elif card.claim:
            lines.append(f"{entry.model}: the GPU is held by {card.claim}")
        elif is_remote(entry):
            lines.append(f"{entry.model}: needs {need} MB VRAM, {card.free_mb} MB free on {server_of(entry)}")
        elif readings.gpu is None:
            lines.append(f"{entry.model}: needs {need} MB VRAM and no NVIDIA GPU was found")
        else:
            lines.append(
                f"{entry.model}: needs {need} MB VRAM at {entry.context_window} tokens of context, "
                f"{readings.gpu.free_mb} MB free"
            )
    return lines


# Failures that mean "this rung cannot serve now": go down the ladder instead of failing.
# Ollama's wordings across versions: the runner dying while loading, the scheduler refusing,
# the new engine's memory layout, llama.cpp's allocation failures.
OOM_PATTERN = re.compile(
    r"out of memory|CUDA error|(failed|unable) to allocate|requires more system memory|insufficient memory"
    r"|memory layout cannot be allocated|runner process has terminated|Failed to (load|create)",
    re.IGNORECASE,
)


def fallback_reason(err: BaseException) -> str | None:
    """A one-line reason when `err` should send the call down the ladder; None for real bugs."""
    import httpx

    transient: tuple[type[BaseException], ...] = (
        TimeoutError,
        ConnectionError,
        OSError,
        httpx.TransportError,
    )
    try:
        import openai

        transient += (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError)
    except ImportError:
        pass
    text = f"{type(err).__name__}: {err}".strip()
    if isinstance(err, transient):
        return "timeout" if isinstance(err, TimeoutError) else f"connection: {text[:200]}"
    if OOM_PATTERN.search(str(err)):
        return f"out of memory or load failure: {text[:200]}"
    try:
        from ollama import ResponseError

        if isinstance(err, ResponseError):
            return f"ollama: {text[:200]}"
    except ImportError:
        pass
    return None
