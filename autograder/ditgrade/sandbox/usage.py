"""How much of the machine a sandboxed process has used, read from /proc by the grader.

Grades must not depend on how busy the machine is, so budgets count CPU time, not wall time. A
process can also hang without computing (``time.sleep``, waiting on a lock); ``idle`` catches that:
the wall time during which the process was neither running nor waiting for a CPU. Waiting for a CPU
(``run_delay`` in ``/proc/<pid>/task/*/schedstat``) is what load adds, and it counts as neither.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid``, its threads and its waited-for children, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rpartition(b")")[2].split()  # the name may hold spaces and parentheses
    return sum(int(x) for x in fields[11:15]) / _TICK  # utime stime cutime cstime


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
    """CPU, wall and idle time of one process since ``Meter(pid)``."""

    def __init__(self, pid: int):
        self.pid = pid
        self._wall0 = time.monotonic()
        self._cpu0 = self._read_cpu()
        self._wait0 = waiting_seconds(pid)

    def _read_cpu(self) -> float:
        try:
            return cpu_seconds(self.pid)
        except (OSError, IndexError, ValueError):
            return 0.0

    def sample(self) -> Sample:
        wall = time.monotonic() - self._wall0
        cpu = max(0.0, self._read_cpu() - self._cpu0)
        waiting = max(0.0, waiting_seconds(self.pid) - self._wait0)
        return Sample(cpu=cpu, wall=wall, idle=max(0.0, wall - cpu - waiting))
