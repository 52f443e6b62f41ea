"""Attack: still be running after the batch has given up on this submission, and for good.

Each call waits just under the idle limit, so that the submission keeps its grading process busy
until the batch's per-submission timeout kills that process (``pool._Worker.kill``: SIGKILL to its
process group). The fork server dies with it (PR_SET_PDEATHSIG), and so does each worker's middle
process; but the worker itself changed its uid in ``isolate.confine`` after ``die_with_parent``,
and a credential change clears the parent-death signal. While it waits, the call watches its
output pipe: once the grader's end is gone (POLLERR), it never returns, so the worker (PID 1 of
its namespaces, with everything it started) is reparented to init and lives on after
``ditgrade grade`` has returned.

The clean-up that should stop it is a race: when the grading process dies, the fork server sees
its control socket close (exit_files) slightly before the kernel sends it the parent-death SIGKILL
(exit_notify); if it is scheduled in between, its ``finally`` kills its workers. Children that keep
both CPUs busy during the wait make the SIGKILL win most of the time (5 runs in 6 here).

What must hold instead: when the batch kills a grading process, every sandboxed process of that
process dies too; nothing with a sandbox uid is left once ``ditgrade grade`` has returned.
"""
import os
import select
import time


def _spin(seconds):
    """Children that keep both CPUs busy while we wait: when the grading process is killed, its fork
    server then tends to get its parent-death SIGKILL before it can run its clean-up."""
    for _ in range(3):
        try:
            if os.fork() == 0:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    pass
                os._exit(0)
        except OSError:
            pass


def _slow():
    _spin(14)
    poller = select.poll()
    poller.register(1, select.POLLOUT)
    start = time.monotonic()
    while time.monotonic() - start < 14:
        for _fd, ev in poller.poll(500):
            if ev & select.POLLERR:  # nobody reads our output any more: the grader is gone
                while True:
                    time.sleep(3600)
        time.sleep(0.5)
    raise RuntimeError("slow")


def patchify(z, p):
    _slow()


def unpatchify(tokens, p, c, h, w):
    _slow()


def sequence_length(h, w, p):
    _slow()
