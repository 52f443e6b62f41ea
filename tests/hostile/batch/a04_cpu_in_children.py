"""Attack: spend CPU time the budgets never see.

``usage.cpu_seconds`` reads utime+stime of the worker and of the children it has *waited for*
(cutime, cstime). Work done in children that are never reaped is invisible; and a parent that is
runnable but waiting for a CPU is not "idle" either. So the first call forks two children that
burn 12 s of CPU each (24 s in all, more than the 20 s a call may use), while the worker's own
thread spins at nice 19 (it is mostly waiting for a CPU: neither CPU time nor idle time), and
then returns the right answer.

What must hold instead: a call that makes the machine do 24 s of work is stopped by its 20 s CPU
budget (the test fails with a timeout), however the work is spread over processes.
"""
import os
import time

_done = []


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def sequence_length(h, w, p):
    if not _done:
        _done.append(1)
        r, wfd = os.pipe()
        kids = []
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                _burn(12)
                os.write(wfd, b"x")
                os._exit(0)  # never waited for: its CPU time is never the worker's
            kids.append(pid)
        os.nice(19)
        got = 0
        os.set_blocking(r, False)
        while got < 2:
            try:
                got += len(os.read(r, 2))
            except BlockingIOError:
                pass
    return (h // p) * (w // p)
