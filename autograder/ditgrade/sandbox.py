"""Run untrusted student code in a separate, unprivileged process with no network.

    grader process ──fork (before any hidden test is imported)──> fork server ("zygote")
                                                                      │ fork per submission
                                                                      ▼
                                                              sandboxed worker
                                                      own session, no network, grader files
                                                      hidden, unprivileged uid, rlimits,
                                                      private temp dir; runs the student's
                                                      definitions, then serves probe calls

The fork server holds torch, diffusers and the probes already imported, so a worker starts in
milliseconds and shares their memory. It is forked before the grader imports its hidden tests
(or, when that is no longer possible, started as a fresh interpreter), so no secret is ever in a
worker's memory. Requests go to the worker as pickles (the grader trusts itself); answers come
back only as ``ditgrade.codec`` bytes or a small JSON error, never pickles. Each call has a
timeout; a hang, crash or garbage answer kills the worker's whole process group, every process
left under the sandbox uid is killed, and the next call gets a fresh worker.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import io
import json
import os
import pickle
import re
import resource
import shutil
import signal
import socket
import stat
import struct
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import codec, paths
from .extract import Extracted
from .student import CRASH, EXCEPTION, MISSING, NOT_IMPLEMENTED, TIMEOUT, StudentError, describe_exception

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
# Each fork server runs its workers under its own otherwise unused uid, so "kill every process of
# this uid" after a worker ends removes whatever the student left running, and nothing else.
SANDBOX_UID_BASE = 3_000_000
_FRAME = struct.Struct("<Q")
_ERROR_KINDS = {NOT_IMPLEMENTED, MISSING, EXCEPTION}


@dataclass
class Limits:
    call_timeout_s: float = 20.0  # one probe call
    load_timeout_s: float = 10.0  # running one cell's definitions
    budget_s: float = 110.0  # everything for one submission
    memory_mb: int = 1024  # address space a worker may add to what it has at fork
    cpu_s: int = 120
    file_mb: int = 16
    nproc: int = 64  # processes and threads of the sandbox uid
    output_kb: int = 16  # of the student's stdout/stderr kept for staff
    gpu: bool = False  # CUDA needs the address space and the real user's model cache


@dataclass
class Protections:
    separate_process: bool = True
    uid_drop: bool = False
    network_namespace: bool = False
    mount_isolation: bool = False
    no_new_privs: bool = False
    rlimits: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# framing
# ---------------------------------------------------------------------------------------------


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_FRAME.pack(len(payload)) + payload)


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except TimeoutError:
            raise
        except OSError as e:
            raise EOFError(str(e)) from None
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket, deadline: float, max_bytes: int = codec.MAX_BYTES) -> bytes:
    (n,) = _FRAME.unpack(_recv_exact(sock, _FRAME.size, deadline))
    if n > max_bytes:
        raise EOFError(f"answer of {n} bytes is over the limit")
    return _recv_exact(sock, n, deadline)


# ---------------------------------------------------------------------------------------------
# the worker (runs as the student)
# ---------------------------------------------------------------------------------------------

_libc = None


def _libc_call(name: str, *args: Any) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def secret_dirs() -> list[str]:
    """Folders a worker must not read: the grader's package, hidden tests, solutions, the repo."""
    candidates = [paths.PACKAGE_DIR, paths.REPO_ROOT / "autograder", paths.SOLUTIONS_DIR, paths.ASSIGNMENT_DIR,
                  paths.REPO_ROOT / "tests", paths.REPO_ROOT / "examples", paths.REPO_ROOT / ".git",
                  paths.REPO_ROOT / "dist", Path(os.environ.get("DITGRADE_AUTOGRADER_ROOT", "/autograder")) / "source"]
    out = []
    for p in candidates:
        with contextlib.suppress(OSError):
            if p.is_dir() and str(p.resolve()) not in out:
                out.append(str(p.resolve()))
    return out


def _python_dirs() -> list[str]:
    """Where this interpreter and its installed packages live (what a student's imports read)."""
    import site

    dirs = {sys.base_prefix, sys.prefix, sys.exec_prefix, site.getusersitepackages()}
    dirs |= {p for p in sys.path if "-packages" in p or p.startswith((sys.prefix, sys.base_prefix))}
    return sorted({os.path.realpath(d) for d in dirs if d and os.path.isdir(d)})


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _cover(folder: str, keep: list[str]) -> None:
    """Hide ``folder`` under an empty tmpfs in this mount namespace, then bind ``keep`` (folders
    inside it) back at their own paths; everything else in it is out of sight."""
    held = [(os.open(d, os.O_PATH | os.O_DIRECTORY), d) for d in keep]  # still reachable once covered
    _libc_call("mount", b"tmpfs", folder.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV),
               b"size=64k,mode=755")
    for fd, d in held:
        os.makedirs(d, mode=0o755, exist_ok=True)
        _libc_call("mount", f"/proc/self/fd/{fd}".encode(), d.encode(), None, ctypes.c_ulong(MS_BIND | MS_REC), None)
        os.close(fd)


# Top-level folders a worker keeps seeing: the system. Everything else at the top (/work, /tmp,
# /home, /root, /opt, /srv, /autograder, ...) is covered, so no copy of the course repo anywhere
# on the machine is readable, only the interpreter's folders bound back in.
_SYSTEM_DIRS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "sys", "run", "var"}


def _hide_filesystem(tmp: str, gpu: bool) -> None:
    """The worker's view of the disk: the system, the interpreter and its packages, its own temp
    folder; not the grader's files, nor homes, nor copies of the course repo wherever they lie."""
    secret = secret_dirs()
    keep = [d for d in _python_dirs() if not any(_under(d, h) for h in secret)] + [tmp]
    broad = {e.path for e in os.scandir("/") if e.is_dir(follow_symlinks=False) and e.name not in _SYSTEM_DIRS}
    broad.add("/var/tmp")
    if gpu:  # the real user's model cache (~/.cache/huggingface) and an explicit weights folder stay readable
        keep += [d for d in (os.path.expanduser("~/.cache/huggingface"), os.environ.get("DITGRADE_DIT_PATH", ""),
                             os.environ.get("HF_HOME", "")) if d and os.path.isdir(d)]
    for folder in sorted(b for b in broad if os.path.isdir(b)):
        inside = [d for d in keep if _under(d, folder)]
        inside = [d for d in inside if not any(d != o and _under(d, o) for o in inside)]
        _cover(folder, inside)
    for d in secret:
        with contextlib.suppress(OSError):  # already out of sight when under a covered folder
            _libc_call("mount", b"tmpfs", d.encode(), b"tmpfs",
                       ctypes.c_ulong(MS_RDONLY | MS_NOSUID | MS_NODEV), b"size=4k,mode=000")


def _isolate(tmp: str, uid: int, limits: Limits) -> Protections:
    """Everything a worker does to itself before it runs a line of student code."""
    prot = Protections()
    root = os.geteuid() == 0
    try:
        if root:
            _libc_call("unshare", CLONE_NEWNS | CLONE_NEWNET)
            prot.network_namespace = True
            _libc_call("mount", None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None)
            _hide_filesystem(tmp, limits.gpu)
            prot.mount_isolation = True
        else:
            _libc_call("unshare", CLONE_NEWUSER | CLONE_NEWNET)
            prot.network_namespace = True
    except OSError as e:
        prot.notes.append(f"namespaces unavailable ({e})")

    as_limit = None
    if not limits.gpu:
        with open("/proc/self/status") as f:
            vm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
        as_limit = (vm_kb + limits.memory_mb * 1024) * 1024
    for name, value in [("RLIMIT_AS", as_limit), ("RLIMIT_CPU", limits.cpu_s),
                        ("RLIMIT_FSIZE", limits.file_mb << 20), ("RLIMIT_NOFILE", 256), ("RLIMIT_CORE", 0),
                        ("RLIMIT_NPROC", limits.nproc if root else None)]:
        if value is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            hard = value + 5 if name == "RLIMIT_CPU" else value
            resource.setrlimit(getattr(resource, name), (value, hard))
            prot.rlimits.append(name)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing

    if root and not limits.gpu:
        os.chown(tmp, uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        prot.uid_drop = True
    with contextlib.suppress(OSError):
        _libc_call("prctl", PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                   ctypes.c_ulong(0))
        prot.no_new_privs = True
    return prot


class _CappedStream(io.TextIOBase):
    """The student's sys.stdout/sys.stderr: keeps the first ``cap`` bytes and quietly drops the rest,
    so a print flood neither fills the disk nor turns a correct answer into an error."""

    def __init__(self, fd: int, cap: int):
        self._fd, self._left = fd, cap

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if self._left > 0:
            data = str(s).encode("utf-8", "replace")[: self._left]
            self._left -= len(data)
            with contextlib.suppress(OSError):
                os.write(self._fd, data)
        return len(s)


def _worker_main(sock: socket.socket, chunks: list[tuple[str, str]], tmp: str, uid: int, limits: Limits) -> None:
    """Never returns: load the student's chunks, then answer probe calls until the socket closes."""
    try:
        os.setsid()
        server = os.getppid()
        out_fd = os.open(os.path.join(tmp, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        keep = sock.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, 65536)
        if os.geteuid() == 0 and not limits.gpu:
            os.chown(os.path.join(tmp, "output.txt"), uid, uid)
        # first in line for the OOM killer: in a small container (Gradescope's 768 MB) a memory hog
        # is killed (costing its call), not the grader
        with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
        _isolate(tmp, uid, limits)
        # If the fork server dies (even by SIGKILL) the worker dies too. Set after the uid drop,
        # which clears it; the getppid check closes the race with a server that died already.
        with contextlib.suppress(OSError):
            _libc_call("prctl", PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0))
        if os.getppid() != server:
            os._exit(0)
        os.chdir(tmp)
        os.environ.update(HOME=tmp, TMPDIR=tmp, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=tmp)
        sys.stdout = sys.stderr = _CappedStream(1, (limits.output_kb + 1) * 1024)

        import torch

        torch.set_num_threads(1)
        from .probes import PROBES

        ns: dict = {"__name__": "submission", "__builtins__": __builtins__}
        errors = []
        for i, (label, source) in enumerate(chunks):
            _send(sock, json.dumps({"event": "loading", "index": i}).encode())
            try:
                exec(compile(source, f"<submission {label}>", "exec"), ns)
            except BaseException as e:  # noqa: BLE001 - SystemExit at import costs only this statement
                errors.append(f"{label}: {describe_exception(e).message}")
        _send(sock, json.dumps({"event": "ready", "errors": errors}).encode())

        while True:
            try:
                request = _recv(sock, time.monotonic() + 10**9, max_bytes=1 << 30)
            except (EOFError, TimeoutError):
                break
            probe, kwargs = pickle.loads(request)  # from the grader: trusted
            try:
                value = PROBES[probe](ns, **kwargs)
                answer = b"\x00" + codec.encode(value)
            except BaseException as e:  # noqa: BLE001 - sys.exit inside a call is an answer too
                err = describe_exception(e) if not isinstance(e, codec.CodecError) else \
                    StudentError(CRASH, f"returned a value the grader cannot read: {e}")
                answer = b"\x01" + json.dumps({"kind": err.kind, "message": err.message[:2000],
                                               "exc_type": err.exc_type}).encode()
            _send(sock, answer)
    finally:
        os._exit(0)


# ---------------------------------------------------------------------------------------------
# the fork server (trusted: runs grader code only)
# ---------------------------------------------------------------------------------------------


def _preload() -> None:
    """Import everything a worker might need, so workers never read the (hidden) package files."""
    import numpy  # noqa: F401
    import torch  # noqa: F401
    from diffusers import (  # noqa: F401
        AutoencoderKL,
        DDIMScheduler,
        DiTPipeline,
        DiTTransformer2DModel,
        UNet2DConditionModel,
    )
    from diffusers.models.embeddings import PatchEmbed  # noqa: F401

    # Every notebook imports pyplot for its plots; importing it in each worker cost ~0.8 s a submission.
    os.environ.setdefault("MPLBACKEND", "Agg")
    with contextlib.suppress(ImportError):
        import matplotlib.pyplot  # noqa: F401

    from . import codec, pipelines, probes, sampling, student  # noqa: F401


def _kill_uid(uid: int) -> None:
    """Kill every process running as ``uid`` (what a student left behind)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(3):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)  # as this uid, -1 means "all my processes"
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _uid_processes(uid: int) -> list[int]:
    """Processes (zombies included) running as ``uid``."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(entry.path).st_uid == uid:
                    pids.append(int(entry.name))
    return pids


def _reap_orphans() -> None:
    """Collect the exit status of killed processes the student orphaned (we are their subreaper)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _zygote_main(ctl: socket.socket) -> None:
    try:
        os.setsid()
        # orphans of a worker (a student's detached processes) are re-parented here, not to init,
        # so they are reaped at once instead of lingering as zombies of the sandbox uid
        with contextlib.suppress(OSError):
            _libc_call("prctl", PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        keep = ctl.fileno()  # drop the grader's other pipes: a batch parent must see them close
        os.closerange(3, keep)
        os.closerange(keep + 1, 65536)
        _preload()
        root = os.geteuid() == 0
        uid = SANDBOX_UID_BASE + os.getpid()
        _send(ctl, json.dumps({"event": "ready"}).encode())
        workers: dict[int, str] = {}
        while True:
            try:
                msg = pickle.loads(_recv(ctl, time.monotonic() + 10**9, max_bytes=1 << 30))
            except (EOFError, TimeoutError):
                break
            if msg["op"] == "spawn":
                tmp = tempfile.mkdtemp(prefix="ditgrade-sbx-")
                a, b = socket.socketpair()
                pid = os.fork()
                if pid == 0:
                    a.close()
                    ctl.close()
                    _worker_main(b, msg["chunks"], tmp, uid, msg["limits"])
                b.close()
                workers[pid] = tmp
                reply = json.dumps({"pid": pid}).encode()
                socket.send_fds(ctl, [_FRAME.pack(len(reply)) + reply], [a.fileno()])
                a.close()
            elif msg["op"] == "reap":
                pid = msg["pid"]
                for target in (-pid, pid):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(target, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                if root:
                    _kill_uid(uid)
                    give_up = time.monotonic() + 2.0
                    while _uid_processes(uid) and time.monotonic() < give_up:
                        _reap_orphans()  # SIGKILL is asynchronous: wait until they are gone
                        time.sleep(0.01)
                _reap_orphans()
                tmp = workers.pop(pid, None)
                output = _read_output(tmp, msg.get("output_kb", 16)) if tmp else ""
                if tmp:
                    shutil.rmtree(tmp, ignore_errors=True)
                _send(ctl, json.dumps({"output": output}).encode())
    finally:
        # The grader is gone (or we failed): take every worker and whatever it started with us.
        for pid, tmp in list(locals().get("workers", {}).items()):
            for target in (-pid, pid):
                with contextlib.suppress(OSError):
                    os.kill(target, signal.SIGKILL)
            shutil.rmtree(tmp, ignore_errors=True)
        if locals().get("root"):
            with contextlib.suppress(Exception):
                _kill_uid(locals()["uid"])
        os._exit(0)


def _read_output(tmp: str, kb: int) -> str:
    """The first ``kb`` KiB of a worker's stdout/stderr; never follows a link the student made."""
    try:
        fd = os.open(os.path.join(tmp, "output.txt"), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        data = os.read(fd, kb * 1024 + 1)
    finally:
        os.close(fd)
    text = data[: kb * 1024].decode("utf-8", "replace")
    return text + ("\n[output truncated]" if len(data) > kb * 1024 else "")


def _zygote_entry(fd: int) -> None:
    """Entry point of a fork server started as a fresh interpreter."""
    _zygote_main(socket.socket(fileno=fd))


def _secrets_loaded() -> bool:
    """Would a fork of this process carry hidden tests or the reference into the sandbox?"""
    return any(m == "ditgrade.reference" or m.startswith(("ditgrade.hidden", "pytest", "_pytest"))
               for m in sys.modules)


class ForkServer:
    """The trusted process that forks sandboxed workers; one per grader process."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        if not _secrets_loaded():
            _preload()  # import once here so the fork server and its workers share the pages
            pid = os.fork()
            if pid == 0:
                ours.close()
                _zygote_main(theirs)
            self.fresh_interpreter = False
        else:  # this process has secrets in memory: start the fork server from scratch
            import subprocess

            code = "import sys; from ditgrade.sandbox import _zygote_entry; _zygote_entry(int(sys.argv[1]))"
            proc = subprocess.Popen([sys.executable, "-c", code, str(theirs.fileno())], pass_fds=[theirs.fileno()])
            pid = proc.pid
            self._proc = proc
            self.fresh_interpreter = True
        theirs.close()
        self.pid, self.sock = pid, ours
        json.loads(_recv(self.sock, time.monotonic() + 120))  # "ready"

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def spawn(self, chunks: list[tuple[str, str]], limits: Limits) -> tuple[int, socket.socket]:
        _send(self.sock, pickle.dumps({"op": "spawn", "chunks": chunks, "limits": limits}))
        msg, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 1)
        # one small framed reply, sent in a single sendmsg together with the worker's socket
        (n,) = _FRAME.unpack(msg[: _FRAME.size])
        info = json.loads(msg[_FRAME.size : _FRAME.size + n])
        return info["pid"], socket.socket(fileno=fds[0])

    def reap(self, pid: int, output_kb: int) -> str:
        _send(self.sock, pickle.dumps({"op": "reap", "pid": pid, "output_kb": output_kb}))
        return json.loads(_recv(self.sock, time.monotonic() + 30))["output"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)


_SERVER: ForkServer | None = None


def fork_server() -> ForkServer:
    """This process's fork server, started on first use (before the hidden tests are imported)."""
    global _SERVER
    if _SERVER is None or not _SERVER.alive():
        _SERVER = ForkServer()
    return _SERVER


# ---------------------------------------------------------------------------------------------
# the grader's side: a Runner
# ---------------------------------------------------------------------------------------------


def _inspect_worker(pid: int) -> Protections:
    """What isolation the worker really has, read from /proc by the grader (not reported by the child)."""
    prot = Protections()
    try:
        own_net, own_mnt = os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/mnt")
        prot.network_namespace = os.readlink(f"/proc/{pid}/ns/net") != own_net
        prot.mount_isolation = os.readlink(f"/proc/{pid}/ns/mnt") != own_mnt
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        prot.uid_drop = int(status["Uid"].split()[1]) not in (0, os.geteuid())
        prot.no_new_privs = status.get("NoNewPrivs", "0").strip() == "1"
        with open(f"/proc/{pid}/limits") as f:
            soft = {re.split(r"\s{2,}", line)[0]: re.split(r"\s{2,}", line)[1] for line in f.read().splitlines()[1:]}
        labels = {"RLIMIT_AS": "Max address space", "RLIMIT_CPU": "Max cpu time", "RLIMIT_FSIZE": "Max file size",
                  "RLIMIT_NPROC": "Max processes", "RLIMIT_NOFILE": "Max open files"}
        prot.rlimits = [name for name, label in labels.items() if soft.get(label, "unlimited") != "unlimited"]
    except (OSError, KeyError, ValueError) as e:
        prot.notes.append(f"could not inspect the worker ({e})")
    return prot


def statements(extracted: Extracted) -> list[tuple[str, str]]:
    """One unit per top-level statement ("cell 7, line 3"), so a statement that fails, exits or hangs
    while loading costs only itself: the rest of its cell is still graded."""
    units = []
    for chunk in extracted.chunks:
        lines = chunk.source.splitlines()
        for node in ast.parse(chunk.source).body:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            units.append((f"{chunk.label}, line {first}", "\n".join(lines[first - 1 : node.end_lineno]) + "\n"))
    return units


class SandboxRunner:
    """Runs probes on one submission in sandboxed workers (a ``ditgrade.student.Runner``)."""

    def __init__(self, extracted: Extracted, limits: Limits | None = None, server: ForkServer | None = None):
        self.limits = limits or Limits()
        self.server = server or fork_server()
        self.chunks = statements(extracted)
        self.skipped: dict[str, str] = {}  # chunk label -> why it was dropped
        self.load_errors: list[str] = []
        self.deadline = time.monotonic() + self.limits.budget_s
        self.protections: Protections | None = None
        self.output = ""
        self.workers_started = 0
        self._pid: int | None = None
        self._sock: socket.socket | None = None
        # Each question gets an equal share of the budget, so code that hangs in q1 cannot
        # starve q2..q5 of time.
        self.question_budget_s = self.limits.budget_s / 5
        self._question = ""
        self._question_deadline = self.deadline

    def begin_test(self, name: str) -> None:
        """Called by the suite before each hidden test (tests run question by question)."""
        question = name.split()[0]
        if question != self._question:
            self._question = question
            self._question_deadline = min(self.deadline, time.monotonic() + self.question_budget_s)

    def _time_left(self) -> float:
        return min(self.deadline, self._question_deadline) - time.monotonic()

    # -- worker lifecycle ---------------------------------------------------------------------
    def _kill(self) -> None:
        if self._pid is None:
            return
        with contextlib.suppress(OSError):
            self._sock.close()
        for target in (-self._pid, self._pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(target, signal.SIGKILL)
        try:
            out = self.server.reap(self._pid, self.limits.output_kb)
            if out and not self.output:
                self.output = out
        except (EOFError, TimeoutError, OSError):
            pass
        self._pid, self._sock = None, None

    def _start(self) -> None:
        while True:
            if self._time_left() <= 0:
                raise StudentError(TIMEOUT, f"the time budget for {self._question or 'this submission'} is used up")
            chunks = [c for c in self.chunks if c[0] not in self.skipped]
            self._pid, self._sock = self.server.spawn(chunks, self.limits)
            self.workers_started += 1
            current = None
            try:
                while True:
                    deadline = time.monotonic() + min(self._time_left(), self.limits.load_timeout_s)
                    event = json.loads(_recv(self._sock, deadline, max_bytes=1 << 20))
                    if event.get("event") == "loading":
                        current = chunks[int(event["index"])][0]
                    elif event.get("event") == "ready":
                        errors = event.get("errors", [])
                        self.load_errors = [str(e)[:500] for e in errors[:50]] if isinstance(errors, list) else []
                        break
                    else:
                        raise EOFError("unexpected message")
            except (TimeoutError, EOFError, ValueError, KeyError, IndexError, TypeError) as e:
                self._kill()
                if current is None:
                    raise StudentError(CRASH, "the student process could not start") from None
                why = "ran past the time limit while loading" if isinstance(e, TimeoutError) else \
                    "stopped the process while loading"
                self.skipped[current] = why
                continue
            if self.protections is None:
                self.protections = _inspect_worker(self._pid)
            return

    # -- the Runner interface -----------------------------------------------------------------
    def call(self, probe: str, /, **kwargs: Any) -> Any:
        if self._time_left() <= 0:
            raise StudentError(TIMEOUT, f"the time budget for {self._question or 'this submission'} is used up "
                                        "(earlier calls ran too long); this test was not run")
        if self._pid is None:
            self._start()
        timeout = min(self.limits.call_timeout_s, self._time_left())
        try:
            _send(self._sock, pickle.dumps((probe, kwargs)))
            answer = _recv(self._sock, time.monotonic() + timeout)
        except TimeoutError:
            self._kill()
            raise StudentError(TIMEOUT, f"the call did not finish within {timeout:.0f} s") from None
        except (EOFError, OSError):
            self._kill()
            raise StudentError(CRASH, "the student's process died during this call (sys.exit, os._exit, "
                                      "a signal, or a memory or CPU limit)") from None
        if answer[:1] == b"\x00":
            try:
                return codec.decode(answer[1:])
            except codec.CodecError as e:
                self._kill()
                raise StudentError(CRASH, f"returned a value the grader cannot read: {e}") from None
        try:
            err = json.loads(answer[1:])
            kind = err["kind"] if err["kind"] in _ERROR_KINDS | {CRASH} else EXCEPTION
            raise StudentError(kind, str(err["message"])[:2000], str(err.get("exc_type", ""))[:100])
        except (ValueError, KeyError, TypeError):
            self._kill()
            raise StudentError(CRASH, "the student's process sent garbage") from None

    def close(self) -> None:
        self._kill()

    def report(self) -> dict:
        prot = asdict(self.protections) if self.protections else asdict(Protections(separate_process=False))
        return {"protections": prot, "load_errors": self.load_errors, "skipped_cells": self.skipped,
                "workers_started": self.workers_started, "fresh_interpreter": self.server.fresh_interpreter}
