"""SandboxRunner: the grader's side of one submission's sandboxed workers (a ``core.runner.Runner``).

One runner grades one submission:

1. ``read(path)``: the file's bytes (not parsed here) go to a fresh worker, which parses them before
   any student code runs (``ditgrade.worker.read``); its plain answer is checked into an ``Extracted``.
2. Loading: the template's given code, then the student's top-level statements, one RUN request each,
   in notebook order. Each has its own CPU and idle budget; one that raises costs only itself; one
   that runs out or kills the worker is left out of every later load. Once the load's time
   (``load_cpu_s``) is used up, only definitions (imports, ``def``, ``class``) still run, so heavy
   exploration code never starves the definitions after it.
3. ``call(probe, **kwargs)``: one CALL request, waited for within the call's, the question's and the
   submission's budgets, while the worker's printed output is read and its CPU time watched
   (``ditgrade.sandbox.usage``).

A worker is killed, and with it everything the student started, when it runs out of a budget, dies,
sends more than ``max_answer_mb`` (refused from the frame's length), or sends anything that is not
exactly the reply asked for and does not decode: a malformed frame, the wrong kind or number, an
unreadable payload, a value it could not encode, or no value at all. The next call starts a fresh
worker, which loads the statements again.

Budgets count the student's own time, CPU and idle (waiting neither for a CPU nor for the grader),
never the grader's: per call, per question, per statement, per load and per submission
(``submission_s``). A wall-clock deadline for the whole grade (``submission_wall_s``) is the
backstop that keeps a grade inside a platform's timeout. Under ``--gpu`` the GPU tests get a worker
of their own, started while this grader holds the card's lease (``ditgrade.sandbox.gpu``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CRASH, TIMEOUT, StudentError, from_raised
from ..core.extract import ExplorationCells, Extracted, ExtractError, Statement, file_pieces, from_plain
from ..core.probe_calls import describe_call, with_call
from ..core.values import Raised, decode_answer
from ..worker import protocol
from ..worker.codec import CodecError, encode
from . import forkserver_client as servers
from . import gpu as gpu_lease
from .limits import READ_CPU_S, Limits
from .usage import Meter, Readings, Sample, address_space_left

HELLO_TIMEOUT_S = 60.0  # fork, namespaces, mounts: no student code runs before the hello
POLL_S = 0.05
DRAIN_CHUNK = 1 << 20  # output read per pass, so that a flood cannot keep the grader from its budgets
OUTPUT_READ_CAP = 64 << 20  # output read per submission; past it the student's writes block
MAX_HELLO_BYTES = 64 << 10
MAX_ANSWER_DOC = 16 << 20  # an answer's JSON document (its arrays travel apart, up to max_answer_mb)
GIVEN = "given: "  # label prefix of the template's given code, run before the student's

DIED = "the student's process died (sys.exit, os._exit, a signal, or a memory or CPU limit)"
OUT_OF_TIME = "this submission used up the time it may take in all ({why}); this test was not run"
# round 12: a package of the student's own machine (einops) is not the grader's
_NO_MODULE = " (the grader has only the packages the assignment installs)"
# A call that ran out of memory, or whose worker died or lost it, on a worker that earlier questions'
# calls also used, runs once more on a fresh worker: memory another question's code kept must not fail
# this question's (independent attack round 12: a q1 function that kept 24 MB a call cost q3 0.8 points,
# a torch.compile in q2 cost q4 and q5 4.9). At most this many such retries a submission.
MAX_RETRIES = 4
_OUT_OF_MEMORY = ("MemoryError", "can't allocate memory", "Cannot allocate memory", "bad_alloc", "out of memory",
                  "can't start new thread")
# ... or whatever it raised, when the worker has less than this left to map or to use: libraries
# word it their own way (round 13: oneDNN's "could not create a primitive")
LOW_MEMORY_BYTES = 16 << 20


class SandboxError(RuntimeError):
    """The sandbox itself could not run (not the student's doing): the grade is the grader's failure."""


class _Killed(Exception):
    """The worker was stopped; ``kind`` and ``message`` say why, for a StudentError."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass
class _Budget:
    """What one wait may use: CPU seconds, idle seconds, CPU + idle seconds, wall seconds."""

    cpu: float
    idle: float
    total: float
    wall: float

    def less(self, used: Sample) -> _Budget:
        """What is left of this budget once ``used`` is spent (one budget over several requests)."""
        return _Budget(self.cpu - used.cpu, self.idle - used.idle, self.total - used.cpu - used.idle,
                       self.wall - used.wall)

    def spent(self) -> bool:
        return min(self.cpu, self.idle, self.total, self.wall) <= 0


class SandboxRunner:
    """Runs one submission's probe calls in sandboxed workers (see the module docstring)."""

    def __init__(self, assignment: Any, limits: Limits, *, given: list[Statement] | tuple = ()):
        self.assignment = assignment
        self.limits = limits
        self.statements: list[Statement] = [Statement(GIVEN + s.label, s.source, s.names, s.definition)
                                            for s in given]
        self.stopped: dict[str, str] = {}  # label -> why it stopped a worker; left out of later loads
        self.raised: dict[str, Raised] = {}  # label -> what it raised (its first load)
        self.out_of_time: list[str] = []  # code statements not run: the load's time was used up
        self.protections: dict[str, Any] | None = None
        self.gpu_protections: dict[str, Any] | None = None  # of the GPU tests' worker, under --gpu
        self.workers_started = 0
        self.retried = 0  # calls run again on a fresh worker (MAX_RETRIES)
        self._worker_questions: set[str] = set()  # the questions whose calls this worker has served
        self._idle_and_short = False  # the last call was killed idle, its worker short of memory
        self.deadline_reached = False
        self._output = bytearray()
        self._output_dropped = 0
        self._output_read = 0
        self._worker: servers.Worker | None = None
        self._files = Readings()  # the meter's open files, one set per worker
        self._worker_gpu = False
        self._loaded = False
        self._server: servers.ForkServer | None = None
        self._probes: dict[str, int] = {}
        self._id = 0
        self._question = ""
        self._q_cpu = 0.0
        self._student_s = 0.0  # the student's CPU + idle seconds so far, every load and call, and between them
        self._cpu_mark: float | None = None  # the worker tree's CPU seconds when the last request ended
        self._last_used = Sample(0.0, 0.0, 0.0)  # what the last request used
        self._gpu_phase = False
        self._lease = gpu_lease.Lease() if limits.gpu else None
        wall = limits.for_gpu_tests().submission_wall_s if limits.gpu else limits.submission_wall_s
        self._deadline = time.monotonic() + wall

    # -- reading the submission ---------------------------------------------------------------------
    def read(self, path: str | Path, *, drivers: ExplorationCells | None = None, notebook_name: str = "",
             graded: dict[str, list[str]] | None = None) -> Extracted:
        """The submission's statements, parsed by a fresh worker before any student code runs there."""
        drivers = drivers or ExplorationCells()
        found = file_pieces(path)
        if isinstance(found, str):
            return Extracted(unreadable=found)
        name, pieces = found
        self._start_worker()
        budget = _Budget(READ_CPU_S, READ_CPU_S, 2 * READ_CPU_S, self.limits.wall_factor * READ_CPU_S)
        try:
            piece = next(pieces, b"")
            while True:  # a piece at a time: neither process holds a large notebook whole
                following = next(pieces, None)
                request = {"data": np.frombuffer(piece, dtype=np.uint8), "name": name}
                if following is not None:
                    request["more"] = True
                else:
                    request.update(notebook_name=notebook_name, drivers=drivers.to_plain(), graded=graded or {})
                reply = self._exchange(protocol.READ, encode(request), budget, charge=False)
                if following is None:
                    break
                if reply != {"ok": {"more": True}}:
                    self._kill()
                    return Extracted(file=name, unreadable="the file could not be read (the reader failed)")
                budget = budget.less(self._last_used)  # one budget for all the pieces (attack round 20)
                if budget.spent():
                    self._kill()
                    raise _Killed(TIMEOUT, f"reading it used more than {READ_CPU_S:.0f} s")
                piece = following
        except OSError as e:
            self._kill()
            return Extracted(file=name, unreadable=f"the submission could not be read ({e.strerror})")
        except _Killed as e:
            return Extracted(file=name, unreadable=f"the file could not be read within the sandbox's limits "
                                                   f"(it is too large or malformed: {e.message})")
        try:
            if "ok" not in reply:
                raise ExtractError("the reader failed")
            extracted = from_plain(reply["ok"])
        except ExtractError as e:
            self._kill()
            return Extracted(file=name, unreadable=f"the file could not be read ({e})")
        self.statements += extracted.statements
        return extracted

    @property
    def submission_key(self) -> str:
        """A digest of the student's statements as read (``core.compare.submission_key``)."""
        h = hashlib.sha256()
        for st in self.statements:
            if not st.label.startswith(GIVEN):
                h.update(st.source.encode("utf-8", "surrogatepass") + b"\0")
        return h.hexdigest()[:16]

    # -- budgets per question ------------------------------------------------------------------------
    def begin_test(self, test: Any) -> None:
        """Called by the suite before each test (a GradedTest, or a name): the public checks first, then
        the hidden tests, each question by question (``suite.run_tests``); a question's CPU budget
        starts again whenever the question changes."""
        name = getattr(test, "name", test)
        question = str(name).split(maxsplit=1)[0]
        if question != self._question:
            self._question, self._q_cpu = question, 0.0
        wants_gpu = bool(getattr(test, "requires_gpu", False)) and self._lease is not None
        if wants_gpu and not self._gpu_phase:
            self._kill()  # no worker of this submission's has the devices but the GPU tests' own
            try:
                self._deadline += self._lease.acquire()  # waiting for the card is the grader's time
            except gpu_lease.LeaseTimeout as e:
                raise SandboxError(str(e)) from None
            self._gpu_phase = True
        elif not wants_gpu and self._gpu_phase:
            self._end_gpu_phase()

    def _end_gpu_phase(self) -> None:
        self._kill()  # before the lease is given back: whatever it held on the card is freed
        if self._lease is not None:
            self._lease.release()
        self._gpu_phase = False

    @property
    def _now(self) -> Limits:
        return self.limits.for_gpu_tests() if self._gpu_phase else self.limits

    def _student_left(self) -> float:
        return self._now.submission_s - self._student_s

    def _deadline_left(self) -> float:
        return self._deadline - time.monotonic()

    def _out_of_time(self) -> str:
        """'' while this submission may still run; otherwise why not (for the student)."""
        if self._student_left() <= 0:
            return OUT_OF_TIME.format(why=f"{self._now.submission_s:g} s of computing and waiting, every load "
                                          "and call together")
        if self._deadline_left() <= 0:
            self.deadline_reached = True
            return OUT_OF_TIME.format(why=f"its grade reached the wall-clock limit of "
                                          f"{self.limits.submission_wall_s:g} s")
        return ""

    # -- the Runner interface --------------------------------------------------------------------------
    def call(self, probe: str, /, **kwargs: Any) -> Any:
        spec = self.assignment.probes.table.get(probe)
        where = describe_call(spec.call, kwargs) if spec else probe
        while True:
            try:
                return self._call_once(probe, where, kwargs)
            except StudentError as e:
                if not self._may_retry(e):
                    raise
                self._kill()
                self.retried += 1

    def _call_once(self, probe: str, where: str, kwargs: dict[str, Any]) -> Any:
        self._idle_and_short = False
        limits = self._now
        cpu_left = limits.question_cpu_s - self._q_cpu
        if cpu_left <= 0:
            raise StudentError(TIMEOUT, f"the time budget of {self._question} ({limits.question_cpu_s:g} s of CPU) "
                                        "was used up by earlier calls; this test was not run")
        why = self._out_of_time()
        if why:
            raise StudentError(TIMEOUT, why)
        self._ensure_worker()
        if probe not in self._probes:
            raise StudentError(CRASH, f"{where}: the sandbox has no probe named {probe!r}")
        self._worker_questions.add(self._question)
        left = self._student_left()
        budget = _Budget(cpu=min(limits.call_cpu_s, cpu_left), idle=limits.idle_s, total=left,
                         wall=min(limits.wall_factor * limits.call_cpu_s, self._deadline_left()))
        try:
            reply = self._exchange(protocol.CALL, encode(kwargs), budget, arg=self._probes[probe],
                                   cut=budget.cpu < limits.call_cpu_s, question=True)
        except _Killed as e:
            raise with_call(StudentError(e.kind, e.message), where) from None
        if "ok" in reply:
            return reply["ok"]
        if "error" in reply and isinstance(reply["error"], Raised):
            raise with_call(from_raised(list(reply["error"].names), reply["error"].message), where)
        self._kill()
        why = str(reply.get("unreadable", ""))[:300] if isinstance(reply.get("unreadable"), str) else "malformed"
        raise StudentError(CRASH, f"{where} returned a value the grader cannot read: {why}")

    def _may_retry(self, e: StudentError) -> bool:
        """Whether a failed call runs again on a fresh worker (see MAX_RETRIES): it ran out of memory
        (said so, or left its worker with almost none) or ended with its worker, on a worker that other
        questions' calls had used first."""
        if self.retried >= MAX_RETRIES or not (self._worker_questions - {self._question}) or self._out_of_time():
            return False
        if e.kind == CRASH or any(m in str(e) for m in _OUT_OF_MEMORY):
            return True
        if e.kind == TIMEOUT:  # only a call that hung short of memory (a thread that could not start)
            return self._idle_and_short
        return self._short_of_memory()

    def _short_of_memory(self) -> bool:
        """Whether the worker has less than LOW_MEMORY_BYTES left to map or to use."""
        if self._worker is None:
            return False
        left = [address_space_left(self._worker.pid)]
        left += [self._worker.group.memory_left()] if self._worker.group is not None else []
        return any(n is not None and n < LOW_MEMORY_BYTES for n in left)

    def close(self) -> None:
        if self._gpu_phase:
            self._end_gpu_phase()
        self._kill()

    @property
    def output(self) -> str:
        text = bytes(self._output).decode("utf-8", "replace")
        return text + (f"\n[{self._output_dropped:,} more bytes of output not kept]" if self._output_dropped else "")

    def report(self) -> dict[str, Any]:
        return {"protections": self.protections or {"separate_process": False},
                **({"gpu_protections": self.gpu_protections} if self.gpu_protections else {}),
                "load_errors": [f"{label}: {e.type}: {e.message}"[:500] for label, e in self.raised.items()],
                "stopped_at_load": dict(self.stopped), "not_run_out_of_time": list(self.out_of_time),
                "workers_started": self.workers_started, "calls_retried": self.retried,
                "deadline_reached": self.deadline_reached,
                "student_seconds": round(self._student_s, 2)}

    def problems(self) -> dict[str, str]:
        """{label: why it did not run or what it raised} for every statement that did not run to its end."""
        out = {label: f"raised {e.type}: {e.message}"[:300] + (_NO_MODULE if e.type == "ModuleNotFoundError" else "")
               for label, e in self.raised.items()}
        out |= {label: f"was left out: it {why}" for label, why in self.stopped.items()}
        out |= {label: "was not run: the time for top-level code was used up by the statements before it"
                for label in self.out_of_time}
        return out

    # -- worker lifecycle ------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        """A worker with the submission loaded, of the kind the current test needs."""
        if self._worker is not None and self._loaded and self._worker_gpu == self._gpu_phase:
            return
        if self._worker is not None and (self._worker_gpu != self._gpu_phase):
            self._kill()
        while True:
            why = self._out_of_time()
            if why:
                raise StudentError(TIMEOUT, why)
            if self._worker is None:
                self._start_worker()
            if self._load():
                return

    def _start_worker(self) -> None:
        """A fresh worker that has said hello (no student code in it yet)."""
        for attempt in range(2):
            try:
                self._server = servers.fork_server(self.assignment)
                env = servers.allowed_env(servers.WORKER_ENV_ALLOWED)
                spec = self.limits.worker_spec(servers.sandbox_uid(), env, gpu=self._gpu_phase)
                self._worker = self._server.spawn(spec)
                break
            except servers.ForkServerError as e:
                if self._server is not None:
                    servers.discard(self._server)
                self._server = None
                if attempt:
                    raise SandboxError(f"the sandbox's fork server failed twice: {e}") from None
        self._worker_gpu, self._loaded, self._cpu_mark = self._gpu_phase, False, None
        self._worker_questions = set()
        self._files = Readings()
        self.workers_started += 1
        try:
            hello = self._receive(Meter(self._worker.pid, self._worker.group, self._files),
                                  _Budget(HELLO_TIMEOUT_S, HELLO_TIMEOUT_S, 2 * HELLO_TIMEOUT_S, HELLO_TIMEOUT_S),
                                  max_bytes=MAX_HELLO_BYTES)
            body = decode_answer(hello.payload) if hello.kind == protocol.HELLO else None
        except (_Killed, CodecError) as e:
            self._kill()
            raise SandboxError(f"a sandboxed worker failed before running any student code: {e}") from None
        if not isinstance(body, dict) or not isinstance(body.get("probes"), list):
            self._kill()
            raise SandboxError("a sandboxed worker did not say hello")
        self._probes = {str(n): i for i, n in enumerate(body["probes"])}
        if self.protections is None:
            self.protections = verify(self._worker, body.get("protections"), self.limits)
        if self._gpu_phase and self.gpu_protections is None:  # the GPU tests' worker, checked on its own
            self.gpu_protections = verify(self._worker, body.get("protections"), self.limits)

    def _load(self) -> bool:
        """Run the statements in the worker; False when one stopped it (a fresh worker must load again)."""
        limits, load_used = self._now, 0.0
        for st in self.statements:
            if st.label in self.stopped:
                continue
            if not st.definition and load_used >= limits.load_cpu_s:
                if st.label not in self.out_of_time:
                    self.out_of_time.append(st.label)
                continue
            left = limits.statement_cpu_s if st.definition else min(limits.statement_cpu_s,
                                                                    limits.load_cpu_s - load_used)
            budget = _Budget(cpu=left, idle=min(limits.idle_s, limits.statement_cpu_s), total=self._student_left(),
                             wall=min(limits.wall_factor * limits.statement_cpu_s, self._deadline_left()))
            start = self._student_s
            try:
                reply = self._exchange(protocol.RUN, encode([st.label, st.source]), budget)
            except _Killed as e:
                why = self._out_of_time()
                self.stopped[st.label] = ("used up the time this submission may take" if why else e.message)
                return False
            finally:
                load_used += self._student_s - start
            error = reply.get("error")
            if isinstance(error, Raised) and st.label not in self.raised:
                self.raised[st.label] = error
            elif "ok" not in reply and not isinstance(error, Raised):
                self._kill()
                self.stopped[st.label] = "made the student's process send an unreadable answer"
                return False
        self._loaded = True
        return True

    def _kill(self) -> None:
        worker, self._worker = self._worker, None
        self._loaded = False
        self._files.close()
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
    def _exchange(self, kind: int, payload: bytes, budget: _Budget, *, arg: int = 0, cut: bool = False,
                  question: bool = False, charge: bool = True) -> dict:
        """Send one request and return its decoded reply ({"ok"} / {"error"} / {"unreadable"}). The
        student's time it took is charged to the submission (and to the question's CPU budget when
        ``question``). Anything but the one reply asked for kills the worker: _Killed."""
        self._id += 1
        rid = self._id
        meter = Meter(self._worker.pid, self._worker.group, self._files)
        if charge and self._cpu_mark is not None:  # what the student's processes computed while the grader
            self._student_s += max(0.0, meter.cpu0 - self._cpu_mark)  # worked (children spinning between calls)
        try:
            self._send(protocol.pack(kind, rid, payload, arg))
            message = self._receive(meter, budget, cut=cut)
        finally:
            used = self._last_used = meter.sample()
            self._cpu_mark = meter.cpu0 + used.cpu
            if charge:
                self._student_s += used.cpu + used.idle
            if question:
                self._q_cpu += used.cpu
        if message.id != rid or message.kind not in (protocol.DONE, protocol.LOST):
            self._kill()
            raise _Killed(CRASH, "the student's process answered out of turn")
        if message.kind == protocol.LOST:
            self._kill()
            raise _Killed(CRASH, "the call ended without a result (the student's code interfered with the call)")
        try:
            reply = decode_answer(message.payload, max_doc=MAX_ANSWER_DOC)
        except Exception as e:  # noqa: BLE001 - any failure to read it at all discards the worker
            self._kill()
            raise _Killed(CRASH, f"the answer could not be read ({str(e)[:200]})") from None
        if not isinstance(reply, dict) or len(reply) != 1 or not ({"ok", "error", "unreadable"} & set(reply)):
            self._kill()
            raise _Killed(CRASH, "the student's process sent a malformed answer")
        return reply

    def _send(self, data: bytes) -> None:
        try:
            self._worker.sock.settimeout(self.limits.wall_factor * self.limits.call_cpu_s)
            self._worker.sock.sendall(data)
        except OSError:
            self._kill()
            raise _Killed(CRASH, DIED) from None

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

    def _receive(self, meter: Meter, budget: _Budget, *, cut: bool = False,
                 max_bytes: int | None = None) -> protocol.Message:
        """The next message from the worker, within ``budget``; kills the worker (_Killed) otherwise."""
        worker = self._worker
        os.set_blocking(worker.output_fd, False)
        worker.sock.setblocking(False)
        reader = protocol.FrameReader(max_bytes or (self.limits.max_answer_mb << 20) + protocol.HEAD.size)
        while True:
            # past OUTPUT_READ_CAP the output is no longer read: a flood blocks its own writers
            watch = [worker.sock] + ([worker.output_fd] if self._output_read < OUTPUT_READ_CAP else [])
            ready = select.select(watch, [], [], POLL_S)[0]
            if worker.output_fd in ready:
                self._drain(worker.output_fd)
            if worker.sock in ready:
                try:
                    chunk = worker.sock.recv(min(reader.want(), 1 << 20))
                except BlockingIOError:
                    chunk = None
                except OSError:
                    chunk = b""
                if chunk == b"":
                    self._kill()
                    raise _Killed(CRASH, DIED)
                if chunk:
                    try:
                        message = reader.feed(chunk)
                    except protocol.FrameError as e:
                        self._kill()
                        raise _Killed(CRASH, f"the student's process sent something unreadable ({e})") from None
                    if message is not None:
                        return message
                    continue
            self._check(meter.sample(), budget, cut)

    def _check(self, used: Sample, budget: _Budget, cut: bool) -> None:
        why = ""
        if used.cpu > budget.cpu:
            why = (f"used up the {budget.cpu:.0f} s of CPU time its question had left" if cut
                   else f"used more than {budget.cpu:.0f} s of CPU time")
        elif used.idle > budget.idle:
            why = f"waited {used.idle:.0f} s without computing (sleeping or blocked)"
            self._idle_and_short = self._short_of_memory()  # read before the kill (round 13)
        elif used.cpu + used.idle > budget.total:
            why = "used up the time this submission may take in all"
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
        out["seccomp_allowlist"] = bool(rep.get("channel_filter")) and status.get("Seccomp") == "2"
        with open(f"/proc/{pid}/limits") as f:
            rows = f.read().splitlines()[1:]
        labels = {"Max cpu time": "RLIMIT_CPU", "Max file size": "RLIMIT_FSIZE", "Max data size": "RLIMIT_DATA",
                  "Max processes": "RLIMIT_NPROC", "Max open files": "RLIMIT_NOFILE",
                  "Max address space": "RLIMIT_AS", "Max core file size": "RLIMIT_CORE"}
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
                # v2's group weighs its processes as one; in v1 that takes a group in the cpu controller
                share = worker.group.version == 2 or any(
                    "cpu" in line.split(":")[1].split(",") and line.endswith(name.rstrip("\n"))
                    for line in mine.splitlines() if line.count(":") >= 2)
                stall = "stall" in dict(worker.group.dirs)
                out["cgroup"] = (f"v{worker.group.version}: memory {limits.cgroup_memory_mb} MB, "
                                 f"{limits.nproc} processes, CPU time of all of them"
                                 + (", one CPU share for all of them" if share else "")
                                 + (", their waits for a CPU from pressure stall information" if stall else ""))
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
