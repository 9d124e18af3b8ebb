"""Which model a role gets: a pure decision over the ladder, the role and one hardware reading.

Kept free of I/O so every VRAM decision can be tested with recorded readings. Also which
failures send a call down the ladder (`fallback_reason`) and which are bugs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from society.config import ModelEntry
from society.hardware import Readings

# Headroom left free on the card for the KV cache and the desktop.
VRAM_HEADROOM_MB = 300


@dataclass(frozen=True)
class Choice:
    entry: ModelEntry
    why: str


def plan(
    role: str,
    entries: list[ModelEntry],
    readings: Readings,
    reachable: set[str],
    needs: tuple[str, ...] = (),
) -> list[Choice]:
    """Order the usable entries for `role`, best first; the caller tries them in turn.

    1. A model already loaded in VRAM that the role may use, so a 6 GB card does not swap
       7B models back and forth between calls.
    2. GPU models that fit in free VRAM now, in ladder order.
    3. GPU models that fit once the loaded ones are evicted (Ollama evicts on demand).
    4. CPU models (VRAM need 0), in ladder order: always usable, the last resort.
    Entries lacking an ability in `needs` come after those that have it, within each group.
    With no GPU reading, only CPU entries and models Ollama reports loaded are used.
    """
    usable = [e for e in entries if e.model in reachable and e.allows(role)]
    loaded = readings.ollama_loaded
    free = readings.free_vram_mb
    total = readings.gpu.total_mb if readings.gpu else None

    groups: list[list[Choice]] = [[], [], [], []]
    for entry in usable:
        if entry.backend == "ollama" and entry.model in loaded:
            groups[0].append(Choice(entry, "already loaded"))
        elif not entry.on_gpu:
            groups[3].append(Choice(entry, "runs on the CPU"))
        elif free is None or total is None:
            continue  # no GPU reading: only CPU entries and loaded models are safe
        elif entry.vram_mb + VRAM_HEADROOM_MB <= free:
            groups[1].append(Choice(entry, f"fits in {free} MB free VRAM"))
        elif entry.vram_mb + VRAM_HEADROOM_MB <= free + sum(loaded.values()):
            groups[2].append(Choice(entry, "fits after evicting the loaded model"))

    def has_needs(choice: Choice) -> bool:
        return all(choice.entry.has(n) for n in needs)

    ordered: list[Choice] = []
    for group in groups:
        ordered += [c for c in group if has_needs(c)] + [c for c in group if not has_needs(c)]
    return ordered


def skipped(role: str, entries: list[ModelEntry], readings: Readings, reachable: set[str]) -> list[str]:
    """One line per entry the role may use that `plan` left out, saying why."""
    chosen = {c.entry.model for c in plan(role, entries, readings, reachable)}
    lines = []
    for entry in entries:
        if entry.model in chosen or not entry.allows(role):
            continue
        if entry.model not in reachable:
            lines.append(f"{entry.model}: unreachable")
        elif readings.gpu is None:
            lines.append(f"{entry.model}: needs {entry.vram_mb} MB VRAM and no NVIDIA GPU was found")
        else:
            lines.append(f"{entry.model}: needs {entry.vram_mb} MB VRAM, {readings.gpu.free_mb} MB free")
    return lines


# Failures that mean "this rung cannot serve now": go down the ladder instead of failing.
OOM_PATTERN = re.compile(
    r"out of memory|CUDA error|failed to allocate|requires more system memory|Failed to (load|create)",
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
