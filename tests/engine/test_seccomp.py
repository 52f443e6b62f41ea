"""The worker's seccomp allowlist, by itself: in a forked child that installs it (and nothing else:
no audit hook, no Landlock), every escape the issue lists fails at the kernel, and what a worker
needs to compute still works. The sandbox's own tests (tests/test_sandbox.py, tests/hostile/) show
the same through a real worker."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
import struct
import sys

import pytest

from ditgrade.worker import seccomp, syscalls

pytestmark = pytest.mark.skipif(platform.machine() not in syscalls.NUMBERS or not sys.platform.startswith("linux"),
                                reason="the allowlist is written for x86-64 and arm64 Linux")
CHANNEL = 1000
NR = syscalls.NUMBERS.get(platform.machine(), {})


def _in_filtered_child(body) -> dict:
    """Run ``body(libc) -> dict`` in a fork that installed the filter; its result (or its failure)."""
    a, b = socket.socketpair()
    os.dup2(a.fileno(), CHANNEL)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            why = seccomp.install(CHANNEL)
            out = {"install": why} if why else body(ctypes.CDLL(None, use_errno=True))
            os.write(w, repr(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.waitpid(pid, 0)
    os.close(r)
    os.close(CHANNEL)
    a.close()
    b.close()
    return eval(data.decode())  # noqa: S307 - our own child's repr of a dict of ints and strs


def _errno(libc, nr: int, *args: int) -> int:
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return 0 if ret >= 0 else ctypes.get_errno()


def test_escapes_are_refused_at_the_kernel() -> None:
    def body(libc) -> dict:
        x86 = platform.machine() == "x86_64"
        calls = {
            "add_key": 248 if x86 else 217, "keyctl": 250 if x86 else 219, "request_key": 249 if x86 else 218,
            "unshare": 272 if x86 else 97, "setns": 308 if x86 else 268, "mount": 165 if x86 else 40,
            "ptrace": 101 if x86 else 117, "bpf": 321 if x86 else 280, "io_uring_setup": 425,
            "perf_event_open": 298 if x86 else 241, "userfaultfd": 323 if x86 else 282,
            "pidfd_getfd": 438, "process_vm_readv": 310 if x86 else 270, "memfd_create": 319 if x86 else 279,
            "setuid": 105 if x86 else 146, "chroot": 161 if x86 else 51, "kcmp": 312 if x86 else 272,
        }
        out = {name: _errno(libc, nr, 0, 0, 0, 0, 0) for name, nr in calls.items()}
        out["unshare(CLONE_NEWUSER)"] = _errno(libc, calls["unshare"], 0x10000000)
        out["clone(CLONE_NEWUSER)"] = _errno(libc, NR["clone"], 0x10000000 | 17, 0, 0, 0, 0)
        out["clone3"] = _errno(libc, NR["clone3"], 0, 0)
        out["prctl(PR_SET_DUMPABLE, 1)"] = _errno(libc, NR["prctl"], 4, 1, 0, 0, 0)
        out["execve"] = _errno(libc, NR["execve"], 0, 0, 0)
        out["socket"] = _errno(libc, NR["socket"], socket.AF_UNIX, socket.SOCK_STREAM, 0)
        out["socketpair"] = _errno(libc, NR["socketpair"], socket.AF_UNIX, socket.SOCK_STREAM, 0, 0)
        for name in ("dup", "read", "write", "close", "fcntl", "ioctl"):
            out[f"{name}(channel)"] = _errno(libc, NR[name], CHANNEL, 0, 0)
        out["dup3(x, channel)"] = _errno(libc, NR["dup3"], 0, CHANNEL, 0)
        out["dup(channel + 2**32)"] = _errno(libc, NR["dup"], CHANNEL + (1 << 32))  # the kernel reads an int
        out["ioctl(TIOCSTI)"] = _errno(libc, NR["ioctl"], 0, 0x5412, 0)
        out["prlimit64(another pid)"] = _errno(libc, NR["prlimit64"], 1, 0, 0, 0)
        out["setpriority(nice 19)"] = _errno(libc, NR["setpriority"], 0, 0, 19)  # PRIO_PROCESS, itself
        out["sched_setscheduler(SCHED_IDLE)"] = _errno(libc, 144 if x86 else 119, 0, 5, 0)
        out["setsid"] = _errno(libc, NR["setsid"])  # a session of its own is a CPU share of its own
        out["setpgid(0, 0)"] = _errno(libc, NR["setpgid"], 0, 0)  # a process group of its own
        out["sched_setaffinity"] = _errno(libc, NR["sched_setaffinity"], 0, 8, ctypes.addressof(ctypes.c_ulong(1)))
        return out

    got = _in_filtered_child(body)
    assert "install" not in got, got
    assert got.pop("clone3") == errno.ENOSYS  # the C library then falls back to clone, whose flags are checked
    assert {k: v for k, v in got.items() if v != errno.EPERM} == {}, got


def test_what_a_worker_needs_still_works() -> None:
    def body(libc) -> dict:
        import threading

        import numpy as np
        import torch

        out = {"torch": float(torch.ones(8, 8).matmul(torch.ones(8, 8)).sum()), "numpy": int(np.arange(5).sum())}
        t = threading.Thread(target=lambda: None)
        t.start()
        t.join()
        out["thread"] = "ok"
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        with open(f"/tmp/ditgrade-seccomp-{os.getpid()}", "w") as f:
            out["file"] = f.write("x")
        os.unlink(f.name)
        out["dup(other)"] = os.dup(0) > 0
        out["sendmsg(channel)"] = _errno(libc, NR["sendmsg"], CHANNEL, 0, 0) != errno.EPERM  # reaches the kernel
        out["prctl(PR_SET_NAME)"] = _errno(libc, NR["prctl"], 15, ctypes.addressof(ctypes.c_char_p(b"x")), 0, 0, 0)
        out["core_dumped"] = _core_dumped()
        return out

    got = _in_filtered_child(body)
    assert got == {"torch": 512.0, "numpy": 10, "thread": "ok", "fork": 7, "file": 1, "dup(other)": True,
                   "sendmsg(channel)": True, "prctl(PR_SET_NAME)": 0, "core_dumped": False}, got


def _core_dumped() -> bool:
    """Whether a forked child that aborts dumps core (the worker cleared its dumpable flag; forks keep it)."""
    pid = os.fork()
    if pid == 0:
        import faulthandler

        faulthandler.disable()  # pytest's: it would print the child's stack
        os.abort()
    return os.WCOREDUMP(os.waitpid(pid, 0)[1])


def test_the_tables_match_the_kernel_headers() -> None:
    """NUMBERS is generated (scripts/gen_syscalls.py); where the headers are installed, they agree."""
    header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
    if platform.machine() != "x86_64" or not os.path.exists(header):
        pytest.skip("no x86-64 kernel headers here")
    import re

    table = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR_(\w+) (\d+)", open(header).read())}
    assert {n: v for n, v in NR.items() if table.get(n) != v} == {}
    assert struct.calcsize("<HBBI") == 8  # one BPF instruction
    assert len(seccomp.program("x86_64", CHANNEL)) < 4096  # the kernel's limit
