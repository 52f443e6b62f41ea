"""A control group per sandboxed worker: memory, processes and CPU time counted by the kernel.

rlimits bound one process at a time; a student who forks, or holds memory the address space does not
show (memfd, shared memory, pipes), gets around them. A control group counts every process the
student starts, reaped or not, and the kernel's OOM killer then picks inside it, never a neighbour's
sandbox. The fork server creates one group per worker under a parent of its own:

    v1 (a hierarchy per controller):  <memory|pids|cpuacct mount>/<our path>/ditgrade-<pid>/w<n>
    v2 (one unified hierarchy):       <cgroup2 mount>/ditgrade-<pid>/w<n>   (controllers enabled on the way)

(v1 also, where they can be made: a group in the ``cpu`` controller, see ``V1_WEIGHT``, and one in
the unified hierarchy for CPU pressure, see ``STALL_MOUNT``), and the worker's middle process joins
it before it forks the worker. This needs root and a writable
hierarchy (a TA's machine or CI, as root); in a container without one (Gradescope's, where each
submission has its container to itself) ``Cgroups.detect`` returns why not, and the sandbox counts
CPU over the worker's PID namespace instead (``sandbox.usage``) and relies on rlimits.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

V1_CONTROLLERS = {"memory": "memory", "pids": "pids", "cpu": "cpuacct"}  # what we need -> v1 controller
# Where v1 has it, also a group in the ``cpu`` controller: each worker, however many processes or
# sessions it starts, is then one scheduling entity with the default weight, as v2's groups are
# (the kernel's autogroup gives each *session* a share, and a worker that could start sessions took
# the CPU from its batch neighbour: independent attack round 8). Optional: only the fairness needs it.
V1_WEIGHT = ("weight", "cpu")
# Also optional: a group in the unified (v2) hierarchy, for its CPU pressure (``cpu.pressure``): the
# time every runnable thread of the worker waited for a CPU while none of them ran, which the kernel
# keeps for threads long gone (``Group.stalled_seconds``; see ``usage.Meter``). v2 has it in the
# worker's own group; beside v1 it takes a cgroup2 mount: one already there (systemd's hybrid
# layout) or, where none is, one the grader mounts at ``STALL_MOUNT`` and leaves for the next run.
STALL_MOUNT = "/run/ditgrade/cgroup2"


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


@dataclass(frozen=True)
class Group:
    """One worker's group: a folder per controller (v2: the same folder for all three)."""

    version: int
    dirs: tuple[tuple[str, str], ...]  # (memory|pids|cpu[|weight], folder)

    def folder(self, what: str) -> str:
        return dict(self.dirs)[what]

    def join(self) -> None:
        """Move this process (and so everything it starts from now on) into the group."""
        for d in sorted({d for _, d in self.dirs}):
            _write(os.path.join(d, "cgroup.procs"), str(os.getpid()))

    # The three readings below take the meter's ``read`` (``usage.Readings``: files kept open).
    def cpu_seconds(self, read: Callable[[str], str] = _read) -> float:
        """CPU time of every process that ever ran in the group."""
        if self.version == 1:
            return int(read(os.path.join(self.folder("cpu"), "cpuacct.usage"))) / 1e9
        for line in read(os.path.join(self.folder("cpu"), "cpu.stat")).splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
        return 0.0

    def thread_ids(self, read: Callable[[str], str] = _read) -> list[int]:
        """Every thread of every process in the group now (as this process's PID namespace numbers them)."""
        name = "tasks" if self.version == 1 else "cgroup.threads"
        return [int(t) for t in read(os.path.join(self.folder("cpu"), name)).split()]

    def stalled_seconds(self, read: Callable[[str], str] = _read) -> float | None:
        """Time all of the group's runnable threads waited for a CPU, none of them running (the
        "full" line of ``cpu.pressure``, since the group was made); None without pressure stall
        information."""
        folder = dict(self.dirs).get("stall")
        if folder is None:
            return None
        for line in read(os.path.join(folder, "cpu.pressure")).splitlines():
            if line.startswith("full "):
                return int(line.rpartition("total=")[2]) / 1e6
        return None

    def memory_left(self) -> int | None:
        """Bytes the group may still take before its memory limit (None when unknown)."""
        names = ("memory.limit_in_bytes", "memory.usage_in_bytes") if self.version == 1 else ("memory.max", "memory.current")
        try:
            limit, usage = (_read(os.path.join(self.folder("memory"), n)).strip() for n in names)
            return int(limit) - int(usage)
        except (OSError, ValueError):  # gone, or "max"
            return None

    def oom_kills(self) -> int:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        with contextlib.suppress(OSError, ValueError):
            for line in _read(os.path.join(self.folder("memory"), name)).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def remove(self) -> bool:
        """Remove the group's folders; False while a process is still in it (try again later)."""
        done = True
        for d in sorted({d for _, d in self.dirs}):
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                done = False
        return done


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount point, root within the hierarchy, options) of every cgroup mount."""
    out = []
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and tail and tail[0] in ("cgroup", "cgroup2"):
            options = set(tail[2].split(",")) if len(tail) > 2 else set()
            out.append((tail[0], fields[4].replace("\\040", " "), fields[3], options))
    return out


def _own_paths() -> dict[str, str]:
    """This process's group in each hierarchy: {controller or "": path} from /proc/self/cgroup."""
    out = {}
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            out[c] = path
    return out


def _inside(mount: str, mount_root: str, path: str) -> str:
    rel = os.path.relpath(path, mount_root) if path.startswith(mount_root) else "."
    return os.path.normpath(os.path.join(mount, rel))


def remove_orphans(folder: str) -> list[str]:
    """Remove the groups a dead fork server left under ``folder`` (``ditgrade-<pid>`` of a pid that no
    longer runs: a grader killed by SIGKILL, or by the OOM killer, never cleans up): empty worker
    groups first, then the parent. The folders removed."""
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith("ditgrade-") and e.is_dir()]
    except OSError:
        return removed
    for entry in entries:
        pid = entry.name.removeprefix("ditgrade-")
        if not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        with contextlib.suppress(OSError):
            for child in os.scandir(entry.path):
                if child.is_dir():
                    os.rmdir(child.path)  # refused while a process is still in it: then it stays
            os.rmdir(entry.path)
            removed.append(entry.path)
    return removed


def _parent(folder: str) -> str:
    """``folder`` made (orphans of dead graders beside it removed first); OSError if it cannot be."""
    remove_orphans(os.path.dirname(folder))
    os.makedirs(folder, exist_ok=True)
    return folder


def _mount_cgroup2() -> tuple[str, str] | None:
    """(mount point, root) of a cgroup2 hierarchy mounted by the grader at ``STALL_MOUNT``."""
    import ctypes

    with contextlib.suppress(OSError):
        os.makedirs(STALL_MOUNT, exist_ok=True)
        if not os.path.exists(os.path.join(STALL_MOUNT, "cgroup.procs")):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.mount(b"cgroup2", STALL_MOUNT.encode(), b"cgroup2", 0, None) != 0:
                return None
        return STALL_MOUNT, "/"
    return None


def _v1_optional(mounts: list, own: dict[str, str], name: str) -> dict[str, str]:
    """Beside v1's groups, our parent folders for what only some machines give (see ``V1_WEIGHT``
    and ``STALL_MOUNT``): {"weight": in v1's cpu controller, "stall": in a cgroup2 hierarchy}, each
    only where it can be made."""
    out = {}
    want, controller = V1_WEIGHT
    for fstype, point, root, options in mounts:
        if fstype == "cgroup" and controller in options and controller in own:
            with contextlib.suppress(OSError):
                out[want] = _parent(os.path.join(_inside(point, root, own[controller]), name))
            break
    if os.path.exists("/proc/pressure/cpu"):  # pressure stall information is on
        unified = next(((point, root) for fstype, point, root, _ in mounts if fstype == "cgroup2"), None)
        unified = unified or _mount_cgroup2()
        if unified is not None:
            with contextlib.suppress(OSError):
                folder = _parent(os.path.join(_inside(*unified, own.get("", "/")), name))
                if os.path.exists(os.path.join(folder, "cpu.pressure")):
                    out["stall"] = folder
    return out


class Cgroups:
    """The fork server's parent group(s), from which each worker gets its own."""

    def __init__(self, version: int, parents: dict[str, str]):
        self.version = version
        self.parents = parents  # memory|pids|cpu -> folder
        self._made = 0

    @classmethod
    def detect(cls) -> tuple[Cgroups | None, str]:
        """A parent group for this process's workers, or None and why there is none."""
        if os.geteuid() != 0:
            return None, "control groups need root"
        try:
            mounts, own = _mounts(), _own_paths()
        except OSError as e:
            return None, f"cannot read this process's control groups ({e})"
        name = f"ditgrade-{os.getpid()}"
        v1 = {}
        for want, controller in V1_CONTROLLERS.items():
            for fstype, point, root, options in mounts:
                if fstype == "cgroup" and controller in options and controller in own:
                    v1[want] = os.path.join(_inside(point, root, own[controller]), name)
        errors = []
        if len(v1) == len(V1_CONTROLLERS):
            try:
                for d in set(v1.values()):
                    _parent(d)
            except OSError as e:
                errors.append(f"v1: {e.strerror or e}")
            else:
                return cls(1, {**v1, **_v1_optional(mounts, own, name)}), ""
        for fstype, point, _root, _ in mounts:
            if fstype != "cgroup2":
                continue
            try:
                if not {"memory", "pids", "cpu"} <= set(_read(os.path.join(point, "cgroup.controllers")).split()):
                    errors.append(f"v2 at {point}: memory, pids or cpu not available")
                    continue
                # Under the hierarchy's root, which may hold processes itself (no other group may):
                # enable the controllers for its children, then for ours.
                _write(os.path.join(point, "cgroup.subtree_control"), "+memory +pids +cpu")
                remove_orphans(point)
                parent = os.path.join(point, name)
                os.makedirs(parent, exist_ok=True)
                _write(os.path.join(parent, "cgroup.subtree_control"), "+memory +pids +cpu")
                stall = {"stall": parent} if os.path.exists(os.path.join(parent, "cpu.pressure")) else {}
                return cls(2, {"memory": parent, "pids": parent, "cpu": parent, **stall}), ""
            except OSError as e:
                errors.append(f"v2 at {point}: {e.strerror or e}")
        return None, "no writable control-group hierarchy (" + ("; ".join(errors) or "none mounted") + ")"

    def create(self, memory_bytes: int, pids: int) -> Group:
        """A new worker's group with its limits set (no process in it yet)."""
        self._made += 1
        dirs = {want: os.path.join(parent, f"w{self._made}") for want, parent in self.parents.items()}
        for d in set(dirs.values()):
            os.makedirs(d, exist_ok=True)
        group = Group(self.version, tuple(sorted(dirs.items())))
        if self.version == 1:
            _write(os.path.join(dirs["memory"], "memory.limit_in_bytes"), str(memory_bytes))
            with contextlib.suppress(OSError):  # swap counted too, where the kernel accounts it
                _write(os.path.join(dirs["memory"], "memory.memsw.limit_in_bytes"), str(memory_bytes))
            _write(os.path.join(dirs["pids"], "pids.max"), str(pids))
        else:
            _write(os.path.join(dirs["memory"], "memory.max"), str(memory_bytes))
            with contextlib.suppress(OSError):
                _write(os.path.join(dirs["memory"], "memory.swap.max"), "0")
            _write(os.path.join(dirs["pids"], "pids.max"), str(pids))
        return group

    def remove(self) -> None:
        """Remove the parent folder(s) once their groups are gone."""
        for d in set(self.parents.values()):
            with contextlib.suppress(OSError):
                os.rmdir(d)
