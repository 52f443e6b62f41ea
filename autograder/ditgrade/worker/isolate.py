"""Make a freshly forked process into a sandbox, before it sees a line of student code.

Two steps, in two processes (``ditgrade.sandbox.forkserver`` forks them):

``enter_namespaces()`` runs in the fork server's child: new mount, PID, network, IPC and UTS
namespaces (a user namespace too when not root). Its own child is then PID 1 of a PID namespace of
its own: killing it kills everything the student started, and ``/proc`` shows nothing else.

``confine(spec)`` runs in that child, PID 1, and returns what took effect:

* the disk: a private mount tree in which every top-level folder but the system's (``/usr``,
  ``/lib``, ``/etc``, ``/dev`` ...) is covered by an empty tmpfs, the interpreter's folders bound
  back read-only, ``spec.hide`` covered by a mode-000 tmpfs wherever it lies, a fresh ``/proc``,
  and a small size- and inode-limited ``/tmp`` and ``/dev/shm`` that vanish with the namespace;
* resources: address space (data size under ``gpu``: CUDA reserves huge virtual ranges), CPU
  time, file size, processes, open files, no core dumps; first in line for the OOM killer;
* identity: an unused uid and gid, no supplementary groups, ``no_new_privs``;
* Landlock, where the kernel has it: read-only access to the folders above, read-write to /tmp
  and /dev/shm only (and, under ``gpu``, to the process's own /proc/<pid>/task, where CUDA names
  its threads), no TCP, no signals or abstract sockets outside the sandbox. It also holds
  where mount namespaces are refused (a container without CAP_SYS_ADMIN).

Each step that fails is reported, never silently skipped: the grader puts the report in
results.json next to what it checks itself from ``/proc``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import site
import sys

from .spec import WorkerSpec

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYSTEM_DIRS = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "sys"})

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_M_ARENA_MAX = -8  # mallopt parameter (malloc.h)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _prctl(option: int, value: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)),
           f"prctl {option}")


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (whoever started it must be able to stop it)."""
    parent = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(0)


# ---------------------------------------------------------------------------------------------
# step 1: namespaces (in the fork server's child)
# ---------------------------------------------------------------------------------------------


def enter_namespaces() -> list[str]:
    """Unshare every namespace this process may; the names of those that took effect."""
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.geteuid(), os.getegid()
    if uid != 0:
        flags |= CLONE_NEWUSER
    try:
        _check(_libc.unshare(flags), "unshare")
    except OSError:
        return []
    if uid != 0:  # map ourselves to root inside, so that we may mount there
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    names = ["mount", "pid", "network", "ipc", "uts"] + (["user"] if uid != 0 else [])
    with contextlib.suppress(OSError):
        _check(_libc.sethostname(b"sandbox", 7), "sethostname")
    return names


# ---------------------------------------------------------------------------------------------
# step 2: confine (in PID 1 of the new namespaces)
# ---------------------------------------------------------------------------------------------


def python_dirs() -> list[str]:
    """Where this interpreter and its installed packages live: what a student's imports read."""
    dirs = {sys.base_prefix, sys.prefix, sys.exec_prefix, site.getusersitepackages()}
    dirs |= {p for p in sys.path if "-packages" in p or p.startswith((sys.prefix, sys.base_prefix))}
    return sorted({os.path.realpath(d) for d in dirs if d and os.path.isdir(d)})


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _outermost(paths: list[str]) -> list[str]:
    return [p for p in paths if not any(p != o and _under(p, o) for o in paths)]


_OPEN_TREE, _MOVE_MOUNT = 428, 429
_OPEN_TREE_CLONE, _AT_RECURSIVE, _AT_FDCWD, _MOVE_MOUNT_F_EMPTY_PATH = 1, 0x8000, -100, 4


def _private_root(notes: list[str]) -> bool:
    """Stop mounts made here from reaching the parent namespace.

    When / is not a mount point (a chroot, as in a freshly bootstrapped root; under Docker it is
    one), making it private fails with EINVAL. Then clone the tree at / (open_tree), attach the
    clone on top of / and enter it: its root is a mount point, and a private one.
    """
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        return True
    except OSError as first:
        with open("/proc/self/mountinfo") as f:
            if " shared:" in f.read():  # attaching the clone would propagate to the host
                notes.append(f"mounts could not be made private ({first}) and some are shared")
                return False
        try:
            fd = _check(_libc.syscall(_OPEN_TREE, _AT_FDCWD, b"/", _OPEN_TREE_CLONE | _AT_RECURSIVE | os.O_CLOEXEC),
                        "open_tree /")
            _check(_libc.syscall(_MOVE_MOUNT, fd, b"", _AT_FDCWD, b"/", _MOVE_MOUNT_F_EMPTY_PATH), "move_mount /")
            os.fchdir(fd)
            os.chroot(".")
            os.chdir("/")
            os.close(fd)
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            notes.append("/ was not a mount point: grading in a private clone of it")
            return True
        except OSError as second:
            notes.append(f"mounts could not be made private ({first}; {second})")
            return False


def _cover(folder: str, keep: list[str], mode: str = "755", options: str | None = None,
           flags: int = MS_NOSUID | MS_NODEV, read_only: bool = True) -> None:
    """An empty tmpfs over ``folder``, with ``keep`` (folders inside it) bound back read-only."""
    held = [(os.open(d, os.O_PATH | os.O_DIRECTORY), d) for d in keep]  # reachable once covered
    _mount("tmpfs", folder, "tmpfs", flags, options or f"size=64k,nr_inodes=1024,mode={mode}")
    for fd, d in held:
        _path_to(folder, d)
        _mount(f"/proc/self/fd/{fd}", d, None, MS_BIND | MS_REC)
        with contextlib.suppress(OSError):
            _mount(None, d, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(fd)
    if read_only:
        with contextlib.suppress(OSError):
            _mount(None, folder, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, f"mode={mode}")


def _path_to(folder: str, d: str) -> None:
    """The folders from ``folder`` (a fresh tmpfs) down to ``d``, each one traversable and not
    listable (711): a student reaches a kept folder by its path and learns no other name on the way
    (a hidden project folder under the private /tmp shows nothing but a path to its venv)."""
    current = folder
    for part in os.path.relpath(d, folder).split(os.sep):
        current = os.path.join(current, part)
        if not os.path.isdir(current):
            os.mkdir(current)
            os.chmod(current, 0o711)


def _hide_filesystem(spec: WorkerSpec, uid: int) -> list[str]:
    """The worker's view of the disk (see the module docstring); returns the folders it may read.

    The interpreter's folders stay readable even inside a hidden folder (scripts/setup.sh puts the
    venv in the project folder, .venv/): that folder is then covered with nothing in it but them,
    read-only and unlistable, so a student's lazy import or ``sys.executable`` works and the
    project's files stay out of sight. A hidden folder that is one of the interpreter's folders,
    or inside one, is hidden as before."""
    keep = python_dirs() + [d for d in spec.readable if os.path.isdir(d)]
    broad = sorted(e.path for e in os.scandir("/") if e.is_dir(follow_symlinks=False) and e.name not in SYSTEM_DIRS)
    for folder in broad:
        _cover(folder, _outermost([d for d in keep if _under(d, folder)]))
    for d in _outermost([h for h in spec.hide if os.path.isdir(h)]):
        inner = _outermost([k for k in keep if _under(k, d) and k != d])
        with contextlib.suppress(OSError):  # already out of sight when under a covered folder
            mode = "711" if inner else "000"
            _cover(d, inner, mode=mode, options=f"size=4k,nr_inodes=64,mode={mode}")
    # The private /tmp; a kept folder under the real one (model weights a TA put in /tmp, say)
    # is bound back into it read-only, as under any covered folder.
    limits = f"size={spec.tmp_mb}m,nr_inodes={spec.tmp_inodes},mode=1777,uid={uid},gid={uid}"
    _cover("/tmp", _outermost([d for d in keep if _under(d, "/tmp")]), options=limits,
           flags=MS_NOSUID | MS_NODEV | MS_NOEXEC, read_only=False)
    with contextlib.suppress(OSError):
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
               f"size={spec.tmp_mb}m,nr_inodes=256,mode=1777")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    return keep


def _limit_resources(spec: WorkerSpec) -> list[str]:
    with open("/proc/self/status") as f:
        status = {k: v for k, _, v in (line.partition(":") for line in f)}
    vm_kb, data_kb = int(status["VmSize"].split()[0]), int(status["VmData"].split()[0])
    cpu = spec.cpu_s
    wanted = [("RLIMIT_CPU", cpu, cpu + 5), ("RLIMIT_FSIZE", spec.file_mb << 20, None),
              ("RLIMIT_NOFILE", 256, None), ("RLIMIT_CORE", 0, None), ("RLIMIT_NPROC", spec.nproc, None)]
    if spec.gpu:  # CUDA reserves far more address space than it uses: limit data, not addresses
        wanted.append(("RLIMIT_DATA", (data_kb + spec.gpu_memory_mb * 1024) * 1024, None))
    else:
        wanted.append(("RLIMIT_AS", (vm_kb + spec.memory_mb * 1024) * 1024, None))
    # One malloc arena for every thread: glibc otherwise reserves 64 MB of address space (128 MB
    # while aligning it) for each thread that allocates while another holds an arena, which the
    # budget above counts as the student's. A correct notebook keeping a 34 MB tensor then failed
    # q5's calls on their fresh threads, by a different amount on each run (attack round 19).
    _libc.mallopt(_M_ARENA_MAX, 1)
    done = []
    for name, soft, hard in wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(getattr(resource, name), (soft, soft if hard is None else hard))
            done.append(name)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
        f.write("1000")  # a memory hog in a small container costs its own call, not the grader
    return done


# Landlock (include/uapi/linux/landlock.h)
_LL_CREATE, _LL_ADD_RULE, _LL_RESTRICT = 444, 445, 446
_LL_VERSION, _LL_PATH_BENEATH = 1, 1
_FS_EXECUTE, _FS_WRITE, _FS_READ, _FS_READ_DIR = 1, 2, 4, 8
_FS_ALL_V1 = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND, _NET_CONNECT = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _landlock(readable: list[str], writable: list[str], devices: list[str]) -> str:
    """Restrict this process (and its children) to the given folders; '' or why it did not apply."""
    abi = _libc.syscall(_LL_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(_LL_VERSION))
    if abi < 1:
        return f"Landlock unavailable ({os.strerror(ctypes.get_errno())})"
    fs = _FS_ALL_V1 | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0) \
        | (_FS_IOCTL_DEV if abi >= 5 else 0)
    attr = _RulesetAttr(fs, (_NET_BIND | _NET_CONNECT) if abi >= 4 else 0,
                        (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _libc.syscall(_LL_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock ruleset refused ({os.strerror(ctypes.get_errno())})"
    read = _FS_EXECUTE | _FS_READ | _FS_READ_DIR
    rules = [(p, read) for p in readable] + [(p, fs) for p in writable]
    rules += [(p, read | _FS_WRITE | (_FS_IOCTL_DEV if abi >= 5 else 0)) for p in devices]
    try:
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if not os.path.isdir(path):  # rights on a file: only those that apply to files
                    access &= _FS_EXECUTE | _FS_READ | _FS_WRITE | _FS_TRUNCATE | _FS_IOCTL_DEV
                rule = _PathBeneath(access & fs, fd)
                _check(_libc.syscall(_LL_ADD_RULE, ruleset, _LL_PATH_BENEATH, ctypes.byref(rule), 0), "landlock rule")
            finally:
                os.close(fd)
        _check(_libc.syscall(_LL_RESTRICT, ruleset, 0), "landlock_restrict_self")
    except OSError as e:
        return f"Landlock not applied ({e})"
    finally:
        os.close(ruleset)
    return ""


def confine(spec: WorkerSpec, namespaces: list[str]) -> dict:
    """Apply everything in the module docstring to this process; what took effect, for results.json."""
    root = os.geteuid() == 0
    prot: dict = {"namespaces": namespaces, "mount_isolation": False, "private_tmp": False, "uid_drop": False,
                  "no_new_privs": False, "landlock": False, "rlimits": [], "notes": list(spec.notes)}
    uid = spec.uid if root and "user" not in namespaces else os.geteuid()
    readable = python_dirs()
    if "mount" in namespaces:
        try:
            if _private_root(prot["notes"]):
                readable = _hide_filesystem(spec, uid)
                prot["mount_isolation"] = prot["private_tmp"] = True
        except OSError as e:
            prot["notes"].append(f"hiding the file system failed ({e})")
    prot["rlimits"] = _limit_resources(spec)
    os.chdir("/tmp")
    if root and "user" not in namespaces:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            prot["uid_drop"] = True
        except OSError as e:
            prot["notes"].append(f"could not drop privileges ({e})")
        # A change of uid clears the parent-death signal: set it again, or a worker whose grader is
        # killed would outlive it (and with it everything the student started).
        die_with_parent()
    try:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        prot["no_new_privs"] = True
    except OSError as e:
        prot["notes"].append(f"no_new_privs failed ({e})")
    system = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/sys"]
    devices = ["/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full", "/dev/tty"]
    if spec.gpu:
        devices += [f"/dev/{n}" for n in os.listdir("/dev") if n.startswith("nvidia")]
        devices += ["/dev/dri"] if os.path.isdir("/dev/dri") else []
    writable = ["/tmp", "/dev/shm"]
    if spec.gpu:
        # CUDA names its threads through /proc/self/task/<tid>/comm and fails to start (error 304)
        # when it cannot (measured on an H200). Only this process's own threads: not /proc/self/mem.
        writable.append(f"/proc/{os.getpid()}/task")
    why = _landlock(system + readable, writable, devices) if prot["no_new_privs"] else "needs no_new_privs"
    if why:
        prot["notes"].append(why)
    else:
        prot["landlock"] = True
    return prot
