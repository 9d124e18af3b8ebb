"""Commands run inside bubblewrap, and the limits that hold for a command as a whole.

The command sees the system read-only, its workspace writable, a small private `/tmp`, its
own PID namespace and `/proc` (it sees no host process and no environment but its own), no
network and no Unix sockets unless approved (society/tools/seccomp.py), and runs as an
unprivileged uid in a user namespace with every capability dropped and `/proc/sys`
read-only. Credentials inside bound folders are hidden after the folders are bound, and
the workspace's version-control metadata and start-up files are read-only.

Limits: one cgroup per command caps its processes and memory together; a watchdog stops it
when it grows the workspace's disk by more than `disk_mb` or makes more than `files` files,
or (without a memory cgroup) when its processes' memory adds up past `memory_mb`; output is
drained to the end and clipped; the wall-clock limit kills the whole tree. A model may lower
a limit for its call, never raise one past the user's setting.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from society.paths import settings_dir
from society.tools import aftercare, seccomp
from society.tools.cgroups import CommandGroup
from society.tools.protected import EDITOR_DIRS, STARTUP_FILES, VCS_DIRS, secret_mounts
from society.tools.settings import Limits, ToolSettings

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SANDBOX_UID = 65534  # "nobody" inside the user namespace
HARD_OUTPUT_BYTES = 4_000_000  # past this the command is stopped: it is only flooding
WATCH_EVERY_S = 0.1
DRAIN_AFTER_KILL_S = 3.0  # how long the rest of the output may take to arrive once killed
PROTECTED_SCAN_DEPTH = 3  # how deep nested repositories are looked for in the workspace
PROTECTED_SCAN_FOLDERS = 2000  # folders looked into for nested repositories
PRIVATE_MOUNTS = (Path("/proc"), Path("/dev"), Path("/tmp"))


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
    stopped_for: str | None = None  # a whole-command limit that stopped it: memory, disk, files
    undone: list[str] = field(default_factory=list)  # what society/tools/aftercare.py undid

    def render(self) -> str:
        lines = [f"exit code {self.exit_code}" if self.exit_code is not None else "killed"]
        if self.timed_out:
            lines.append(f"[timed out after {self.timeout_s:g} s; the command and everything it started were killed]")
        if self.stopped_for_flooding:
            lines.append(f"[stopped: more than {HARD_OUTPUT_BYTES} bytes of output]")
        if self.stopped_for:
            lines.append(f"[stopped: {self.stopped_for}]")
        lines.append(self.output.rstrip() or "(no output)")
        if self.cut_chars:
            lines.append(f"[output truncated: {self.cut_chars} characters cut from the middle]")
        lines += [f"[{line}]" for line in self.undone]
        return "\n".join(lines)


def bwrap() -> str | None:
    return shutil.which("bwrap") if sys.platform.startswith("linux") else None


def posix() -> bool:
    """Whether commands can run here at all: process groups and resource limits are POSIX
    (native Windows has neither; there the executor's commands are refused in one line)."""
    return hasattr(os, "killpg") and hasattr(os, "setsid") and os.name == "posix"


def _protected_in(workspace: Path) -> list[Path]:
    """Existing VCS metadata, editor settings and start-up files in the workspace, nested
    repositories included (a bounded walk that follows no links). Each folder is asked for
    the protected names directly, so no number of other files in it hides one."""
    names = sorted(VCS_DIRS | EDITOR_DIRS | STARTUP_FILES)
    found: list[Path] = []
    folders = [(workspace, 0)]
    visited = 0
    while folders and visited < PROTECTED_SCAN_FOLDERS:
        folder, depth = folders.pop(0)  # breadth first: the workspace's own come first
        visited += 1
        found += [folder / n for n in names if os.path.lexists(folder / n) and not (folder / n).is_symlink()]
        if depth + 1 >= PROTECTED_SCAN_DEPTH:
            continue
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name not in names and entry.is_dir(follow_symlinks=False):
                        folders.append((Path(entry.path), depth + 1))
        except OSError:
            continue
    return found


def bwrap_command(settings: ToolSettings, command: str, network: bool, seccomp_fd: int | None = None) -> list[str]:
    """The bwrap command line. The order matters: a later mount covers an earlier one, so
    the secrets are hidden after the folders holding them are bound."""
    binary = bwrap()
    if not binary:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    limits = settings.limits
    workspace = Path(os.path.realpath(settings.workspace))
    tmp_bytes = str(limits.tmp_mb * 1024 * 1024)
    args = [binary, "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    args += ["--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    if network:
        args.append("--share-net")
    bound: list[Path] = [Path(folder) for folder in SYSTEM_DIRS if os.path.isdir(folder)]
    for root in [*settings.read_roots, *settings.write_roots]:  # commands only ever write the workspace
        real = Path(os.path.realpath(root))
        if real.is_dir() and real not in bound:
            bound.append(real)
    # A later mount covers an earlier one. Folders holding the private /proc, /dev and /tmp
    # (a read root of "/") are bound before those, so they cannot cover them; folders inside
    # them (a read root under /tmp) after, so they are not covered themselves.
    inside_private = [f for f in bound if any(f.is_relative_to(p) for p in PRIVATE_MOUNTS)]
    for folder in [f for f in bound if f not in inside_private]:
        args += ["--ro-bind", str(folder), str(folder)]
    args += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--ro-bind-try"]
    args += ["/proc/sysrq-trigger", "/proc/sysrq-trigger", "--dev", "/dev"]
    args += ["--size", tmp_bytes, "--tmpfs", "/dev/shm", "--size", tmp_bytes, "--tmpfs", "/tmp"]
    for folder in inside_private:
        if not folder.is_relative_to("/proc") and not folder.is_relative_to("/dev"):
            args += ["--ro-bind", str(folder), str(folder)]
    for hidden in secret_mounts(bound, settings_dir()):
        if hidden.is_dir():  # the data folder may hold the workspace: that is bound again below
            args += ["--tmpfs", str(hidden)]
        else:
            args += ["--ro-bind", "/dev/null", str(hidden)]
    args += ["--bind", str(workspace), str(workspace)]
    for protected in _protected_in(workspace):
        args += ["--ro-bind", str(protected), str(protected)]
    args += ["--remount-ro", "/dev", "--chdir", str(workspace), "--clearenv"]
    for name, value in (("PATH", SANDBOX_PATH), ("HOME", str(workspace)), ("LANG", "C.UTF-8"), ("TERM", "dumb")):
        args += ["--setenv", name, value]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "/bin/bash", "-c", command]


def minimal_environment(home: Path) -> dict[str, str]:
    """What bwrap itself (PID 1 of the sandbox, whose /proc/1/environ a command can read)
    and an unsandboxed command start with: nothing of the society's own environment."""
    return {"PATH": SANDBOX_PATH, "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb"}


def _limit_child(limits: Limits, group: CommandGroup):
    def apply() -> None:
        import resource

        group.enter()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
        memory = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        # No file larger than the disk the whole command may use, whatever file_mb says.
        size = min(limits.file_mb, limits.disk_mb) * 1024 * 1024
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


class _Output:
    """Reads a command's output to the end, keeping its head and tail: a pipe left undrained
    would keep a killed command's writers blocked and its end never seen."""

    def __init__(self, stream: asyncio.StreamReader):
        self.stream = stream
        self.kept = bytearray()
        self.total = 0
        self.flooded = asyncio.Event()

    async def drain(self) -> None:
        while chunk := await self.stream.read(65536):
            self.total += len(chunk)
            if self.total <= HARD_OUTPUT_BYTES:
                self.kept.extend(chunk)
                if len(self.kept) > HARD_OUTPUT_BYTES // 2:
                    del self.kept[HARD_OUTPUT_BYTES // 4 : len(self.kept) - HARD_OUTPUT_BYTES // 4]
            else:
                self.flooded.set()


def _disk_use(folder: Path) -> tuple[int, int]:
    """Bytes and inodes in use on the filesystem holding `folder`."""
    info = os.statvfs(folder)
    return (info.f_blocks - info.f_bfree) * info.f_frsize, info.f_files - info.f_ffree


def _memory_of(pids: set[int]) -> int:
    import psutil

    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return total


def _tree(pid: int) -> set[int]:
    import psutil

    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


async def _watch(limits: Limits, workspace: Path, group: CommandGroup, pid: int) -> str:
    """Returns the first whole-command limit crossed: disk growth, file count, or memory
    (summed here only where no memory cgroup holds it)."""
    disk_start, files_start = _disk_use(workspace)
    disk_limit, memory_limit = limits.disk_mb * 1024 * 1024, limits.memory_mb * 1024 * 1024
    while True:
        await asyncio.sleep(WATCH_EVERY_S)
        disk, files = _disk_use(workspace)
        if disk - disk_start > disk_limit:
            return f"the command wrote more than {limits.disk_mb} MB (limits.disk_mb)"
        if files - files_start > limits.files:
            return f"the command made more than {limits.files} files (limits.files)"
        if not group.memory and _memory_of(group.pids_inside() or _tree(pid)) > memory_limit:
            return f"the command's processes used more than {limits.memory_mb} MB of memory (limits.memory_mb)"


def effective_timeout(limits: Limits, asked_s: float | None) -> float:
    """The model may ask for less time than the user's limit, never more."""
    if asked_s is None or asked_s <= 0:
        return limits.timeout_s
    return min(float(asked_s), limits.timeout_s)


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
    timeout = effective_timeout(limits, timeout_s)
    workspace = Path(os.path.realpath(settings.workspace))
    filter_fd = seccomp.program_fd(allow_unix_sockets=network) if sandboxed and seccomp.supported() else None
    argv = bwrap_command(settings, command, network, filter_fd) if sandboxed else ["/bin/bash", "-c", command]
    group = CommandGroup(limits.processes, limits.memory_mb)
    before = aftercare.snapshot(workspace)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=workspace,
            env=minimal_environment(workspace),
            start_new_session=True,  # one process group to kill
            preexec_fn=_limit_child(limits, group),
            pass_fds=(filter_fd,) if filter_fd is not None else (),
        )
    except BaseException:
        await group.remove()
        raise
    finally:
        if filter_fd is not None:
            os.close(filter_fd)
    assert proc.stdout is not None
    output = _Output(proc.stdout)
    reader = asyncio.create_task(output.drain())
    exited = asyncio.create_task(proc.wait())
    flooded = asyncio.create_task(output.flooded.wait())
    watch = asyncio.create_task(_watch(limits, workspace, group, proc.pid))
    stopped_for: str | None = None
    timed_out = False
    try:
        done, _ = await asyncio.wait({exited, flooded, watch}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if exited not in done:
            if watch in done:
                stopped_for = watch.result()
            timed_out = not done
    finally:
        for task in (flooded, watch):
            task.cancel()
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        group.kill_all()
        try:
            await asyncio.wait_for(asyncio.shield(reader), DRAIN_AFTER_KILL_S)
        except TimeoutError:  # a writer outside the group still holds the pipe: stop listening
            reader.cancel()
            proc._transport.close()  # type: ignore[attr-defined]  # closes our end of the pipes
        try:
            await asyncio.wait_for(exited, DRAIN_AFTER_KILL_S)
        except TimeoutError:
            pass
        if stopped_for is None and group.hit_memory_limit():
            stopped_for = f"the command reached its memory limit of {limits.memory_mb} MB (limits.memory_mb)"
        await group.remove()
        undone = aftercare.after_command(workspace, before)
    text, cut = _clip(bytes(output.kept), limits.output_chars)
    is_flooded = output.flooded.is_set()
    return CommandResult(
        exit_code=None if timed_out or is_flooded or stopped_for else proc.returncode,
        output=text,
        sandboxed=sandboxed,
        timeout_s=timeout,
        timed_out=timed_out and not is_flooded,
        cut_chars=cut + max(0, output.total - len(output.kept)),
        stopped_for_flooding=is_flooded,
        process_cap=group.kind,
        stopped_for=stopped_for,
        undone=undone,
    )
