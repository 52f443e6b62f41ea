"""How much of the machine a sandboxed worker has used, read by the grader.

Grades must not depend on how busy the machine is, so budgets count CPU time, not wall time, and
the CPU time of everything the student started, not only of the worker process: from the worker's
control group where it has one (``sandbox.cgroup``: the kernel counts every process that ever ran
in it), else summed over the processes of its PID namespace, live or zombie (a child reaped by
its parent is in that parent's count; only children reaped automatically, with SIGCHLD ignored,
escape it, and the wall-clock backstop still bounds them).

A process can also hang without computing (``time.sleep``, waiting on a lock); ``idle`` catches
that: the wall time during which the worker was neither running nor waiting for a CPU, nor waiting
for the grader. Waiting for a CPU (``run_delay`` in ``/proc/<pid>/task/*/schedstat``, kept for
threads that have ended; one thread's, never a sum) and the grader's own lateness are what load
adds, and count as neither:
before both were taken away, a correct notebook beside six busy processes was charged 0.75 to 0.92
s of idle time (0.08 s quiet), and afterwards 0.02 to 0.03 s (benchmarks/README.md).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .cgroup import Group

_TICK = os.sysconf("SC_CLK_TCK")
RESCAN_S = 0.5  # how often the namespace's process list is read again (new children)


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid``, its threads and its waited-for children, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rpartition(b")")[2].split()  # the name may hold spaces and parentheses
    return sum(int(x) for x in fields[11:15]) / _TICK  # utime stime cutime cstime


def namespace_members(pid: int) -> list[int]:
    """Every process in the PID namespace of which ``pid`` is the first process."""
    try:
        ns = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return []
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == ns:
                    out.append(int(name))
            except OSError:
                continue
    return out


def thread_busy(pid: int) -> dict[str, int]:
    """{thread id: nanoseconds it spent running or runnable but waiting for a CPU} for ``pid``'s live
    threads ({} when unknown). A thread's count goes with it when it ends, so a meter keeps the last."""
    waits = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return waits
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                run, wait = f.read().split()[:2]
                waits[tid] = int(run) + int(wait)
        except (OSError, IndexError, ValueError):
            continue
    return waits


def own_busy_seconds() -> float:
    """Time the calling thread of the grader has spent running or waiting for a CPU (0 when unknown)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            run, wait = f.read().split()[:2]
        return (int(run) + int(wait)) / 1e9
    except (OSError, ValueError):
        return 0.0


@dataclass
class Sample:
    cpu: float  # seconds of CPU since the meter started
    wall: float
    idle: float  # wall time neither computing nor waiting for a CPU, nor waiting for the grader


class Meter:
    """CPU, wall and idle time of one worker and all it started, since ``Meter(pid, group)``; read
    (``sample``) on the grader's thread that made it.

    Idle is the wall time left when the worker's busy time (its CPU time, or the longest time one
    of its threads was running or waiting for a CPU, whichever is more) and the grader's own busy
    time (running, or waiting for a CPU: while the grader sends a request or has yet to wake for a
    reply, the worker can only wait for it) are taken away. On a busy machine the waits grow and
    idle does not.
    """

    def __init__(self, pid: int, group: Group | None = None):
        self.pid, self.group = pid, group
        self._members: list[int] = []
        self._scanned = 0.0
        self._cpu_last = 0.0
        self._wall0 = time.monotonic()
        self._grader0 = own_busy_seconds()
        self.cpu0 = self._read_cpu()  # the tree's CPU seconds so far, when the meter started
        # Each thread's wait when the meter started (a thread started since began at 0) and when last
        # read: a thread that ended keeps its last count, which /proc no longer shows.
        self._wait0 = thread_busy(pid)
        self._wait_last = dict(self._wait0)

    def _read_cpu(self) -> float:
        """The current count; once the worker is gone, the last one read."""
        if self.group is not None:
            try:
                self._cpu_last = self.group.cpu_seconds()
                return self._cpu_last
            except (OSError, ValueError):
                pass
        now = time.monotonic()
        if now - self._scanned >= RESCAN_S:
            self._members, self._scanned = namespace_members(self.pid), now
        total, seen = 0.0, False
        for pid in self._members:
            try:
                total += cpu_seconds(pid)
                seen = True
            except (OSError, IndexError, ValueError):
                continue  # gone: reaped by a parent whose own count now holds it
        if seen:
            self._cpu_last = total
        return self._cpu_last

    def sample(self) -> Sample:
        wall = time.monotonic() - self._wall0
        cpu = max(0.0, self._read_cpu() - self.cpu0)
        self._wait_last.update(thread_busy(self.pid))
        base = self._wait0.get
        # Busy: the CPU time of all, or the longest time one thread was running or waiting for a CPU,
        # whichever is more; never a sum of waits: threads runnable together wait at once, and a
        # sum grew N-1 seconds a second for N threads on one CPU, credit that hid 150 s of sleep
        # behind 4 s of CPU (independent attack round 7). A worker computes on one thread at a time.
        longest = max((n - base(tid, 0) for tid, n in self._wait_last.items()), default=0) / 1e9
        grader = own_busy_seconds() - self._grader0
        return Sample(cpu=cpu, wall=wall, idle=max(0.0, wall - max(cpu, longest) - grader))
