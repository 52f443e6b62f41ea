"""SandboxRunner: the grader's side of one submission's sandboxed workers (a ``core.runner.Runner``).

For each call it sends a request to the worker and waits for the matching reply while it reads the
worker's printed output and watches its CPU time (``ditgrade.sandbox.usage``). A call ends without
a value, and the worker is killed (and with it everything the student started), when

* it uses more CPU time than its call or its question has left (``Limits``), or sits ``idle_s``
  without computing, or runs past the wall-clock backstop (``wall_factor`` times its CPU budget);
* the worker dies, sends more than ``max_answer_mb`` (refused from the frame's header, before a
  byte of it is read), sends anything that does not decode, or a reply whose request id or
  submission id is not the one asked for.

The next call starts a fresh worker, which loads the submission again. A statement that hung or
crashed the worker while loading is left out from then on, so it costs only itself.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from dataclasses import dataclass
from typing import Any

from ..core.errors import CRASH, TIMEOUT, StudentError, from_raised
from ..core.extract import Extracted
from ..core.runner import describe_call, with_call
from ..core.values import Raised, decode_answer
from ..worker.codec import CodecError, encode
from ..worker.protocol import FRAME
from . import server as servers
from .limits import Limits
from .usage import Meter, Sample

HELLO_TIMEOUT_S = 60.0  # fork, namespaces, mounts: no student code runs before the hello
POLL_S = 0.05
DRAIN_CHUNK = 1 << 20  # output read per pass, so that a flood cannot keep the grader from its budgets
OUTPUT_READ_CAP = 64 << 20  # output read per submission; past it the student's writes block
LOAD_IDLE_FACTOR = 3  # all loads of a submission together may wait this many statement budgets


class SandboxError(RuntimeError):
    """The sandbox itself could not run (not the student's doing): the grade is the grader's failure."""


class _Killed(Exception):
    """The worker was stopped; ``kind`` and ``message`` say why, for a StudentError."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass
class _Budget:
    """What one wait may use: CPU seconds, idle seconds, wall seconds."""

    cpu: float
    idle: float
    wall: float


class SandboxRunner:
    """Runs one submission's probe calls in sandboxed workers (see the module docstring)."""

    def __init__(self, extracted: Extracted, assignment: Any, limits: Limits, *, sub: str = "submission"):
        self.assignment = assignment
        self.limits = limits
        self.sub = sub
        self.statements = [(s.label, s.source) for s in extracted.statements]
        self.load_failed: dict[str, str] = {}  # label -> why it stopped the worker; left out of later loads
        self.load_errors: list[tuple[str, Raised]] = []  # statements that raised while loading
        self.protections: dict[str, Any] | None = None
        self.workers_started = 0
        self._output = bytearray()
        self._output_dropped = 0
        self._worker: servers.Worker | None = None
        self._server: servers.ForkServer | None = None
        self._id = 0
        self._question = ""
        self._q_cpu = 0.0
        self._q_start = time.monotonic()
        self._output_read = 0
        self._load_idle_spent = 0.0  # idle seconds of every load so far
        # Everything this submission may take, restarts and loads included: the runner ends its
        # grade before a batch would presume its worker stuck (batch.pool.worker_timeout).
        self._deadline = time.monotonic() + limits.submission_wall_s(len(getattr(assignment, "questions", [])))

    # -- budgets per question ------------------------------------------------------------------------
    def begin_test(self, name: str) -> None:
        """Called by the suite before each test; tests run question by question."""
        question = name.split(maxsplit=1)[0]
        if question != self._question:
            self._question, self._q_cpu, self._q_start = question, 0.0, time.monotonic()

    def _question_left(self) -> tuple[float, float]:
        cpu = self.limits.question_cpu_s - self._q_cpu
        wall = self.limits.wall_factor * self.limits.question_cpu_s - (time.monotonic() - self._q_start)
        return cpu, wall

    # -- the Runner interface --------------------------------------------------------------------------
    def call(self, probe: str, /, **kwargs: Any) -> Any:
        spec = self.assignment.probes.table.get(probe)
        where = describe_call(spec.call, kwargs) if spec else probe
        cpu_left, wall_left = self._question_left()
        if cpu_left <= 0 or wall_left <= 0:
            raise StudentError(TIMEOUT, f"the time budget of {self._question} ({self.limits.question_cpu_s:g} s "
                                        "of CPU) was used up by earlier calls; this test was not run")
        if self._deadline_left() <= 0:
            raise StudentError(TIMEOUT, "this submission used up the time it may take in all (loading it again "
                                        "after each crash included); this test was not run")
        self._ensure_worker()
        self._id += 1
        budget = _Budget(cpu=min(self.limits.call_cpu_s, cpu_left), idle=self.limits.idle_s,
                         wall=min(self.limits.wall_factor * self.limits.call_cpu_s, wall_left, self._deadline_left()))
        meter = Meter(self._worker.pid, self._worker.group)
        try:
            self._send({"op": "call", "id": self._id, "sub": self.sub, "probe": probe, "kwargs": kwargs})
            reply = self._receive(meter, budget, cut=budget.cpu < self.limits.call_cpu_s)
        except _Killed as e:
            self._q_cpu += meter.sample().cpu
            raise with_call(StudentError(e.kind, e.message), where) from None
        self._q_cpu += meter.sample().cpu
        if reply.get("id") != self._id or reply.get("sub") != self.sub:
            self._kill()
            raise StudentError(CRASH, f"{where}: the student's process answered out of turn") from None
        if "ok" in reply:
            return reply["ok"]
        if "unreadable" in reply:
            raise StudentError(CRASH, f"{where} returned a value the grader cannot read: {str(reply['unreadable'])[:300]}")
        error = reply.get("error")
        if isinstance(error, Raised):
            raise with_call(from_raised(list(error.names), error.message), where)
        self._kill()
        raise StudentError(CRASH, f"{where}: the student's process sent a malformed reply")

    def close(self) -> None:
        self._kill()

    def _deadline_left(self) -> float:
        return self._deadline - time.monotonic()

    @property
    def output(self) -> str:
        text = bytes(self._output).decode("utf-8", "replace")
        return text + (f"\n[{self._output_dropped:,} more bytes of output not kept]" if self._output_dropped else "")

    def report(self) -> dict[str, Any]:
        return {"protections": self.protections or {"separate_process": False},
                "load_errors": [f"{label}: {e.type}: {e.message}"[:500] for label, e in self.load_errors],
                "stopped_at_load": dict(self.load_failed), "workers_started": self.workers_started}

    # -- worker lifecycle ------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        while self._worker is None:
            if self._deadline_left() <= 0:
                raise StudentError(TIMEOUT, "this submission used up the time it may take in all (loading it "
                                            "again after each crash included); this test was not run")
            self._start_worker()

    def _spawn(self) -> servers.Worker:
        """A new worker from a fork server we trust: a failed one is discarded and replaced once."""
        for attempt in range(2):
            try:
                self._server = servers.fork_server(self.assignment)
                uid = self._server.next_uid()
                env = servers.allowed_env(servers.WORKER_ENV_ALLOWED)
                if not self.limits.gpu:
                    # A CPU grade shows student code no GPU. Without this, on a CUDA build of torch
                    # torch.cuda.is_available() asks NVML, whose ctypes.dlopen the audit hook refuses:
                    # a notebook's top-level `device = ... is_available() ...` was skipped (q5 lost points).
                    env["CUDA_VISIBLE_DEVICES"] = ""
                return self._server.spawn(self.sub, self.limits.worker_spec(uid, env))
            except servers.ForkServerError as e:
                if self._server is not None:
                    servers.discard(self._server)
                self._server = None
                if attempt:
                    raise SandboxError(f"the sandbox's fork server failed twice: {e}") from None
        raise AssertionError("unreachable")

    def _start_worker(self) -> None:
        """Start a worker and load the submission; a statement that stops it is left out next time."""
        self._worker = self._spawn()
        self.workers_started += 1
        try:
            hello = self._receive(Meter(self._worker.pid, self._worker.group), _Budget(HELLO_TIMEOUT_S, HELLO_TIMEOUT_S, HELLO_TIMEOUT_S))
        except _Killed as e:
            raise SandboxError(f"a sandboxed worker failed before running any student code: {e.message}") from None
        if hello.get("event") != "hello":
            self._kill()
            raise SandboxError("a sandboxed worker did not say hello")
        if self.protections is None:
            self.protections = verify(self._worker, hello.get("protections"), self.limits)
        statements = [(label, src) for label, src in self.statements if label not in self.load_failed]
        self._id += 1
        load_id = self._id
        self._send({"op": "load", "id": load_id, "sub": self.sub, "statements": [list(s) for s in statements]})
        load_meter = Meter(self._worker.pid, self._worker.group)
        try:
            self._load(load_meter, load_id, statements)
        finally:
            self._load_idle_spent += load_meter.sample().idle

    def _load(self, load_meter: Meter, load_id: int, statements: list[tuple[str, str]]) -> None:
        """Follow the worker's loading messages; a statement that stops it goes into ``load_failed``."""
        current: str | None = None
        statement_meter = load_meter
        while True:
            # Each statement has its own budgets, and the whole load has CPU, idle and wall budgets
            # too: a notebook does not sleep at the top level, so its statements share one idle allowance.
            used = load_meter.sample()
            left = self.limits.load_cpu_s - used.cpu
            idle_left = min(self.limits.statement_cpu_s,
                            LOAD_IDLE_FACTOR * self.limits.statement_cpu_s - self._load_idle_spent) - used.idle
            wall_left = min(self.limits.wall_factor * self.limits.load_cpu_s - used.wall, self._deadline_left())
            budget = _Budget(cpu=min(self.limits.statement_cpu_s, max(left, 0.0)),
                             idle=min(self.limits.statement_cpu_s, max(idle_left, 0.0)),
                             wall=min(self.limits.wall_factor * self.limits.statement_cpu_s, max(wall_left, 0.0)))
            try:
                event = self._receive(statement_meter, budget)
            except _Killed as e:
                if current is None:  # died between hello and its first statement: not the student's doing
                    raise SandboxError(f"a sandboxed worker stopped before loading: {e.message}") from None
                self.load_failed[current] = ("used up the time for loading" if min(left, idle_left, wall_left) <= 0
                                             else e.message)
                return
            if event.get("id") != load_id or event.get("sub") != self.sub:
                self._kill()
                self.load_failed[current or statements[0][0]] = "the student's process answered out of turn"
                return
            if event.get("event") == "loading" and isinstance(event.get("index"), int) \
                    and 0 <= event["index"] < len(statements):
                current, statement_meter = statements[event["index"]][0], Meter(self._worker.pid, self._worker.group)
            elif event.get("event") == "loaded" and isinstance(event.get("errors"), list):
                self.load_errors = [(statements[i][0], e) for i, e in event["errors"][:200]
                                    if isinstance(i, int) and 0 <= i < len(statements) and isinstance(e, Raised)]
                return
            else:
                self._kill()
                self.load_failed[current or statements[0][0]] = "the student's process sent a malformed message"
                return

    def _kill(self) -> None:
        worker, self._worker = self._worker, None
        if worker is None:
            return
        with contextlib.suppress(OSError):
            worker.sock.close()
        try:  # first stop every writer, then read what is left in the pipe (a bounded amount)
            if self._server is not None:
                self._server.kill(worker.pid)
        except servers.ForkServerError:
            servers.discard(self._server)
            self._server = None
        self._drain(worker.output_fd)
        with contextlib.suppress(OSError):
            os.close(worker.output_fd)

    # -- the channel ---------------------------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        data = encode(message)
        try:
            self._worker.sock.settimeout(self.limits.wall_factor * self.limits.call_cpu_s)
            self._worker.sock.sendall(FRAME.pack(len(data)) + data)
        except OSError:
            self._kill()
            raise _Killed(CRASH, "the student's process died (sys.exit, os._exit, a signal, or a memory or CPU "
                                 "limit)") from None

    def _drain(self, fd: int) -> None:
        """Read the worker's output that is waiting, at most DRAIN_CHUNK per pass; keep output_kb."""
        keep = self.limits.output_kb * 1024
        budget = min(DRAIN_CHUNK, OUTPUT_READ_CAP - self._output_read)
        while budget > 0:
            try:
                chunk = os.read(fd, min(1 << 16, budget))
            except (BlockingIOError, OSError):
                return
            if not chunk:
                return
            budget -= len(chunk)
            self._output_read += len(chunk)
            room = keep - len(self._output)
            self._output += chunk[: max(room, 0)]
            self._output_dropped += max(len(chunk) - max(room, 0), 0)

    def _receive(self, meter: Meter, budget: _Budget, *, cut: bool = False) -> dict:
        """The next message from the worker, within ``budget``; kills the worker (_Killed) otherwise."""
        worker = self._worker
        os.set_blocking(worker.output_fd, False)
        worker.sock.setblocking(False)
        buf = bytearray()
        need = FRAME.size
        max_answer = self.limits.max_answer_mb << 20
        while True:
            if len(buf) >= FRAME.size and need == FRAME.size:
                (n,) = FRAME.unpack(buf[: FRAME.size])
                if n > max_answer:
                    self._kill()
                    raise _Killed(CRASH, f"the answer is {n / 2**20:,.0f} MiB, over the {self.limits.max_answer_mb} "
                                         "MiB limit")
                need = FRAME.size + n
            if len(buf) >= need > FRAME.size:
                if len(buf) > need:
                    self._kill()
                    raise _Killed(CRASH, "the student's process sent more than it was asked for")
                try:
                    message = decode_answer(bytes(buf[FRAME.size:]))
                except CodecError as e:
                    self._kill()
                    raise _Killed(CRASH, f"the answer could not be read ({e})") from None
                if not isinstance(message, dict):
                    self._kill()
                    raise _Killed(CRASH, "the answer is not a message")
                return message
            # past OUTPUT_READ_CAP the output is no longer read: a flood blocks its own writers
            watch = [worker.sock] + ([worker.output_fd] if self._output_read < OUTPUT_READ_CAP else [])
            ready = select.select(watch, [], [], POLL_S)[0]
            if worker.output_fd in ready:
                self._drain(worker.output_fd)
            if worker.sock in ready:
                try:
                    chunk = worker.sock.recv(min(need - len(buf), 1 << 20) if need > FRAME.size else FRAME.size)
                except BlockingIOError:
                    chunk = None
                except OSError:
                    chunk = b""
                if chunk == b"":
                    self._kill()
                    raise _Killed(CRASH, "the student's process died (sys.exit, os._exit, a signal, or a memory or "
                                         "CPU limit)")
                if chunk:
                    buf += chunk
                    continue
            self._check(meter.sample(), budget, cut)

    def _check(self, used: Sample, budget: _Budget, cut: bool) -> None:
        why = ""
        if used.cpu > budget.cpu:
            why = (f"used up the {budget.cpu:.0f} s of CPU time its question had left" if cut
                   else f"used more than {budget.cpu:.0f} s of CPU time")
        elif used.idle > budget.idle:
            why = f"waited {used.idle:.0f} s without computing (sleeping or blocked)"
        elif used.wall > budget.wall:
            why = f"ran {used.wall:.0f} s of wall-clock time (the limit is {budget.wall:.0f} s)"
        if why:
            self._kill()
            raise _Killed(TIMEOUT, why)


# ---------------------------------------------------------------------------------------------
# What took effect: the worker's report, checked against /proc where the grader can
# ---------------------------------------------------------------------------------------------


def verify(worker: servers.Worker, reported: Any, limits: Limits) -> dict[str, Any]:
    """The protections in force for ``worker``: each only if the worker reported it and, where /proc
    can tell, the grader sees it too."""
    pid = worker.pid
    rep = reported if isinstance(reported, dict) else {}
    notes = [str(n)[:300] for n in rep.get("notes", [])][:20] if isinstance(rep.get("notes"), list) else []
    out: dict[str, Any] = {"separate_process": True}
    try:
        def ns(kind: str, who: str) -> str:
            return os.readlink(f"/proc/{who}/ns/{kind}")

        for kind, key in (("pid", "pid_namespace"), ("net", "network_namespace"), ("ipc", "ipc_namespace"),
                          ("mnt", "mount_namespace")):
            out[key] = ns(kind, str(pid)) != ns(kind, "self")
        with open(f"/proc/{pid}/status") as f:
            status = {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
        uid = int(status["Uid"].split()[1])
        out["uid_drop"] = bool(rep.get("uid_drop")) and uid not in (0, os.geteuid())
        out["no_new_privs"] = status.get("NoNewPrivs") == "1"
        out["seccomp_channel"] = bool(rep.get("channel_filter")) and status.get("Seccomp") == "2"
        with open(f"/proc/{pid}/limits") as f:
            rows = f.read().splitlines()[1:]
        labels = {"Max cpu time": "RLIMIT_CPU", "Max file size": "RLIMIT_FSIZE", "Max data size": "RLIMIT_DATA",
                  "Max processes": "RLIMIT_NPROC", "Max open files": "RLIMIT_NOFILE",
                  "Max address space": "RLIMIT_AS"}
        out["rlimits"] = sorted(labels[r[:26].strip()] for r in rows
                                if r[:26].strip() in labels and r[26:47].strip() != "unlimited")
    except (OSError, KeyError, ValueError, IndexError) as e:
        notes.append(f"could not inspect the worker ({e})")
    out["cgroup"] = False
    if worker.group is not None:
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                mine = f.read()
            folder = worker.group.folder("memory")
            name = f"/{os.path.basename(os.path.dirname(folder))}/{os.path.basename(folder)}\n"
            if name in mine:
                out["cgroup"] = (f"v{worker.group.version}: memory {limits.cgroup_memory_mb} MB, "
                                 f"{limits.nproc} processes, CPU time of all of them")
            else:
                notes.append("the worker is not in its control group")
        except OSError as e:
            notes.append(f"could not read the worker's control group ({e})")
    else:
        notes.append(f"no control group: {worker.no_group or 'not created'}; CPU counted over the worker's PID "
                     "namespace, memory limited per process")
    out["mount_isolation"] = bool(rep.get("mount_isolation")) and bool(out.get("mount_namespace"))
    out["private_tmp"] = bool(rep.get("private_tmp")) and bool(out.get("mount_namespace"))
    out["landlock"] = bool(rep.get("landlock"))
    out["audit_hook"] = bool(rep.get("audit_hook"))
    out.pop("mount_namespace", None)
    out["notes"] = notes
    return out
