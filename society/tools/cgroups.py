"""One control group per sandboxed command: limits that hold for the command as a whole.

A per-process rlimit is walked around by starting more processes (ten processes of 2 GB
each), so the command's processes go into a fresh cgroup with a ceiling on their number
(pids) and on their memory together (memory, tmpfs pages included). Both cgroup v1 (one
hierarchy per controller) and v2 (one group with both files) are handled. Where no cgroup
can be made (no permission, controller not delegated), a normal user still gets
RLIMIT_NPROC for the process count, and the sandbox's watchdog sums the processes' memory
instead (society/tools/sandbox.py). The group is removed after the command, killed or not.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
_serial = itertools.count()


def _own_groups() -> dict[str, Path]:
    """The cgroup this process is in, per controller ("" for v2), as folders under /sys/fs/cgroup."""
    groups: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            base = CGROUP_ROOT / controller if controller else CGROUP_ROOT
            if controller == "" and (CGROUP_ROOT / "unified").is_dir() and not (CGROUP_ROOT / "cgroup.procs").exists():
                base = CGROUP_ROOT / "unified"  # hybrid layout: v2 mounted beside the v1 hierarchies
            groups[controller] = base / path.lstrip("/")
    return groups


class CommandGroup:
    """Fresh cgroups for one command with `pids` and `memory` ceilings, where they can be made."""

    def __init__(self, processes: int, memory_mb: int):
        self.folders: list[Path] = []
        self.pids = False
        self.memory = False
        self.nproc: int | None = None
        self._memory_file: Path | None = None
        self._memory_limit = memory_mb * 1024 * 1024
        own = _own_groups()
        name = f"society-{os.getpid()}-{next(_serial)}"
        if "pids" in own or "memory" in own:  # v1: one folder per controller
            self.pids = self._make(own.get("pids"), name, {"pids.max": str(processes)}) is not None
            group = self._make(own.get("memory"), name, {"memory.limit_in_bytes": str(self._memory_limit)})
            if group is not None:
                self.memory, self._memory_file = True, group / "memory.max_usage_in_bytes"
                _try_write(group / "memory.memsw.limit_in_bytes", str(self._memory_limit))  # swap too, if counted
                _try_write(group / "memory.swappiness", "0")
        if not (self.pids and self.memory) and "" in own:  # v2: one folder, both files
            for parent in (own[""], own[""].parent):
                group = self._make(parent, name + "-v2", {})
                if group is None:
                    continue
                self.pids = self.pids or _try_write(group / "pids.max", str(processes))
                if _try_write(group / "memory.max", str(self._memory_limit)):
                    self.memory, self._memory_file = True, group / "memory.peak"
                    _try_write(group / "memory.swap.max", "0")
                break
        if not self.pids and os.geteuid() != 0:
            import psutil

            uid = os.getuid()
            mine = sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid)
            self.nproc = mine + processes

    def _make(self, parent: Path | None, name: str, limits: dict[str, str]) -> Path | None:
        if parent is None or not parent.is_dir():
            return None
        group = parent / name
        try:
            group.mkdir()
        except OSError:
            return None
        self.folders.append(group)
        if all(_try_write(group / key, value) for key, value in limits.items()):
            return group
        return None

    @property
    def kind(self) -> str:
        """How the process count is capped: 'cgroup', 'rlimit' or 'none'."""
        return "cgroup" if self.pids else "rlimit" if self.nproc else "none"

    def enter(self) -> None:
        """In the child, before exec: join every group (RLIMIT_NPROC where there is none)."""
        for group in self.folders:
            _try_write(group / "cgroup.procs", str(os.getpid()))
        if self.nproc:
            import resource

            resource.setrlimit(resource.RLIMIT_NPROC, (self.nproc, self.nproc))

    def pids_inside(self) -> set[int]:
        found: set[int] = set()
        for group in self.folders:
            try:
                found.update(int(pid) for pid in (group / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return found

    def hit_memory_limit(self) -> bool:
        """Whether the group's memory use reached its ceiling (the kernel then kills inside it)."""
        try:
            return self._memory_file is not None and int(self._memory_file.read_text()) >= self._memory_limit * 0.98
        except (OSError, ValueError):
            return False

    def kill_all(self) -> None:
        for pid in self.pids_inside():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def remove(self) -> None:
        """Kill what is left and delete the groups; the kernel empties them as it reaps."""
        for group in reversed(self.folders):
            for _ in range(100):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    self.kill_all()
                    await asyncio.sleep(0.05)
        self.folders = [group for group in self.folders if group.exists()]


def _try_write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False
