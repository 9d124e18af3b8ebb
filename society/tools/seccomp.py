"""A seccomp filter for the sandbox, written as classic BPF (no libseccomp needed).

bubblewrap cuts the network by giving the command an empty network namespace, but a Unix
socket is a file: one in a folder bound into the sandbox (a host service's socket inside a
read root, Docker's socket) still accepts `connect()`. Without network approval the filter
makes `socket(AF_UNIX, ...)` fail with EACCES, so the command cannot talk to host services.
It also refuses what would go around it: `io_uring` (which can create sockets without the
`socket` system call), foreign system-call ABIs (x32, 32-bit `socketcall`), and new user
namespaces (`unshare`/`clone` flags are left to bwrap's own `--disable-userns`). Kernel
keyrings and fallocate() are refused for every command (see below).

`socketpair()` stays allowed: it makes two connected ends inside the sandbox and reaches
nothing outside it."""

from __future__ import annotations

import errno
import os
import platform
import struct

# BPF instruction classes and fields (linux/filter.h, linux/bpf_common.h)
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000  # SECCOMP_RET_ALLOW
_ERRNO = 0x00050000  # SECCOMP_RET_ERRNO | errno

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR, _ARCH, _ARG0 = 0, 4, 16  # args[0]'s low 32 bits on little-endian machines
AF_UNIX = 1

# Per machine: the audit arch, socket(), io_uring_setup() and the first number of a foreign
# ABI that shares the arch (x32 on x86_64), if any.
_ARCHES = {
    "x86_64": (0xC000003E, 41, 425, 0x40000000),
    "aarch64": (0xC00000B7, 198, 425, None),
}
# Kernel keyrings (add_key, request_key, keyctl): the session and user keyrings are the
# host's (bwrap makes no new one), so a command could read what a login stored there.
_KEYRING_CALLS = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}
# fallocate() reserves gigabytes in one call, between two looks of the disk watchdog; refused
# as unsupported, programs (posix_fallocate, dd) fall back to writing, which the watchdog sees.
_FALLOCATE = {"x86_64": 285, "aarch64": 47}


def supported() -> bool:
    return platform.machine() in _ARCHES


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(allow_unix_sockets: bool) -> bytes:
    """The filter as bytes, as bwrap's `--seccomp FD` reads them."""
    if not supported():
        raise RuntimeError(f"no seccomp filter for {platform.machine()}")
    arch, socket_nr, io_uring_setup_nr, foreign_abi = _ARCHES[platform.machine()]
    deny_access = _ERRNO | errno.EACCES
    deny_missing = _ERRNO | errno.ENOSYS
    code = [
        _insn(_LD_W_ABS, 0, 0, _ARCH),
        _insn(_JEQ_K, 1, 0, arch),  # another ABI (32-bit socketcall...): refused whole
        _insn(_RET_K, 0, 0, deny_missing),
        _insn(_LD_W_ABS, 0, 0, _NR),
    ]
    if foreign_abi is not None:
        code += [_insn(_JGE_K, 0, 1, foreign_abi), _insn(_RET_K, 0, 0, deny_missing)]
    code += [_insn(_JEQ_K, 0, 1, io_uring_setup_nr), _insn(_RET_K, 0, 0, deny_missing)]
    for keyring_nr in _KEYRING_CALLS[platform.machine()]:
        code += [_insn(_JEQ_K, 0, 1, keyring_nr), _insn(_RET_K, 0, 0, _ERRNO | errno.EPERM)]
    code += [_insn(_JEQ_K, 0, 1, _FALLOCATE[platform.machine()]), _insn(_RET_K, 0, 0, _ERRNO | errno.EOPNOTSUPP)]
    if not allow_unix_sockets:
        code += [
            _insn(_JEQ_K, 0, 3, socket_nr),
            _insn(_LD_W_ABS, 0, 0, _ARG0),
            _insn(_JEQ_K, 0, 1, AF_UNIX),
            _insn(_RET_K, 0, 0, deny_access),
        ]
    code.append(_insn(_RET_K, 0, 0, _ALLOW))
    return b"".join(code)


def program_fd(allow_unix_sockets: bool) -> int:
    """A file descriptor positioned at the start of the filter, for `bwrap --seccomp FD`;
    the caller passes it to the child and closes it afterwards."""
    data = program(allow_unix_sockets)
    fd = os.memfd_create("society-seccomp", 0)  # Linux, the only place bwrap runs
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
