"""How much of the machine a sandboxed worker has used, read by the grader.

Grades must not depend on how busy the machine is, so budgets count CPU time, not wall time, and
the CPU time of everything the student started, not only of the worker process: from the worker's
control group where it has one (``sandbox.cgroup``: the kernel counts every process that ever ran
in it), else summed over the processes of its PID namespace, live or zombie (a child reaped by
its parent is in that parent's count; only children reaped automatically, with SIGCHLD ignored,
escape it, and the wall-clock backstop still bounds them).

A process can also hang without computing (``time.sleep``, waiting on a lock); ``idle`` catches
that: the wall time during which the worker was neither running nor waiting for a CPU, nor waiting
for the grader. Waiting for a CPU (``run_delay`` in ``/proc/<tid>/schedstat``, for every thread of
every process the worker started; in each step between two readings the longest one's, never a
sum: see ``Meter``) and the grader's own lateness are what load adds, and count as neither:
before both were taken away, a correct notebook beside six busy processes was charged 0.75 to 0.92
s of idle time (0.08 s quiet), and afterwards 0.02 to 0.03 s (benchmarks/README.md).
"""

from __future__ import annotations

import os
import threading
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


def thread_busy(pids: list[int], files: Readings | None = None) -> dict[int, int]:
    """{thread id: nanoseconds it spent running or runnable but waiting for a CPU} for the live
    threads of ``pids`` ({} when unknown)."""
    tids = []
    for pid in pids:
        try:
            tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except (OSError, ValueError):
            continue
    return tasks_busy(tids, files)


class Readings:
    """The files a meter reads at every step (a worker's group counters, each of its threads'
    ``schedstat``, the grader thread's own), kept open and read again from their start: ``pread``
    on an open file costs a tenth of opening it again (1.7 µs against 17 µs here), and a grade reads
    about 4,700. A file whose thread or group is gone fails to read (ESRCH, ENODEV), as a fresh open
    would; a thread id used again is a new file. One per worker: ``close`` when it ends."""

    CHUNK = 65536

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._threads: dict[int, str] = {}  # {thread id: its schedstat's path}, for keep_threads

    def read(self, path: str) -> bytes:
        fd = self._fds.get(path)
        if fd is not None:
            try:
                return self._read_all(fd)
            except OSError:  # gone since (a thread that ended): open the path again, which fails alike
                self._close(path)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = self._read_all(fd)
        except OSError:
            os.close(fd)
            raise
        self._fds[path] = fd
        return data

    def text(self, path: str) -> str:
        return self.read(path).decode()

    def schedstat(self, tid: int) -> bytes:
        """A worker thread's ``/proc/<tid>/schedstat``, kept open until ``keep_threads`` drops it."""
        path = self._threads.setdefault(tid, f"/proc/{tid}/schedstat")
        return self.read(path)

    def keep_threads(self, tids: set[int]) -> None:
        """Close the ``schedstat`` of threads no longer among ``tids`` (10,000 short threads must not
        become 10,000 open files)."""
        for tid in [t for t in self._threads if t not in tids]:
            self._close(self._threads.pop(tid))

    def close(self) -> None:
        for path in list(self._fds):
            self._close(path)
        self._threads.clear()

    def __del__(self) -> None:
        self.close()

    def _close(self, path: str) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)

    def _read_all(self, fd: int) -> bytes:
        data = chunk = os.pread(fd, self.CHUNK, 0)
        while len(chunk) == self.CHUNK:
            chunk = os.pread(fd, self.CHUNK, len(data))
            data += chunk
        return data


def tasks_busy(tids: list[int], files: Readings | None = None) -> dict[int, int]:
    """{thread id: nanoseconds running or waiting for a CPU} for each of ``tids`` still there."""
    files = files or Readings()
    out = {}
    for tid in tids:
        try:
            run, wait = files.schedstat(tid).split()[:2]
            out[tid] = int(run) + int(wait)
        except (OSError, IndexError, ValueError):
            continue
    files.keep_threads(set(out))
    return out


def own_busy_seconds(files: Readings | None = None) -> float:
    """Time the calling thread of the grader has spent running or waiting for a CPU (0 when unknown)."""
    try:
        path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        run, wait = (files or Readings()).read(path).split()[:2]
        return (int(run) + int(wait)) / 1e9
    except (OSError, ValueError):
        return 0.0


def address_space_left(pid: int) -> int | None:
    """Bytes ``pid`` may still map under its own limit: RLIMIT_AS less its mapped size, or, where
    only the data segment is limited (a GPU worker), RLIMIT_DATA less its data (None when unknown)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = {k: v.split() for k, _, v in (line.partition(":") for line in f)}
        with open(f"/proc/{pid}/limits") as f:
            soft = {line[:26].strip(): line[26:].split()[0] for line in f if line.startswith("Max ")}
        for limit, size in (("Max address space", "VmSize"), ("Max data size", "VmData")):
            if soft.get(limit, "unlimited").isdigit():
                return int(soft[limit]) - int(status[size][0]) * 1024
    except (OSError, KeyError, IndexError, ValueError):
        pass
    return None


@dataclass
class Sample:
    cpu: float  # seconds of CPU since the meter started
    wall: float
    idle: float  # wall time neither computing nor waiting for a CPU, nor waiting for the grader


class Meter:
    """CPU, wall and idle time of one worker and all it started, since ``Meter(pid, group)``; read
    (``sample``) on the grader's thread that made it, every ``POLL_S`` or so during a call.

    Idle is the wall time left when the worker's busy time and the grader's own busy time (running,
    or waiting for a CPU: while the grader sends a request or has yet to wake for a reply, the
    worker can only wait for it) are taken away. Busy time is summed from one reading to the next:
    in each such step, the CPU time of all the worker's processes, or the longest time any one of
    their threads was running or waiting for a CPU, whichever is more, and never more than the
    step. So on a busy machine the waits grow and idle does not, whether the work moved from thread
    to thread or into a child process (independent attack round 8: summed over a whole call, only
    the longest thread counted, and forty threads run one after another, or a child computing while
    the call waited for it, were charged their waits as idle on a loaded machine); and threads
    runnable together never add up to more than the wall time they share (round 7: a sum of waits
    grew N-1 seconds a second for N threads on one CPU, credit that hid 150 s of sleep).

    A thread that starts and ends between two readings leaves its CPU time in the count but takes
    its wait for a CPU with it (round 9: 10,000 threads of 1 ms each in one call, beside 14 busy
    processes on 2 cores, were charged 20 s idle). Where the group has pressure stall information
    (``Group.stalled_seconds``: the time every runnable thread of the group waited for a CPU while
    none of them ran, kept by the kernel for threads long gone), each step's CPU time counts with
    that stall added. A stall is the machine's doing, never the student's: a thread waiting behind
    its own siblings on a CPU is not one (one of theirs runs there), so threads runnable together
    still buy nothing. Without it (no control group, or pressure stall information off) the gap
    stays.
    """

    def __init__(self, pid: int, group: Group | None = None, files: Readings | None = None):
        self.pid, self.group, self.files = pid, group, files or Readings()
        self._members: list[int] = []
        self._scanned = 0.0
        self._cpu_last = 0.0
        self._wall0 = self._wall_seen = time.monotonic()
        self._grader0 = own_busy_seconds(self.files)
        self.cpu0 = self._read_cpu()  # the tree's CPU seconds so far, when the meter started
        self._cpu_seen = self.cpu0
        self._stall_seen = self._read_stall()
        self._busy = 0.0
        self._threads = self._read_threads()  # {tid: running or waiting ns} at the last reading

    def _read_cpu(self) -> float:
        """The current count; once the worker is gone, the last one read."""
        if self.group is not None:
            try:
                self._cpu_last = self.group.cpu_seconds(self.files.text)
                return self._cpu_last
            except (OSError, ValueError):
                pass
        self._rescan()
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

    def _read_stall(self) -> float | None:
        """The group's stall so far (seconds), or None where there is none to read."""
        if self.group is None:
            return None
        try:
            return self.group.stalled_seconds(self.files.text)
        except (OSError, ValueError):
            return None

    def _rescan(self) -> None:
        now = time.monotonic()
        if now - self._scanned >= RESCAN_S:
            self._members, self._scanned = namespace_members(self.pid), now

    def _read_threads(self) -> dict[int, int]:
        """Every thread of the worker and of all it started: from its control group, else from its
        PID namespace's processes (the worker alone, should both fail)."""
        if self.group is not None:
            try:
                return tasks_busy(self.group.thread_ids(self.files.text), self.files)
            except (OSError, ValueError):
                pass
        self._rescan()
        return thread_busy(self._members or [self.pid], self.files)

    def sample(self) -> Sample:
        now = time.monotonic()
        cpu_now = self._read_cpu()
        threads = self._read_threads()
        last = self._threads.get
        # a thread new since the last reading (or a reused id whose count went back) counts from 0
        longest = max((n - last(t, 0) if n >= last(t, 0) else n for t, n in threads.items()), default=0) / 1e9
        stall = self._read_stall()
        stalled = stall - self._stall_seen if stall is not None and self._stall_seen is not None else 0.0
        step = now - self._wall_seen
        self._busy += min(step, max(cpu_now - self._cpu_seen + max(0.0, stalled), longest))
        self._wall_seen, self._cpu_seen, self._threads = now, cpu_now, threads
        self._stall_seen = stall if stall is not None else self._stall_seen
        wall = now - self._wall0
        cpu = max(0.0, cpu_now - self.cpu0)
        grader = own_busy_seconds(self.files) - self._grader0
        return Sample(cpu=cpu, wall=wall, idle=max(0.0, wall - self._busy - grader))
