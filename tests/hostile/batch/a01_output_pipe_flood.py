"""Attack: keep the grader's end of the output pipe (fd 1) full forever, so that the grader's
``SandboxRunner._drain`` never sees an empty pipe and never gets back to its CPU/idle/wall checks.

A child process (not a thread of the worker, so its CPU time is not the worker's; it re-forks a
fresh writer before RLIMIT_CPU can stop it) grows the pipe to 1 MiB and splices a 1 MiB tmpfs file
into it again and again. The worker's own thread then just sleeps.

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


def patchify(z, p):
    if os.fork() == 0:
        try:
            os.setsid()
            _pump()
        finally:
            os._exit(0)
    time.sleep(10**6)
