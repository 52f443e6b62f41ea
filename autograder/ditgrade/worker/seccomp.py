"""A seccomp filter that keeps the student's code off the worker's channel to the grader.

File descriptors belong to the whole process, so student code could read the grader's requests
or write forged answers with ``os.read``/``os.write`` on the channel's fd. After this filter, any
system call that moves data through, duplicates or reconfigures ``fd`` fails with EPERM, except
``sendmsg`` and ``recvmsg``, the two the worker uses. Python reaches those only through a socket
object, and the worker's is out of the student's reach (``ditgrade.worker.guard`` also refuses
creating new ones). Tracing the worker, reading another process's descriptors, io_uring
(which would bypass system-call filtering) and anonymous memory files are refused outright.

x86-64 and arm64; elsewhere ``install`` reports that it did not apply.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

# syscall -> positions of its arguments that are file descriptors
_FD_ARGS = {
    "x86_64": {0: (0,), 1: (0,), 17: (0,), 18: (0,), 19: (0,), 20: (0,), 295: (0,), 296: (0,), 327: (0,),
               328: (0,), 40: (0, 1), 275: (0, 2), 276: (0, 1), 326: (0, 2), 44: (0,), 45: (0,), 48: (0,),
               42: (0,), 32: (0,), 33: (0, 1), 292: (0, 1), 72: (0,)},
    "aarch64": {63: (0,), 64: (0,), 67: (0,), 68: (0,), 65: (0,), 66: (0,), 69: (0,), 70: (0,), 286: (0,),
                287: (0,), 71: (0, 1), 76: (0, 2), 77: (0, 1), 285: (0, 2), 206: (0,), 207: (0,), 210: (0,),
                203: (0,), 23: (0,), 24: (0, 1), 25: (0,)},
}
# refused whatever their arguments: ptrace, process_vm_readv/writev, pidfd_getfd, io_uring_setup, and
# memfd_create (memory no address-space limit counts, where no control group does)
_DENY = {"x86_64": (101, 310, 311, 438, 425, 319), "aarch64": (117, 270, 271, 438, 425, 279)}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_X32_BIT = 0x40000000

_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _PR_SET_DUMPABLE = 38, 22, 2, 4


def _program(arch: str, fd: int) -> list[tuple[int, int, int, int]]:
    """BPF: deny the always-denied calls; deny fd-calls whose fd arguments equal ``fd``; allow the rest."""
    deny = (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM)
    allow = (_RET_K, 0, 0, _RET_ALLOW)
    body: list[tuple[int, int, int, int]] = []
    for nr in _DENY[arch]:
        body += [(_JEQ_K, 0, 1, nr), deny]
    for nr, positions in _FD_ARGS[arch].items():
        # if nr matches: for each fd argument, load its low 32 bits and deny on a match; then allow
        checks: list[tuple[int, int, int, int]] = []
        for pos in positions:
            checks += [(_LD_W_ABS, 0, 0, 16 + 8 * pos), (_JEQ_K, 0, 1, fd), deny]
        checks += [allow]
        body += [(_JEQ_K, 0, len(checks), nr)] + checks  # not this call: the number is still loaded
    head = [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 1, 0, _AUDIT_ARCH[arch]), deny,  # another ABI: refuse
            (_LD_W_ABS, 0, 0, 0), (_JGE_K, 0, 1, _X32_BIT), deny]
    return head + body + [allow]


def install(fd: int) -> str:
    """Install the filter for this process and its children; '' or why it did not apply."""
    arch = platform.machine()
    if arch not in _FD_ARGS:
        return f"seccomp channel filter not available on {arch}"
    code = _program(arch, fd)
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
