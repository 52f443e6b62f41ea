"""The grader's meter of a worker (``ditgrade.sandbox.usage``): waiting for a CPU is never idle time,
even for a thread that has ended by the time the meter is read (its count is gone from /proc)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from ditgrade.sandbox.cgroup import Group
from ditgrade.sandbox.usage import Meter, Readings, own_busy_seconds, tasks_busy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.exists("/proc/self/task"),
                                reason="reads /proc/<pid>/task/*/schedstat")


def _threads(*pids: int) -> list[int]:
    return [int(t) for pid in pids for t in os.listdir(f"/proc/{pid}/task")]


class _OwnCPU:
    """This process's CPU seconds and threads, in place of a worker's control group."""

    def cpu_seconds(self, read=None) -> float:
        t = os.times()
        return t.user + t.system

    def thread_ids(self, read=None) -> list[int]:
        return _threads(os.getpid())

    def stalled_seconds(self, read=None) -> None:
        return None  # no pressure stall information: the meter's threads alone


def _spin(cpu_s: float) -> None:
    end = time.thread_time() + cpu_s
    while time.thread_time() < end:
        pass


def test_a_thread_that_waited_for_a_cpu_and_ended_is_not_idle() -> None:
    """On one CPU shared with a busy process, a thread computes 0.4 s and waits about as long for
    the CPU; the meter reads it once while it lives (the worker keeps a call's thread until the
    grader has read its call) and again after it ended: its wait still counts as waiting, not idle."""
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    computed, go = threading.Event(), threading.Event()

    def call() -> None:
        _spin(0.4)
        computed.set()
        go.wait()

    try:
        os.sched_setaffinity(0, {cpu})
        time.sleep(0.2)  # the busy process is running
        meter = Meter(os.getpid(), _OwnCPU())
        thread = threading.Thread(target=call)
        thread.start()
        computed.wait()
        alive = meter.sample()
        go.set()
        thread.join()
        time.sleep(0.05)  # gone from /proc/<pid>/task by now
        ended = meter.sample()
    finally:
        os.sched_setaffinity(0, before)
        busy.kill()
        busy.wait()
    waited = alive.wall - alive.cpu - alive.idle
    assert alive.cpu >= 0.35 and waited >= 0.15 and alive.idle < 0.25, alive
    assert ended.idle < alive.idle + 0.1, (alive, ended)


class _ChildCPU:
    def __init__(self, pid: int):
        self.pid = pid

    def cpu_seconds(self, read=None) -> float:
        from ditgrade.sandbox.usage import cpu_seconds

        return cpu_seconds(self.pid)

    def thread_ids(self, read=None) -> list[int]:
        return _threads(self.pid)

    def stalled_seconds(self, read=None) -> None:
        return None


@pytest.mark.parametrize("grader", ["computes", "sleeps"])
def test_waiting_for_the_grader_is_not_idle(grader: str) -> None:
    """A worker blocked until the grader sends (here: a child reading a pipe) while the grader
    computes 0.3 s (a request being made, or a reply waiting for the grader to wake on a busy machine)
    is not idle; the same wait while the grader itself sleeps would be, and is."""
    r, w = os.pipe()
    child = subprocess.Popen([sys.executable, "-c", f"import os; os.read({r}, 1)"], pass_fds=[r])
    try:
        time.sleep(0.3)  # the child is blocked in read by now
        meter = Meter(child.pid, _ChildCPU(child.pid))
        if grader == "computes":
            _spin(0.3)
        else:
            time.sleep(0.3)
        used = meter.sample()
    finally:
        os.write(w, b"x")
        child.wait()
        os.close(r)
        os.close(w)
    if grader == "computes":
        assert used.idle < 0.1, used
    else:
        assert used.idle > 0.2, used


def test_threads_waiting_together_buy_no_idle_time() -> None:
    """Eight threads runnable at once on one CPU (hashing, which lets go of the GIL) for 0.4 s wait
    most of it together; a sleep of 0.8 s after them is still idle time (summed, their waits hid
    it: independent attack round 7 hid 150 s of sleep behind 4 s of CPU that way)."""
    import hashlib

    data = b"x" * (1 << 20)
    stop = time.monotonic() + 0.4

    def hash_until_stop() -> None:
        while time.monotonic() < stop:
            hashlib.sha256(data)

    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {cpu})  # the threads share one CPU
        meter = Meter(os.getpid(), _OwnCPU())
        threads = [threading.Thread(target=hash_until_stop) for _ in range(8)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            meter.sample()  # as the grader polls a call every 50 ms
            time.sleep(0.05)
        time.sleep(0.8)
        used = meter.sample()
    finally:
        os.sched_setaffinity(0, before)
    assert used.idle > 0.5, used


class _Tree:
    """A process and the child it forked, in place of a worker's control group."""

    def __init__(self, child: int):
        self.pids = (os.getpid(), child)

    def cpu_seconds(self, read=None) -> float:
        from ditgrade.sandbox.usage import cpu_seconds

        return sum(cpu_seconds(pid) for pid in self.pids)

    def thread_ids(self, read=None) -> list[int]:
        return _threads(*self.pids)

    def stalled_seconds(self, read=None) -> None:
        return None


def _beside_a_busy_process(body) -> None:
    """Run ``body()`` with this process and a busy one sharing one CPU."""
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        os.sched_setaffinity(0, {cpu})
        time.sleep(0.2)  # the busy process is running
        body()
    finally:
        os.sched_setaffinity(0, before)
        busy.kill()
        busy.wait()


def test_threads_run_one_after_another_on_a_busy_cpu_are_not_idle() -> None:
    """Six threads, each computing 0.1 s, started one after another on a CPU shared with a busy
    process: each waits about as long for the CPU, and none of that is idle time (counting only the
    longest thread's wait over the whole call charged the others' waits as idle: attack round 8
    failed a correct answer that way on a loaded machine, 20 s of 'idle' for 4 s of CPU)."""
    got = []

    def body() -> None:
        meter = Meter(os.getpid(), _OwnCPU())
        done = threading.Event()

        def calls() -> None:
            for _ in range(6):
                t = threading.Thread(target=_spin, args=(0.1,))
                t.start()
                t.join()
            done.set()

        threading.Thread(target=calls).start()
        while not done.wait(0.05):
            meter.sample()  # as the grader polls a call
        got.append(meter.sample())

    _beside_a_busy_process(body)
    used = got[0]
    assert used.cpu >= 0.55 and used.wall >= 0.9, used  # it did wait for the CPU
    assert used.idle < 0.25, used


def test_a_child_computing_while_the_call_waits_for_it_is_not_idle() -> None:
    """A forked child computes 0.4 s on a CPU shared with a busy process while the call waits for
    it: the child's wait for the CPU is not idle time (only the worker's own threads were read,
    and round 8's child failed a correct answer on a loaded machine)."""
    got = []

    def body() -> None:
        pid = os.fork()
        if pid == 0:
            _spin(0.4)
            os._exit(0)
        meter = Meter(os.getpid(), _Tree(pid))
        try:
            while not _ended(pid):
                meter.sample()
                time.sleep(0.05)
            got.append(meter.sample())
        finally:
            os.waitpid(pid, 0)

    _beside_a_busy_process(body)
    used = got[0]
    assert used.cpu >= 0.35 and used.wall >= 0.6, used
    assert used.idle < 0.2, used


def _ended(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie not yet reaped: its counts are still readable)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rpartition(b")")[2].split()[0] == b"Z"


def _real_group():
    """A worker's control group as the fork server makes it, with pressure stall information;
    skips where there is none (not root, no writable hierarchy, PSI off)."""
    from ditgrade.sandbox.cgroup import Cgroups

    found, why = Cgroups.detect()
    if found is None:
        pytest.skip(f"no control group here: {why}")
    if "stall" not in found.parents:
        found.remove()
        pytest.skip("no pressure stall information (cpu.pressure) here")
    return found, found.create(256 << 20, 64)


def test_short_threads_waiting_for_a_busy_cpu_are_not_idle() -> None:
    """400 threads of 3 ms each, one after another, in a worker's control group on a CPU shared with
    a busy process: each waits for the CPU and is gone before the meter reads again, so only the
    group's CPU pressure still holds its wait (round 9: 10,000 threads of 1 ms each were charged
    20 s idle beside 14 busy processes). A second meter of the same run, without the pressure, is
    the test's own control: it charges most of the waits as idle."""
    cgroups, group = _real_group()
    blind = Group(group.version, tuple(d for d in group.dirs if d[0] != "stall"))
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    r, w = os.pipe()
    try:
        time.sleep(0.2)
        pid = os.fork()
        if pid == 0:  # the worker: joins its group, then waits for the go
            try:
                os.sched_setaffinity(0, {cpu})
                group.join()
                os.read(r, 1)
                for _ in range(400):
                    t = threading.Thread(target=_spin, args=(0.003,))
                    t.start()
                    t.join()
            finally:
                os._exit(0)
        time.sleep(0.2)
        meters = Meter(pid, group), Meter(pid, blind)
        os.write(w, b"x")
        while not _ended(pid):
            for m in meters:
                m.sample()
            time.sleep(0.05)
        used, control = (m.sample() for m in meters)
        os.waitpid(pid, 0)
    finally:
        os.sched_setaffinity(0, before)
        busy.kill()
        busy.wait()
        os.close(r)
        os.close(w)
        while not group.remove():
            time.sleep(0.05)
        cgroups.remove()
    waited = used.wall - used.cpu
    assert used.cpu >= 1.0 and waited >= 0.2, used  # it computed, and waited for the CPU
    assert used.idle <= 0.1 + 0.1 * waited, (used, control)
    assert control.idle >= 0.3 * waited, (used, control)  # what the threads alone miss


def test_readings_kept_open_read_the_file_again_and_let_ended_threads_go() -> None:
    """The meter's files stay open (``Readings``): each read is the file's content now, a thread
    that ended reads as gone (not as its last count), and its file is closed."""
    files = Readings()
    before = own_busy_seconds(files)
    _spin(0.1)
    assert own_busy_seconds(files) - before >= 0.08  # read again, not kept
    done = threading.Event()
    thread = threading.Thread(target=done.wait)
    thread.start()
    tid = thread.native_id
    assert tid in tasks_busy([tid], files) and f"/proc/{tid}/schedstat" in files._fds
    done.set()
    thread.join()
    time.sleep(0.05)
    assert tasks_busy([tid], files) == {} and f"/proc/{tid}/schedstat" not in files._fds
    assert tid not in files._threads
    files.close()
    assert files._fds == {}


def test_without_a_cgroup2_mount_the_grader_mounts_one_for_cpu_pressure() -> None:
    """Beside v1's controllers with no unified hierarchy mounted (``_v1_optional`` is given the mounts
    without it), the grader mounts cgroup2 at ``STALL_MOUNT`` and makes the worker's stall group
    there; its CPU pressure reads. Left as it was found: the folders removed, the mount undone
    unless it was there before."""
    import ctypes

    from ditgrade.sandbox import cgroup

    if os.geteuid() != 0 or not os.path.exists("/proc/pressure/cpu"):
        pytest.skip("needs root and pressure stall information")
    mounts = cgroup._mounts()
    if not any(m[0] == "cgroup" for m in mounts):
        pytest.skip("not a machine with v1 controllers")
    was_mounted = os.path.exists(os.path.join(cgroup.STALL_MOUNT, "cgroup.procs"))
    made = {}
    try:
        made = cgroup._v1_optional([m for m in mounts if m[0] != "cgroup2"], cgroup._own_paths(),
                                   f"ditgrade-test-{os.getpid()}")
        assert made.get("stall", "").startswith(cgroup.STALL_MOUNT + "/"), made
        assert Group(1, (("stall", made["stall"]),)).stalled_seconds() >= 0.0
    finally:
        for folder in made.values():
            os.rmdir(folder)
        if not was_mounted and os.path.ismount(cgroup.STALL_MOUNT):
            ctypes.CDLL(None, use_errno=True).umount2(cgroup.STALL_MOUNT.encode(), 2)  # MNT_DETACH
