"""Attack: leave things behind on the grading machine: POSIX shared memory, files in /tmp and
/dev/shm, SysV shared memory, message queues and semaphores.

The SysV objects need ``shmget``/``msgget``/``semget``, which Python only reaches through ctypes,
which the worker's audit hook refuses. So a forked child execs a fresh interpreter (no audit hook).
Every exec would fail first: the dynamic loader's first ``open`` gets fd 3, where the channel was,
and the seccomp filter refuses ``read`` on fd 3. Closing fd 3 (not filtered) and creating an
inheritable memfd in its place gets past that; the new interpreter then uses ctypes freely.

What must hold instead: all of it lives in the worker's own IPC namespace and private tmpfs and
vanishes with the worker; nothing with a sandbox uid is left in /dev/shm, /tmp or ``ipcs``.
"""
import os
import sys
import time

_SYSV = (
    "import ctypes\n"
    "libc = ctypes.CDLL(None)\n"
    "print('shm', libc.shmget(0x5EC1, 1 << 20, 0o1666), 'msg', libc.msgget(0x5EC2, 0o1666),\n"
    "      'sem', libc.semget(0x5EC3, 1, 0o1666), flush=True)\n"
)


def _exec_fresh(code: str) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            os.close(3)
            os.memfd_create("fd3", 0)  # no MFD_CLOEXEC: fd 3 stays taken across exec
            os.execv(sys.executable, [sys.executable, "-c", code])
        finally:
            os._exit(1)
    os.waitpid(pid, 0)


def sequence_length(h, w, p):
    from multiprocessing import shared_memory

    try:
        shared_memory.SharedMemory(name="ditgrade_leak", create=True, size=1 << 20)
    except OSError:
        pass
    for path in ("/tmp/ditgrade_leak", "/dev/shm/ditgrade_leak_file"):
        try:
            with open(path, "w") as f:
                f.write("left behind\n")
        except OSError:
            pass
    _exec_fresh(_SYSV)
    time.sleep(0.2)
    return 0
