"""Commands run inside bubblewrap: the system read-only, only the workspace writable, no
network unless asked for, and limits on CPU time, memory, file size, process count, output
and wall time. At the time limit the whole process tree is killed: bwrap's PID namespace
dies with it, so nothing a command started in the background survives.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from society.tools.settings import Limits, ToolSettings

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
# Readable by root even with every capability dropped; a sandbox has no business with them.
MASKED_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh")
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HARD_OUTPUT_BYTES = 4_000_000  # past this the command is stopped: it is only flooding
_serial = itertools.count()


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing and unsandboxed execution is not allowed."""


@dataclass
class CommandResult:
    exit_code: int | None
    output: str
    sandboxed: bool
    timeout_s: float
    timed_out: bool = False
    cut_chars: int = 0
    stopped_for_flooding: bool = False
    process_cap: str = "none"

    def render(self) -> str:
        lines = [f"exit code {self.exit_code}" if self.exit_code is not None else "killed"]
        if self.timed_out:
            lines.append(f"[timed out after {self.timeout_s:g} s; the command and everything it started were killed]")
        if self.stopped_for_flooding:
            lines.append(f"[stopped: more than {HARD_OUTPUT_BYTES} bytes of output]")
        lines.append(self.output.rstrip() or "(no output)")
        if self.cut_chars:
            lines.append(f"[output truncated: {self.cut_chars} characters cut from the middle]")
        return "\n".join(lines)


def bwrap() -> str | None:
    return shutil.which("bwrap")


def bwrap_command(settings: ToolSettings, command: str, network: bool) -> list[str]:
    binary = bwrap()
    if not binary:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    workspace = str(Path(os.path.realpath(settings.workspace)))
    args = [binary, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    args += ["--hostname", "sandbox", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    if network:
        args.append("--share-net")
    for folder in SYSTEM_DIRS:
        args += ["--ro-bind-try", folder, folder]
    for masked in MASKED_FILES:
        if os.path.isdir(masked):
            args += ["--tmpfs", masked]
        elif os.path.exists(masked):
            args += ["--ro-bind", "/dev/null", masked]
    for root in [*settings.read_roots, *settings.write_roots]:  # commands only ever write the workspace
        real = os.path.realpath(root)
        args += ["--ro-bind-try", real, real]
    args += ["--bind", workspace, workspace, "--chdir", workspace, "--clearenv"]
    for name, value in (("PATH", SANDBOX_PATH), ("HOME", workspace), ("LANG", "C.UTF-8"), ("TERM", "dumb")):
        args += ["--setenv", name, value]
    return [*args, "/bin/bash", "-c", command]


def _cgroup_parents() -> list[Path]:
    """Where a pids cgroup could be made: the v1 pids hierarchy, or our own v2 group."""
    parents = [Path("/sys/fs/cgroup/pids")]
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        parents += [Path("/sys/fs/cgroup") / line[3:].lstrip("/") for line in own if line.startswith("0::")]
    except OSError:
        pass
    return [p for p in parents if p.is_dir()]


class ProcessCap:
    """A ceiling on the number of processes a command may have at once.

    A pids cgroup caps the sandbox as a whole and works for root, whom RLIMIT_NPROC never
    limits; without a writable cgroup a normal user gets RLIMIT_NPROC, counted over all of
    that user's processes, so it is set above what the user already runs."""

    def __init__(self, limit: int):
        self.cgroup: Path | None = None
        self.nproc: int | None = None
        for base in _cgroup_parents():
            group = base / f"society-{os.getpid()}-{next(_serial)}"
            try:
                group.mkdir()
            except OSError:
                continue
            try:
                (group / "pids.max").write_text(str(limit))
                self.cgroup = group
                break
            except OSError:  # no pids controller here
                group.rmdir()
        if self.cgroup is None and os.geteuid() != 0:
            import psutil

            uid = os.getuid()
            mine = sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid)
            self.nproc = mine + limit

    @property
    def kind(self) -> str:
        return "cgroup" if self.cgroup else "rlimit" if self.nproc else "none"

    def enter(self) -> None:
        """In the child, before exec."""
        if self.cgroup:
            (self.cgroup / "cgroup.procs").write_text(str(os.getpid()))
        elif self.nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (self.nproc, self.nproc))

    def kill_all(self) -> None:
        if not self.cgroup:
            return
        try:
            for pid in (self.cgroup / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        except OSError:
            pass

    async def remove(self) -> None:
        if not self.cgroup:
            return
        for _ in range(50):  # the kernel empties the group as the killed processes are reaped
            try:
                self.cgroup.rmdir()
                return
            except OSError:
                self.kill_all()
                await asyncio.sleep(0.05)


def _limit_child(limits: Limits, cap: ProcessCap):
    def apply() -> None:
        cap.enter()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
        memory = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        size = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _clip(data: bytes, keep_chars: int) -> tuple[str, int]:
    """The head and tail of the output within `keep_chars`; the middle is what gets cut."""
    text = data.decode("utf-8", errors="replace")
    if len(text) <= keep_chars:
        return text, 0
    half = keep_chars // 2
    return text[:half] + "\n[...]\n" + text[-half:], len(text) - 2 * half


async def run(
    command: str,
    settings: ToolSettings,
    *,
    network: bool = False,
    timeout_s: float | None = None,
    sandboxed: bool = True,
) -> CommandResult:
    """Run `command` with bash in the sandbox (or, when `sandboxed` is False, only under the
    limits) and return its exit code and merged, clipped output."""
    limits = settings.limits
    timeout = min(timeout_s or limits.timeout_s, 600)
    if sandboxed:
        argv = bwrap_command(settings, command, network)
        env = None
    else:
        argv = ["/bin/bash", "-c", command]
        env = {"PATH": SANDBOX_PATH, "HOME": str(settings.workspace), "LANG": "C.UTF-8", "TERM": "dumb"}
    cap = ProcessCap(limits.processes)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=settings.workspace,
        env=env,
        start_new_session=True,  # one process group to kill
        preexec_fn=_limit_child(limits, cap),
    )
    head = bytearray()
    total = 0
    flooded = False

    async def pump() -> None:
        nonlocal total, flooded
        assert proc.stdout
        while chunk := await proc.stdout.read(65536):
            total += len(chunk)
            head.extend(chunk)
            if len(head) > 2 * HARD_OUTPUT_BYTES // 4:
                del head[HARD_OUTPUT_BYTES // 4 : len(head) - HARD_OUTPUT_BYTES // 4]
            if total > HARD_OUTPUT_BYTES:
                flooded = True
                return

    timed_out = False
    try:
        await asyncio.wait_for(pump(), timeout)
        if flooded:
            raise TimeoutError
        await asyncio.wait_for(proc.wait(), max(0.1, timeout))
    except TimeoutError:
        timed_out = not flooded
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        cap.kill_all()
        await proc.wait()
        await cap.remove()
    output, cut = _clip(bytes(head), limits.output_chars)
    return CommandResult(
        exit_code=None if timed_out or flooded else proc.returncode,
        output=output,
        sandboxed=sandboxed,
        timeout_s=timeout,
        timed_out=timed_out,
        cut_chars=cut + max(0, total - len(head)),
        stopped_for_flooding=flooded,
        process_cap=cap.kind,
    )
