"""How much of the machine a sandboxed worker has used, read by the grader.

Grades must not depend on how busy the machine is, so budgets count CPU time, not wall time, and
the CPU time of everything the student started, not only of the worker process: from the worker's
control group where it has one (``sandbox.cgroup``: the kernel counts every process that ever ran
in it), else summed over the processes of its PID namespace, live or zombie (a child reaped by
its parent is in that parent's count; only children reaped automatically, with SIGCHLD ignored,
escape it, and the wall-clock backstop still bounds them).

A process can also hang without computing (``time.sleep``, waiting on a lock); ``idle`` catches
that: the wall time during which the worker was neither running nor waiting for a CPU. Waiting for
a CPU (``run_delay`` in ``/proc/<pid>/task/*/schedstat``) is what load adds, and it counts as neither.
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


def waiting_seconds(pid: int) -> float:
    """Time ``pid``'s threads spent runnable but waiting for a CPU, in seconds (0 when unknown)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


@dataclass
class Sample:
    cpu: float  # seconds of CPU since the meter started
    wall: float
    idle: float  # wall time neither computing nor waiting for a CPU


class Meter:
    """CPU, wall and idle time of one worker and all it started, since ``Meter(pid, group)``."""

    def __init__(self, pid: int, group: Group | None = None):
        self.pid, self.group = pid, group
        self._members: list[int] = []
        self._scanned = 0.0
        self._cpu_last = 0.0
        self._wall0 = time.monotonic()
        self.cpu0 = self._read_cpu()  # the tree's CPU seconds so far, when the meter started
        self._wait0 = waiting_seconds(pid)

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
        waiting = max(0.0, waiting_seconds(self.pid) - self._wait0)
        return Sample(cpu=cpu, wall=wall, idle=max(0.0, wall - cpu - waiting))
