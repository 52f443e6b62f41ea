"""The grader's handle on its fork server (``ditgrade.sandbox.forkserver``).

``fork_server(assignment)`` starts one per grader process, as a fresh interpreter with an
allow-listed environment, and starts a new one whenever the old one died or was discarded. Every
request carries a number; a reply that does not match, arrives late or cannot be read means the
fork server can no longer be trusted to have done what was asked, so it is discarded
(``ForkServerError``) and the caller starts a fresh one. No request names a submission.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import secrets
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from ..worker import codec, protocol
from ..worker.spec import WorkerSpec
from .cgroup import Group

# What the fork server (and so every worker) may inherit of the grader's environment: nothing secret.
ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONPATH", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH",
               "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "CUDA_HOME")
WORKER_ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "CUDA_VISIBLE_DEVICES")
# the engine's own; an assignment adds its libraries' (hooks.environment(), e.g. to keep them offline)
FIXED_ENV = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
             "PYTORCH_NVML_BASED_CUDA_CHECK": "1"}  # see ditgrade/__init__.py
READY_TIMEOUT_S = 180.0  # importing torch and the assignment's modules on a slow, busy machine
REPLY_TIMEOUT_S = 30.0
MAX_REPLY_BYTES = 1 << 20
# Each worker runs as a uid drawn at random from a range no account uses. Nothing a worker does
# outlives it under its uid (kernel keys are refused by its seccomp allowlist, its processes die
# with its PID namespace, its files with its private /tmp), so even a repeated uid inherits nothing.
SANDBOX_UID_BASE = 3_000_000
SANDBOX_UID_SPAN = 1 << 30


def sandbox_uid() -> int:
    return SANDBOX_UID_BASE + secrets.randbelow(SANDBOX_UID_SPAN)


class ForkServerError(RuntimeError):
    """The fork server failed, answered out of turn, or could not be read: discard it."""


def allowed_env(names: tuple[str, ...]) -> dict[str, str]:
    env = {k: os.environ[k] for k in names if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {**env, **FIXED_ENV}


@dataclass
class Worker:
    """A freshly spawned worker: its pid (outside its namespace), channel, output pipe, and its
    control group (or why it has none)."""

    pid: int
    sock: socket.socket
    output_fd: int
    uid: int
    group: Group | None = None
    no_group: str = ""


class _Forked:
    """A fork server forked from this process: enough of subprocess.Popen for ForkServer."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("fork server", timeout)
            time.sleep(0.01)
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, 9)


class ForkServer:
    def __init__(self, *, package: str, assignment_parent: str, scrub: list[str], environment: dict[str, str],
                 fork: bool = False, warm_workers: bool = False):
        ours, theirs = socket.socketpair()
        config = {"package": package, "assignment_parent": assignment_parent, "scrub": scrub,
                  "environment": environment, "control_fd": theirs.fileno(), "warm_workers": warm_workers}
        self.forked = fork
        if fork:
            from . import forkserver

            # The libraries here first, so that the grader and its fork server share their pages;
            # the fork server does the rest of its preload while the grader goes on (``ready``).
            forkserver.import_shared(config)
            # Every object so far out of both processes' collections: a collection walks (and so
            # writes to) each object it tracks, and each page it writes is copied. Unfrozen, the fork
            # server's first collections copied the grader's heap, and the grader's its own: the
            # preload after the fork took 1.5-1.8 s instead of 0.9-1.0 (benchmarks/README.md).
            gc.freeze()
            pid = os.fork()
            if pid == 0:
                ours.close()
                forkserver.run_forked(theirs, config, allowed_env(ENV_ALLOWED))
            self.proc = _Forked(pid)
        else:
            self.proc = subprocess.Popen([sys.executable, "-m", "ditgrade.sandbox.forkserver"],
                                         stdin=subprocess.PIPE, pass_fds=[theirs.fileno()],
                                         env={**allowed_env(ENV_ALLOWED), **environment}, cwd="/")
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(config).encode())
            self.proc.stdin.close()
        theirs.close()
        self.sock = ours
        self._req = 0
        self.pid = 0  # known once it says it is ready

    def ready(self) -> None:
        """Wait until the fork server has done its preload (the first request waits for it; the
        grader does its own preparation meanwhile). ``ForkServerError`` if it did not start."""
        if self.pid:
            return
        _, ready, fds = self._recv(READY_TIMEOUT_S)
        for fd in fds:
            os.close(fd)
        if ready.get("event") != "ready" or not isinstance(ready.get("pid"), int):
            raise ForkServerError(f"the fork server did not start: {ready}")
        self.pid = ready["pid"]

    def answered(self) -> bool:
        """Whether the fork server has said anything yet (its readiness, or that it failed), without
        waiting and without reading it: ``ready`` does that."""
        if self.pid:
            return True
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)

    # -- framing ---------------------------------------------------------------------------------
    def _recv(self, timeout: float, want_fds: int = 0) -> tuple[int, dict, list[int]]:
        """The next reply: (its request number, the message, the descriptors that came with it)."""
        deadline = time.monotonic() + timeout
        reader, fds = protocol.FrameReader(MAX_REPLY_BYTES), []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ForkServerError("no reply in time")
                self.sock.settimeout(left)
                data, got, _, _ = socket.recv_fds(self.sock, reader.want(), want_fds or 1)
                fds += got
                if not data:
                    raise ForkServerError("the fork server closed its socket")
                message = reader.feed(data)
                if message is not None:
                    break
            if message.kind != protocol.CONTROL:
                raise ForkServerError("a reply of the wrong kind")
            body = codec.decode(message.payload)
            if not isinstance(body, dict):
                raise ForkServerError("malformed reply")
        except (OSError, codec.CodecError, protocol.FrameError) as e:
            for fd in fds:
                os.close(fd)
            raise ForkServerError(f"unreadable reply ({e})") from None
        except ForkServerError:
            for fd in fds:
                os.close(fd)
            raise
        return message.id, body, fds

    def _request(self, message: dict, want_fds: int = 0) -> tuple[dict, list[int]]:
        self.ready()
        self._req += 1
        try:
            self.sock.settimeout(REPLY_TIMEOUT_S)
            self.sock.sendall(protocol.pack(protocol.CONTROL, self._req, codec.encode(message)))
        except OSError as e:
            raise ForkServerError(f"cannot reach the fork server ({e})") from None
        req, reply, fds = self._recv(REPLY_TIMEOUT_S, want_fds)
        if req != self._req:
            for fd in fds:
                os.close(fd)
            raise ForkServerError(f"reply out of turn: asked {self._req}, got {req}")
        return reply, fds

    # -- requests ----------------------------------------------------------------------------------
    def spawn(self, spec: WorkerSpec) -> Worker:
        """A new worker for ``spec``. Nothing in the request says whose submission it is for."""
        reply, fds = self._request({"op": "spawn", "spec": spec.to_plain()}, want_fds=2)
        if len(fds) != 2 or not reply.get("pid"):
            for fd in fds:
                os.close(fd)
            raise ForkServerError("the fork server could not start a worker")
        group, cg = None, reply.get("cgroup")
        if isinstance(cg, dict):
            group = Group(int(cg["version"]), tuple((str(w), str(d)) for w, d in cg["dirs"]))
        return Worker(int(reply["pid"]), socket.socket(fileno=fds[0]), fds[1], spec.uid, group,
                      str(reply.get("no_cgroup", "")))

    def kill(self, pid: int) -> None:
        reply, fds = self._request({"op": "kill", "pid": pid})
        for fd in fds:
            os.close(fd)
        if reply.get("pid") != pid:
            raise ForkServerError("kill reply names another process")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_SERVERS: dict[str, ForkServer] = {}


def may_fork(package: str) -> bool:
    """Whether a fork of this process would carry nothing a worker must not have: no hidden test or
    test framework imported, no submission or secret file read (``ditgrade.core.taint``)."""
    from ..core import taint

    secrets = (f"{package}.hidden", "pytest", "_pytest")
    return taint.clean() and not any(m == s or m.startswith(s + ".") for m in sys.modules for s in secrets)


def fork_server(assignment, *, many: bool = False) -> ForkServer:  # a ditgrade.core.assignment.Assignment
    """This process's fork server for ``assignment``, started on first use or when it died: forked
    from this process while that is safe (``may_fork``), else a fresh interpreter. ``many``: this
    process will grade many submissions (a batch worker), so the fork server also runs the
    assignment's ``warm_workers`` (work that pays off over many workers, not in a single grade,
    where it would only delay the first worker); a restarted fork server remembers it."""
    key = str(assignment.folder)
    if many:
        _MANY.add(key)
    server = _SERVERS.get(key)
    if server is None or not server.alive():
        server = ForkServer(package=assignment.package, assignment_parent=str(assignment.folder.parent),
                            scrub=["ditgrade", assignment.package], environment=assignment.hooks.environment(),
                            fork=may_fork(assignment.package), warm_workers=key in _MANY)
        _SERVERS[key] = server
    return server


_MANY: set[str] = set()


def discard(server: ForkServer) -> None:
    """Stop using ``server`` (after a ForkServerError); the next ``fork_server`` starts a fresh one."""
    for key, s in list(_SERVERS.items()):
        if s is server:
            del _SERVERS[key]
    server.close()


def close_all() -> None:
    for server in list(_SERVERS.values()):
        discard(server)
