"""Readings of the machine that model choice depends on: GPU memory (NVML), the models Ollama
has loaded and what its models need (society/ollama.py), CPU and RAM. Every probe is cheap and
fails soft: no GPU or no Ollama is a reading."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from society.config import ModelEntry
    from society.ollama import Loaded, ModelFacts


@dataclass(frozen=True)
class GpuReading:
    name: str
    total_mb: int
    free_mb: int
    utilization_pct: int | None = None


@dataclass(frozen=True)
class Readings:
    """One snapshot. `gpu` is None without an NVIDIA GPU; `ollama_loaded` holds the models
    Ollama has in memory (size, VRAM, context), `ollama_facts` what Ollama says of the
    configured models (their VRAM need is computed from it)."""

    gpu: GpuReading | None = None
    ollama_loaded: dict[str, Loaded] = field(default_factory=dict)
    ollama_facts: dict[str, ModelFacts] = field(default_factory=dict)
    gpu_claim: str | None = None  # who holds the GPU away from the chat (society/gpu_claim.py)
    cpu_pct: float | None = None
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None

    @property
    def free_vram_mb(self) -> int | None:
        return self.gpu.free_mb if self.gpu else None

    def loaded(self, model: str) -> Loaded | None:
        """How Ollama holds `model` now (a name without a tag is its `:latest`), or None."""
        found = self.ollama_loaded.get(model)
        if found is None and ":" not in model:
            found = self.ollama_loaded.get(f"{model}:latest")
        return found


@functools.cache
def _nvml() -> Any | None:
    """The initialised NVML module, once per process (the gate reads the GPU before every model
    call); None without an NVIDIA driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # not installed, no driver, no device: a CPU machine
        return None
    return pynvml


def read_gpu() -> GpuReading | None:
    """Free and total memory of GPU 0 through NVML, or None when there is no NVIDIA GPU."""
    pynvml = _nvml()
    if pynvml is None:
        return None
    try:
        if pynvml.nvmlDeviceGetCount() < 1:
            return None
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        name = pynvml.nvmlDeviceGetName(handle)
        try:
            utilization = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:
            utilization = None
        return GpuReading(
            name=name.decode() if isinstance(name, bytes) else str(name),
            total_mb=int(memory.total // 2**20),
            free_mb=int(memory.free // 2**20),
            utilization_pct=utilization,
        )
    except Exception:  # the GPU went away (driver reset): read as no GPU, CPU rungs still work
        return None


def read_machine(entries: list[ModelEntry] = (), cpu_interval: float | None = None) -> Readings:
    """Take one snapshot of everything the ladder and `society status` look at, for the
    Ollama models among `entries`.

    `cpu_interval` samples CPU use over that many seconds; None (the per-call default) is
    free but compares with the previous call, so a process's first reading says 0."""
    import psutil

    from society.ollama import read_facts, read_loaded

    servers: dict[str, list[str]] = {}
    for entry in entries:
        if entry.backend == "ollama" and entry.base_url:
            servers.setdefault(entry.base_url, []).append(entry.model)
    loaded: dict[str, Loaded] = {}
    facts: dict[str, ModelFacts] = {}
    for url, models in sorted(servers.items()):
        now = read_loaded(url)
        if now is None:
            continue  # Ollama is down: nothing loaded, nothing to ask
        loaded.update(now)
        facts.update(read_facts(url, models))
    memory = psutil.virtual_memory()
    from society.gpu_claim import claim_of_another

    return Readings(
        gpu=read_gpu(),
        gpu_claim=claim_of_another(),
        ollama_loaded=loaded,
        ollama_facts=facts,
        cpu_pct=psutil.cpu_percent(interval=cpu_interval),
        ram_used_mb=int((memory.total - memory.available) // 2**20),
        ram_total_mb=int(memory.total // 2**20),
    )


def generation_threads() -> int:
    """Threads for the embedded model, chosen by load: on a busy 2-core machine two threads
    collapse (measured: 188 -> 11 tokens/s) while one holds about 60, so back off when busy."""
    import psutil

    cores = os.cpu_count() or 1
    busy_cores = psutil.getloadavg()[0]
    idle = max(1, round(cores - busy_cores))
    return max(1, min(cores, idle, 8))
