"""Readings of the machine that model choice depends on: GPU memory (NVML), the models Ollama
has loaded and what its models need (society/models/backends/ollama/api.py), CPU and RAM. Every probe is cheap and
fails soft: no GPU or no Ollama is a reading."""

from __future__ import annotations

import functools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from society.models.backends.ollama.api import Loaded, ModelFacts
    from society.models.config import ModelEntry


@dataclass(frozen=True)
class GpuReading:
    name: str
    total_mb: int
    free_mb: int
    utilization_pct: int | None = None


@dataclass(frozen=True)
class Card:
    """The GPU a model runs on, as a plan sees it: free memory (None: unknown), the Ollama
    models loaded on it, and who holds it away from the chat (learning)."""

    free_mb: int | None
    loaded: dict[str, Loaded]
    claim: str | None = None

    def holds(self, model: str) -> Loaded | None:
        """How `model` is loaded on this card (a name without a tag is its `:latest`), or None."""
        from society.models.backends.ollama.api import loaded_as

        return loaded_as(self.loaded, model)


@dataclass(frozen=True)
class ServerReading:
    """An Ollama server on another machine: what its `/api/ps` says is loaded, and its
    card's memory as the model list gives it (`server_vram_mb`: Ollama's API reports what
    its models take, not what the card has)."""

    loaded: dict[str, Loaded] = field(default_factory=dict)
    total_mb: int | None = None

    @property
    def free_mb(self) -> int | None:
        if self.total_mb is None:
            return None
        return max(0, self.total_mb - sum(m.vram_mb for m in self.loaded.values()))


@dataclass(frozen=True)
class Readings:
    """One snapshot. `gpu` is None without an NVIDIA GPU; `ollama_loaded` holds the models
    Ollama has in memory (size, VRAM, context), `ollama_facts` what Ollama says of the
    configured models (their VRAM need is computed from it); `servers` the model servers on
    other machines, by `scheme://host:port` (society/models/machine/model_servers.py)."""

    gpu: GpuReading | None = None
    ollama_loaded: dict[str, Loaded] = field(default_factory=dict)
    ollama_facts: dict[str, ModelFacts] = field(default_factory=dict)
    gpu_claim: str | None = None  # who holds the GPU away from the chat (society/models/machine/gpu_claim.py)
    cpu_pct: float | None = None
    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    servers: dict[str, ServerReading] = field(default_factory=dict)

    @property
    def free_vram_mb(self) -> int | None:
        return self.gpu.free_mb if self.gpu else None

    def loaded(self, model: str) -> Loaded | None:
        """How this machine's Ollama holds `model` now, or None."""
        return Card(None, self.ollama_loaded).holds(model)

    def card(self, entry: ModelEntry) -> Card:
        """The GPU `entry` runs on: its server's when that is another machine (a learning
        cycle here does not hold it), else this machine's."""
        from society.models.machine.model_servers import is_remote, server_of

        if is_remote(entry):
            server = self.servers.get(str(server_of(entry)), ServerReading())
            return Card(server.free_mb, server.loaded)
        return Card(self.free_vram_mb, self.ollama_loaded, self.gpu_claim)

    def loaded_of(self, entry: ModelEntry) -> Loaded | None:
        """How the Ollama that serves `entry` holds its model now, or None."""
        return self.card(entry).holds(entry.model) if entry.kind.reports_loaded else None


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

    from society.models.backends.ollama.api import read_facts, read_loaded
    from society.models.machine.model_servers import is_remote, server_of

    servers: dict[str, list[ModelEntry]] = {}
    for entry in entries:
        if entry.kind.reports_loaded and entry.base_url:
            servers.setdefault(entry.base_url, []).append(entry)
    loaded: dict[str, Loaded] = {}
    remote: dict[str, ServerReading] = {}
    facts: dict[str, ModelFacts] = {}
    for url, on_it in sorted(servers.items()):
        now = read_loaded(url)
        if now is not None:  # else Ollama is down: nothing loaded, nothing to ask
            facts.update(read_facts(url, [e.model for e in on_it]))
        if is_remote(on_it[0]):
            cards = [e.server_vram_mb for e in on_it if e.server_vram_mb is not None]
            remote[str(server_of(on_it[0]))] = ServerReading(now or {}, max(cards))
        else:
            loaded.update(now or {})
    memory = psutil.virtual_memory()
    from society.models.machine.gpu_claim import claim_of_another

    return Readings(
        gpu=read_gpu(),
        gpu_claim=claim_of_another(),
        ollama_loaded=loaded,
        ollama_facts=facts,
        servers=remote,
        cpu_pct=psutil.cpu_percent(interval=cpu_interval),
        ram_used_mb=int((memory.total - memory.available) // 2**20),
        ram_total_mb=int(memory.total // 2**20),
    )


class _OthersLoad:
    """Cores other processes kept busy lately: the machine's busy CPU time less this process's
    own, over the time since the last reading (at least MIN_WINDOW_S, else the last figure).

    Not the load average: that counts this process's own generation, so a long run of calls
    on two threads read as a busy machine and fell back to one thread for good (measured:
    a tool-call benchmark at 13.5 ms a token on one thread, 8-10 ms on two)."""

    MIN_WINDOW_S = 0.5

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None  # (time, machine busy s, own busy s)
        self._cores = 0.0

    @staticmethod
    def _now() -> tuple[float, float, float]:
        import psutil

        machine = psutil.cpu_times()._asdict()
        # Guest time is counted in user time already; idle and waiting for disks is not busy.
        busy = sum(machine.values()) - sum(machine.get(k, 0.0) for k in ("idle", "iowait", "guest", "guest_nice"))
        own = psutil.Process().cpu_times()
        return time.monotonic(), busy, own.user + own.system

    def cores(self) -> float:
        with self._lock:
            first = self._last is None
            if first:
                self._last = self._now()
                time.sleep(0.1)  # a first window, once per process
            now = self._now()
            elapsed = now[0] - self._last[0]
            if first or elapsed >= self.MIN_WINDOW_S:
                others = (now[1] - self._last[1]) - (now[2] - self._last[2])
                self._cores, self._last = max(0.0, others / elapsed), now
            return self._cores


_others_load = _OthersLoad()


def generation_threads() -> int:
    """Threads for the embedded model, chosen by what other processes use now: on a busy
    2-core machine two threads collapse (measured: 188 -> 11 tokens/s) while one holds about
    60, so back off when another process keeps a core busy. Asked before every generation."""
    cores = os.cpu_count() or 1
    idle = round(cores - _others_load.cores())
    return max(1, min(cores, idle, 8))


def _amx_cpu() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return "amx_tile" in info.read(200_000)
    except OSError:
        return False


def keep_weights_off_amx() -> None:
    """On a CPU with AMX (Xeon Sapphire Rapids and later), llama.cpp repacks the weights into
    AMX tiles (an "extra buffer type"), and where the kernel or the container does not grant
    the process AMX tile state, the first matrix product dies with a general protection fault
    in ggml_backend_amx_mul_mat: on such a machine every call segfaulted and `society run`
    exited with 139. There every Llama this process makes keeps its weights as the file
    has them (llama_model_params.use_extra_bufts off, a default llama-cpp-python does not
    expose); other CPUs keep llama.cpp's repacking. SOCIETY_LLAMA_REPACK=1 keeps it on AMX too."""
    if not _amx_cpu() or os.environ.get("SOCIETY_LLAMA_REPACK") == "1":
        return
    import llama_cpp.llama_cpp as bindings  # only here: a heavy import (it loads llama.cpp)

    if hasattr(bindings, "_society_defaults"):
        return
    defaults = bindings.llama_model_default_params

    def without_extra_buffers():
        params = defaults()
        params.use_extra_bufts = False
        return params

    bindings._society_defaults = defaults
    bindings.llama_model_default_params = without_extra_buffers
