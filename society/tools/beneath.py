"""Open a path beneath a folder in one step that cannot be steered out of it.

Checking a path and then opening it by name is a race: between the two, a command in the
sandbox (or any other process) can swap a folder or the last component for a symlink to
`/etc`. Here the folder is opened once, and the rest of the path is resolved by the kernel
relative to that descriptor without following any symlink: `openat2()` with
`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS` where the kernel has it
(Linux 5.6+), otherwise a walk that opens each component with `O_NOFOLLOW` relative to the
descriptor of the one before. Either way a symlink anywhere in the path is an error, never
a way out, and what is opened is what is used: no second lookup by name.

Platforms without `dir_fd` support (Windows) fall back to a resolve-then-open check, which
is what the file tools did before; the sandbox does not run there either.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from pathlib import PurePath

O_PATH = getattr(os, "O_PATH", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH = 0x02, 0x04, 0x08
_SYS_OPENAT2 = 437  # the same number on every architecture Linux added it to
SUPPORTED = os.open in os.supports_dir_fd


class Escape(PermissionError):
    """The path leads through a symlink or out of the folder."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_openat2_works: bool | None = None


def _openat2(dir_fd: int, relative: str, flags: int, mode: int) -> int | None:
    """openat2(), or None where the kernel or libc lacks it."""
    global _openat2_works
    if _openat2_works is False:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        _openat2_works = False
        return None
    mode = mode if flags & os.O_CREAT else 0  # openat2 refuses a mode without O_CREAT
    how = _OpenHow(flags | O_CLOEXEC, mode, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
    syscall.restype = ctypes.c_long
    fd = syscall(_SYS_OPENAT2, dir_fd, relative.encode(), ctypes.byref(how), ctypes.sizeof(how))
    if fd >= 0:
        _openat2_works = True
        return fd
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM) and _openat2_works is None:  # EPERM: a seccomp policy
        _openat2_works = False
        return None
    if err in (errno.ELOOP, errno.EXDEV):
        raise Escape(f"{relative} goes through a symlink; symlinks are not followed")
    raise OSError(err, os.strerror(err), relative)


def _walk(dir_fd: int, parts: list[str], flags: int, mode: int) -> int:
    current = os.dup(dir_fd)
    try:
        for part in parts[:-1]:
            try:
                step = os.open(part, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | os.O_RDONLY, dir_fd=current)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(current, part):
                    raise Escape(f"{part} is a symlink; symlinks are not followed") from None
                raise
            os.close(current)
            current = step
        try:
            return os.open(parts[-1], flags | O_NOFOLLOW | O_CLOEXEC, mode, dir_fd=current)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) and _is_link(current, parts[-1]):
                raise Escape(f"{parts[-1]} is a symlink; symlinks are not followed") from None
            raise
    finally:
        os.close(current)


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def check_parts(relative: str) -> list[str]:
    """The components of a relative path; refuses absolute paths, `..` and NUL."""
    if "\x00" in relative:
        raise Escape("the path contains a NUL byte")
    path = PurePath(relative)
    if path.is_absolute() or path.anchor:
        raise Escape(f"{relative} is not relative to the folder")
    parts = [p for p in path.parts if p not in ("", ".")]
    if ".." in parts:
        raise Escape(f"'..' is not allowed in paths ({relative})")
    return parts


def open_beneath(root: str, relative: str, flags: int, mode: int = 0o644) -> int:
    """A descriptor for `relative` inside the folder `root`, opened with `flags`; Escape if
    any component is a symlink. The empty path (or ".") opens `root` itself."""
    parts = check_parts(relative)
    root_fd = os.open(root, O_DIRECTORY | O_CLOEXEC | os.O_RDONLY)
    try:
        if not parts:
            return os.dup(root_fd) if flags & O_DIRECTORY else os.open(".", flags | O_CLOEXEC, dir_fd=root_fd)
        fd = _openat2(root_fd, "/".join(parts), flags, mode)
        return fd if fd is not None else _walk(root_fd, parts, flags, mode)
    finally:
        os.close(root_fd)


def make_dirs_beneath(root: str, relative: str) -> None:
    """Create the folders of `relative` inside `root`, each made relative to its parent's
    descriptor; Escape if one of them is a symlink."""
    parts = check_parts(relative)
    current = os.open(root, O_DIRECTORY | O_CLOEXEC | os.O_RDONLY)
    try:
        for part in parts:
            try:
                os.mkdir(part, 0o755, dir_fd=current)
            except FileExistsError:
                pass
            try:
                step = os.open(part, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | os.O_RDONLY, dir_fd=current)
            except OSError as err:
                if _is_link(current, part):
                    raise Escape(f"{part} is a symlink; symlinks are not followed") from None
                raise NotADirectoryError(f"{part} is not a folder") from err
            os.close(current)
            current = step
    finally:
        os.close(current)


def regular_file(fd: int, name: str) -> os.stat_result:
    """fstat of an opened file; refuses what is not a plain file with one link (a FIFO, a
    device, a socket, or a hard link that may be a host file planted in the folder)."""
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(f"{name} is a folder; use list_dir")
    if not stat.S_ISREG(info.st_mode):
        raise PermissionError(f"{name} is not a regular file (a pipe, socket or device); it is not opened")
    if info.st_nlink > 1:
        raise PermissionError(f"{name} has {info.st_nlink} hard links; such files are not touched")
    return info
