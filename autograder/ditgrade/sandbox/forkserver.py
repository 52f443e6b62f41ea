"""The fork server: a clean process whose only job is to fork sandboxed workers.

    grader ──exec, scrubbed environment──> fork server (this module; torch, the probes preloaded)
                                               │ fork per worker
                                               ▼
                                           middle: new namespaces ──fork──> worker, PID 1 there
                                                                            (ditgrade.worker.main)

It holds nothing of the grader's: no hidden test, no token, no student's code. When the grader has
not yet imported a hidden test nor read a submission, it is forked from the grader (sharing torch's
pages, which keeps the whole tree inside a 768 MB container) and wipes the environment it was
started with (``scrub_environment``); otherwise it is started as a fresh interpreter (``python -m
ditgrade.sandbox.forkserver``) with an allow-listed environment. It never reads student data: each worker
gets a socket of its own to the grader, which the fork server hands over and forgets, and its
output goes down a pipe the grader reads. Workers share nothing but this clean starting image.

Control messages (CONTROL frames of ``ditgrade.worker.protocol``, numbered by the grader, a codec
dict as payload) from the grader; none of them says which submission a worker is for, so nothing
that identifies a student ever enters the fork server, whose pages every later worker inherits:

    {"op": "spawn", "spec": {...}}  ->  {"pid": p, "cgroup" | "no_cgroup": ...}
                                        + the channel's and the output's fds
    {"op": "kill", "pid": p}        ->  {"pid": p}

When the grader goes away (its end of the control socket closes, or it dies), every worker dies
too: each one is SIGKILLed with its middle process, and with it its PID namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
from typing import NoReturn

from ditgrade.hooks import load as load_hooks
from ditgrade.hooks import probes as load_probes
from ditgrade.worker import checks, codec, isolate, protocol
from ditgrade.worker import main as worker_main
from ditgrade.worker.spec import WorkerSpec

from .cgroup import Cgroups, Group

_PID = struct.Struct("<i")
MAX_CONTROL_BYTES = 1 << 20  # a spawn's spec or a kill: small


def send(sock: socket.socket, req: int, message: dict, fds: list[int] | None = None) -> None:
    payload = protocol.pack(protocol.CONTROL, req, codec.encode(message))
    if fds:
        socket.send_fds(sock, [payload], fds)
    else:
        sock.sendall(payload)


def recv(sock: socket.socket) -> tuple[int, dict]:
    """The grader's next request: (its number, the message)."""
    message = protocol.read_blocking(sock.recv, MAX_CONTROL_BYTES)
    return message.id, codec.decode(message.payload)


def import_shared(config: dict) -> None:
    """The preload's libraries (every module of ``hooks.preload`` outside the assignment's own
    package): what a grader imports before it forks its fork server, so that both share their pages.
    The rest of the preload runs in the fork server only, while the grader goes on with its own."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.update(config["environment"])
    # First on the path: the preload list may name the grading folder's own package.
    if config["assignment_parent"] not in sys.path:
        sys.path.insert(0, config["assignment_parent"])
    package = config["package"]
    for name in load_hooks(package).preload:
        if name != package and not name.startswith(package + "."):
            with contextlib.suppress(ImportError):
                importlib.import_module(name)


def _preload(config: dict) -> dict:
    """Import what every worker needs (the assignment's ``hooks.preload``) and do its warm-up, so that
    workers share it and never read the package files; the probes by name."""
    import_shared(config)
    hooks = load_hooks(config["package"])
    for name in hooks.preload + hooks.preload_workers:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # an optimisation: a warm-up that fails only costs its time
        hooks.warm()
        if config.get("warm_workers"):
            hooks.warm_workers()
    hooks.prepare_students()
    functions = load_probes(config["package"]).functions()
    functions.setdefault(checks.PROBE.name, checks.PROBE.fn)  # the notebook's public checks
    return functions


def _start_worker(spec: WorkerSpec, probes: dict, scrub: tuple[str, ...], channel: int, output: int,
                  report: int, group: Group | None) -> None:
    """In the middle process (never returns): its control group, new namespaces, then the worker as
    their PID 1."""
    try:
        isolate.die_with_parent()
        if group is not None:
            try:
                group.join()  # before the fork: the worker and all it starts are counted there
            except OSError as e:
                spec = spec.with_note(f"could not join its control group ({e})")
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft <= worker_main.CHANNEL_FD:  # the channel's number must be a valid descriptor
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (worker_main.CHANNEL_FD + 1, max(hard, worker_main.CHANNEL_FD + 1)))
        namespaces = isolate.enter_namespaces()
        pid = os.fork()
        if pid == 0:
            isolate.die_with_parent()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(output, 1)
            os.dup2(output, 2)
            os.dup2(channel, worker_main.CHANNEL_FD)
            os.closerange(3, worker_main.CHANNEL_FD)
            os.closerange(worker_main.CHANNEL_FD + 1, 65536)
            worker_main.serve(spec, namespaces, probes, scrub)
        os.write(report, _PID.pack(pid))
        os.close(report)
        os.closerange(3, 65536)
        while True:  # wait for the worker, then go; the fork server reaps us
            try:
                os.waitpid(pid, 0)
                break
            except ChildProcessError:
                break
            except InterruptedError:
                continue
    finally:
        os._exit(0)


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def scrub_environment(allowed: dict[str, str]) -> None:
    """Forget the environment this process was started with: ``os.environ`` becomes ``allowed``, and
    the original block (what ``/proc/self/environ`` shows) is overwritten with zeros."""
    os.environ.clear()
    os.environ.update(allowed)
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rpartition(b")")[2].split()
    start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50 and 51 of stat)
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)


def forget_the_grader() -> None:
    """What a fork of the grader still knows of how it was started: its command line (a batch's
    submission paths), multiprocessing's key. Workers are forked from here: forget them."""
    sys.argv[:] = ["ditgrade-forkserver"]
    sys.orig_argv[:] = ["ditgrade-forkserver"]
    with contextlib.suppress(Exception):
        import multiprocessing

        multiprocessing.current_process().authkey = os.urandom(32)
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rpartition(b")")[2].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49 of stat)
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)


def serve(ctl: socket.socket, probes: dict, scrub: tuple[str, ...]) -> NoReturn:
    """The fork server's loop (see the module docstring); never returns."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    isolate.die_with_parent()
    with contextlib.suppress(OSError):  # orphans of a worker come here, not to init, and are reaped
        isolate._prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    cgroups, no_cgroup = Cgroups.detect()
    gc.freeze()  # what was preloaded is never collected: workers share its pages, and collections stay short
    send(ctl, 0, {"event": "ready", "pid": os.getpid()})
    workers: dict[int, Group | None] = {}
    finished: list[Group] = []  # groups of killed workers, removed once their last process is gone

    def tidy() -> None:
        _reap()
        finished[:] = [g for g in finished if not g.remove()]

    try:
        while True:
            # a killed worker's namespace dies asynchronously; its processes come to us (the subreaper)
            # as zombies: reap them while waiting for the next request
            while not select.select([ctl], [], [], 0.2)[0]:
                tidy()
            try:
                req, msg = recv(ctl)
            except (EOFError, OSError, protocol.FrameError, codec.CodecError):
                return
            if msg["op"] == "spawn":
                try:
                    spec, group, why = WorkerSpec.from_plain(msg["spec"]), None, no_cgroup
                except ValueError:
                    return  # the grader sent nonsense: it is not itself, stop
                if cgroups is not None:
                    try:
                        group = cgroups.create(spec.cgroup_memory_mb << 20, spec.nproc)
                    except OSError as e:
                        why = f"could not create a control group ({e})"
                grader_end, worker_end = socket.socketpair()
                out_read, out_write = os.pipe()
                report_read, report_write = os.pipe()
                if os.fork() == 0:
                    ctl.close()
                    grader_end.close()
                    os.close(out_read)
                    os.close(report_read)
                    _start_worker(spec, probes, scrub, worker_end.fileno(), out_write, report_write, group)
                worker_end.close()
                os.close(out_write)
                os.close(report_write)
                data = _read_pid(report_read)
                os.close(report_read)
                pid = _PID.unpack(data)[0] if len(data) == _PID.size else 0
                if pid:
                    workers[pid] = group
                elif group is not None:
                    finished.append(group)
                reply: dict = {"pid": pid}
                if group is not None:
                    reply["cgroup"] = {"version": group.version, "dirs": [list(d) for d in group.dirs]}
                else:
                    reply["no_cgroup"] = why
                send(ctl, req, reply, [grader_end.fileno(), out_read])
                grader_end.close()
                os.close(out_read)
            elif msg["op"] == "kill":
                pid = msg["pid"]
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # PID 1 of its namespace: everything in it dies
                group = workers.pop(pid, None)
                _wait_gone(pid)
                if group is not None:
                    finished.append(group)
                send(ctl, req, {"pid": pid})
            tidy()
    finally:
        for pid in workers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        groups = finished + [g for g in workers.values() if g is not None]
        for pid in workers:
            _wait_gone(pid, 1.0)
        for _ in range(20):  # a killed namespace takes a moment to empty
            groups = [g for g in groups if not g.remove()]
            if not groups:
                break
            time.sleep(0.05)
        if cgroups is not None:
            cgroups.remove()
        os._exit(0)


def run_forked(ctl: socket.socket, config: dict, allowed_env: dict[str, str]) -> NoReturn:
    """Entry of a fork server forked from a grader that has not yet read a secret or a submission
    (its pages stay shared with the grader's): forget the grader's environment, then serve."""
    try:
        keep = ctl.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, 65536)
        scrub_environment(allowed_env)
        forget_the_grader()
        serve(ctl, _preload(config), tuple(config["scrub"]))
    finally:
        os._exit(0)


def main() -> None:
    """Entry of a fork server started as a fresh interpreter (``python -m ditgrade.sandbox.forkserver``)."""
    config = json.loads(sys.stdin.read())
    ctl = socket.socket(fileno=config["control_fd"])
    serve(ctl, _preload(config), tuple(config["scrub"]))


def _wait_gone(pid: int, timeout: float = 2.0) -> None:
    """Reap until ``pid`` is gone (its middle process reaps it; we reap the middle and the orphans)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        _reap()
        time.sleep(0.005)
    _reap()


def _read_pid(fd: int, timeout: float = 30.0) -> bytes:
    """The worker's pid from its middle process (nothing when the middle died first)."""
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < _PID.size:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, _PID.size - len(data))
        if not chunk:
            break
        data += chunk
    return data


if __name__ == "__main__":
    main()
