"""The worker's seccomp filter: the allowlist of ``ditgrade.worker.syscalls``, and the channel kept apart.

Every system call not on the allowlist fails with EPERM (``clone3`` with ENOSYS, so that the C
library falls back to ``clone``, whose flags the filter can read). On the allowlist, a few calls
are allowed only with some arguments:

* any call that reads, writes, duplicates, replaces or reconfigures a descriptor, when that
  descriptor is the channel to the grader (``CHANNEL_FD_ARGS``): only ``sendmsg`` and ``recvmsg``
  reach it, and Python reaches those only through the worker's own socket object, which no student
  frame leads to (``ditgrade.worker.calls``); with ``socket``/``socketpair`` refused, no other
  socket exists that could carry a copy of it elsewhere;
* ``clone`` without namespace flags; ``prctl`` with the options of ``PRCTL_OPTIONS`` only (not
  ``PR_SET_DUMPABLE``: the worker clears it, forks inherit that, and with ``execve`` refused no
  process here ever becomes dumpable again, so nothing dumps core, even into a ``core_pattern``
  pipe); ``personality`` to ask only; ``prlimit64`` on the process itself; ``ioctl`` without the
  terminal-injection commands.

The filter holds for the worker and everything it forks. x86-64 and arm64; elsewhere ``install``
reports that it did not apply.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

from . import syscalls

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000

_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _PR_SET_DUMPABLE = 38, 22, 2, 4

Insn = tuple[int, int, int, int]
ALLOW: Insn = (_RET_K, 0, 0, _RET_ALLOW)
DENY: Insn = (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)


def _arg(position: int) -> Insn:
    """Load the low 32 bits of argument ``position`` (the kernel reads descriptors and flags as int)."""
    return (_LD_W_ABS, 0, 0, 16 + 8 * position)


def _deny_values(position: int, values: tuple[int, ...]) -> list[Insn]:
    """Deny when the argument is one of ``values``; fall through otherwise."""
    out = [_arg(position)]
    for v in values:
        out += [(_JEQ_K, 0, 1, v), DENY]
    return out


def _allow_values(position: int, values: tuple[int, ...]) -> list[Insn]:
    """Allow when the argument is one of ``values``, deny otherwise (ends the block)."""
    n = len(values)
    return [_arg(position)] + [(_JEQ_K, n - i, 0, v) for i, v in enumerate(values)] + [DENY, ALLOW]


def _rule(name: str, fd: int) -> list[Insn] | None:
    """The checks of one allowed call (ending in a return), or None when it is allowed outright."""
    if name == "clone":
        return [_arg(0), (_JSET_K, 0, 1, syscalls.CLONE_NAMESPACE_FLAGS), DENY, ALLOW]
    if name == "prctl":
        return _allow_values(0, syscalls.PRCTL_OPTIONS)
    if name == "personality":
        return _allow_values(0, syscalls.PERSONALITIES)
    if name == "prlimit64":
        return _allow_values(0, (0,))
    checks: list[Insn] = []
    for position in syscalls.CHANNEL_FD_ARGS.get(name, ()):
        checks += _deny_values(position, (fd,))
    if name == "ioctl":
        checks += _deny_values(1, syscalls.TTY_INJECTION)
    return checks + [ALLOW] if checks else None


def program(arch: str, fd: int) -> list[Insn]:
    """The BPF program for ``arch`` with the channel on ``fd``."""
    numbers = syscalls.NUMBERS[arch]
    head: list[Insn] = [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 1, 0, _AUDIT_ARCH[arch]), DENY,  # another ABI
                        (_LD_W_ABS, 0, 0, 0)]
    if arch == "x86_64":  # the x32 ABI shares the architecture number: refuse its calls
        head += [(_JGE_K, 0, 1, _X32_BIT), DENY]
    body: list[Insn] = [(_JEQ_K, 0, 1, numbers["clone3"]), (_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    for name in sorted(syscalls.ALLOWED):
        if name not in numbers:  # a legacy call this architecture does not have
            continue
        rule = _rule(name, fd)
        if rule is None:
            body += [(_JEQ_K, 0, 1, numbers[name]), ALLOW]
        else:  # the number stays loaded until a rule's first check; every rule ends in a return
            body += [(_JEQ_K, 0, len(rule), numbers[name])] + rule
    return head + body + [DENY]


def install(fd: int) -> str:
    """Install the filter for this process and its children; '' or why it did not apply."""
    arch = platform.machine()
    if arch not in syscalls.NUMBERS:
        return f"seccomp allowlist not available on {arch}"
    code = program(arch, fd)
    raw = b"".join(struct.pack("<HBBI", op, jt, jf, k) for op, jt, jf, k in code)
    buf = ctypes.create_string_buffer(raw)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(code), ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    ul = ctypes.c_ulong
    if libc.prctl(_PR_SET_DUMPABLE, ul(0), ul(0), ul(0), ul(0)) != 0:
        return f"prctl(PR_SET_DUMPABLE) failed: {errno.errorcode.get(ctypes.get_errno())}"
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, ul(1), ul(0), ul(0), ul(0)) != 0:
        return f"prctl(PR_SET_NO_NEW_PRIVS) failed: {errno.errorcode.get(ctypes.get_errno())}"
    if libc.prctl(_PR_SET_SECCOMP, ul(_SECCOMP_MODE_FILTER), ctypes.byref(prog), ul(0), ul(0)) != 0:
        return f"seccomp filter refused: {errno.errorcode.get(ctypes.get_errno())}"
    return ""
