"""Readings of the machine that model choice depends on: GPU memory (NVML), the models Ollama
has loaded, CPU and RAM. Every probe is cheap and fails soft: no GPU or no Ollama is a reading."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

OLLAMA_PROBE_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class GpuReading:
    name: str
    total_mb: int
    free_mb: int
    utilization_pct: int | None = None


@dataclass(frozen=True)
class Readings:
    """One snapshot. `gpu` is None without an NVIDIA GPU; `ollama_loaded` maps a model Ollama
    holds in memory to the VRAM it occupies (MB)."""

    gpu: GpuReading | None = None
    ollama_loaded: dict[str, int] = field(default_factory=dict)
    cpu_pct: float | None = None
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None

    @property
    def free_vram_mb(self) -> int | None:
        return self.gpu.free_mb if self.gpu else None


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


def read_ollama_loaded(base_url: str) -> dict[str, int] | None:
    """Models Ollama holds in memory (`/api/ps`) with their VRAM in MB; None if Ollama is down."""
    import httpx

    try:
        response = httpx.get(f"{base_url}/api/ps", timeout=OLLAMA_PROBE_TIMEOUT_S)
        response.raise_for_status()
    except (httpx.HTTPError, OSError):
        return None
    loaded = {}
    for item in response.json().get("models", []):
        loaded[item.get("name") or item.get("model")] = int(item.get("size_vram", 0)) // 2**20
    return loaded


def read_machine(ollama_urls: set[str] | None = None, cpu_interval: float | None = None) -> Readings:
    """Take one snapshot of everything the ladder and `society status` look at.

    `cpu_interval` samples CPU use over that many seconds; None (the per-call default) is
    free but compares with the previous call, so a process's first reading says 0."""
    import psutil

    loaded: dict[str, int] = {}
    for url in sorted(ollama_urls or ()):
        loaded.update(read_ollama_loaded(url) or {})
    memory = psutil.virtual_memory()
    return Readings(
        gpu=read_gpu(),
        ollama_loaded=loaded,
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
