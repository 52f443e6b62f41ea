"""Grade trusted code on warm workers: the bank's styles and mutants, and the audit tool's mutants.

These are the reference, or code derived from it by the staff or by a pinned tool, so they need no
sandbox: each is executed into a fresh namespace and graded by the same hidden tests and the same
scoring (``core.suite.run_tests`` shares) through ``core.runner.InProcessRunner``, which returns
exactly what a sandboxed worker would have sent. The workers are ``batch.pool.run_local``'s: warm
processes, one job at a time, and a job that hangs past the time limit or kills its process costs
only itself (the worker is replaced).

What a job needs to know is one fact: does it lose points, and where first. So a job stops at its
first failing test, and runs only the tests that can see it: a mutant confined to one function is
graded by the tests that ran that function while grading the reference (traced once, by the first
worker, with the names each test's probes fetched), and the others keep the reference's full
marks: they run nothing but reference code. A bank mutant must not lose points outside its own
question, so the tests of other questions run first.

Jobs run in a child forked from the warm worker (``_Child``, a fresh one every ``JOBS_PER_CHILD``
jobs), so a job that hangs or dies costs a fork, not a worker's start-up (imports, models, the
reference's cases): the child is killed and the test it was running is the one that failed. The
worker itself graded the reference once before its first job, so every child starts with the
models built and the expected values cached.
The audit tool's mutants (never a solution that must pass) get the standard mutation tools' time
rule (cosmic-ray's baseline timeout, mutmut's multiplier): a call may use ``AUDIT_FACTOR`` times
the reference's slowest call of that test, at least ``AUDIT_FLOOR_S`` CPU seconds and at most the
sandbox's own ``call_cpu_s``. A mutant past it is killed by timeout, as the real grader would kill
it at ``call_cpu_s``: a mutant ten times slower than the reference yet still correct is what the
rule gives up.
"""

from __future__ import annotations

import gc
import json
import math
import os
import select
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..worker import isolate

if TYPE_CHECKING:
    from ..config import Settings

REFERENCE_FILE = "<reference>"
RESULT_TEXT = 400  # characters of a failing test's output kept
AUDIT_FACTOR = 10.0  # a tool mutant's call may take this many times the reference's slowest call ...
AUDIT_FLOOR_S = 1.0  # ... and at least this many CPU seconds


@dataclass(frozen=True)
class Job:
    """One trusted source to grade. ``kind``: "file" (a .py graded whole), "bank" (mutant ``index`` of
    the bank file ``file``) or "tool" (the audit tool's mutant ``operator`` #``occurrence``)."""

    id: str
    kind: str
    file: str = ""
    index: int = -1
    operator: str = ""
    occurrence: int = -1
    function: str | None = None  # run only the tests that reach it ("" = load time: all); None: all tests
    question: str = ""  # its own question: the tests of the others run first


@dataclass(frozen=True)
class Outcome:
    """What grading a job found."""

    id: str
    failed_test: str = ""  # the first failing test ("" when every test that ran passed)
    failed_question: str = ""
    kind: str = ""  # the failure's kind (failed, exception, timeout, crash, ...) or "load" / "error"
    output: str = ""
    ran: int = 0
    skipped: int = 0  # tests that could not see it (they keep the reference's result)
    old: str = ""  # for a tool mutant: the lines it changes
    new: str = ""
    seconds: float = 0.0

    @property
    def lost_points(self) -> bool:
        return bool(self.failed_test) or self.kind == "load"


# -- the parent's side ------------------------------------------------------------------------------

Progress = Callable[[int, int], None]


def ticker(log: Callable[[str], None], label: str, every: float = 5.0) -> Progress:
    """A Progress that logs "label: k/M graded (t s)" at most every ``every`` seconds, and at the end."""
    start = time.monotonic()
    last = [start]

    def tick(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= every:
            last[0] = now
            log(f"      {label}: {done}/{total} graded ({now - start:.0f} s)")

    return tick


def wall_backstop(cfg: Settings) -> float:
    """Wall seconds one job may keep a worker: the sandbox's backstop for one call's CPU budget. A job
    is normally stopped sooner, by its CPU budget per call (``_Budgeted``)."""
    return float(cfg.wall_factor) * float(cfg.call_cpu_s)


def grade_jobs(jobs: list[Job], *, project: Path, workers: int, timeout: float, progress: Progress | None = None,
               on_outcome: Callable[[Outcome], None] | None = None) -> dict[str, Outcome]:
    """Grade ``jobs`` on warm workers; {job id: Outcome}. A job that hangs or crashes its worker is an
    Outcome of kind "timeout" or "crash" (the real grader would fail it too). ``on_outcome`` is called
    as each job is graded, then ``progress(done, total)``."""
    from ..batch.discover import Submission
    from ..batch.pool import run_local

    out: dict[str, Outcome] = {}
    if not jobs:
        return out
    with tempfile.TemporaryDirectory(prefix="ditgrade-jobs-") as tmp:
        jobs_file = Path(tmp) / "jobs.json"
        jobs_file.write_text(json.dumps([asdict(j) for j in jobs]))

        def done(sub: Any, kind: str, payload: Any, seconds: float) -> None:
            if kind == "ok":
                out[sub.id] = Outcome(**payload)
            else:
                message = str((payload or {}).get("message", payload))
                # batch.pool's words: a hang past the limit, a worker that died under the job; anything
                # else (no worker could start, the grade function raised) is the grader's own error
                what = "error" if kind == "unstarted" else "timeout" if "longer than" in message \
                    else "crash" if "died" in message else "error"
                out[sub.id] = Outcome(sub.id, kind=what, output=message[:RESULT_TEXT], seconds=seconds)
            if on_outcome:
                on_outcome(out[sub.id])
            if progress:
                progress(len(out), len(jobs))

        # the job file is the "submission"; the job's id says which entry of it to grade
        subs = [Submission(j.id, jobs_file, jobs_file) for j in jobs]
        run_local(subs, jobs=max(1, min(workers, len(jobs))), grade_fn=f"{__name__}.grade_job", gpu=False,
                  timeout=timeout, on_done=done, project=str(project))
    return out


# -- the worker's side ------------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def warmup() -> None:
    """Once per worker: one torch thread, the suite imported, the assignment's models built (every
    forked job finds them ready), an address-space limit (a mutant that asks for terabytes gets a
    MemoryError, not the machine)."""
    import torch

    from ..core.assignment import Assignment

    torch.set_num_threads(1)  # the tiny models run many times faster without an oversubscribed pool
    warnings.simplefilter("ignore")  # what a mutant makes torch or numpy say is noise in the gate's log
    assignment = Assignment.load()
    tests = assignment.tests()
    shares = _shares(tests, assignment.points)
    config = assignment.project.config
    _STATE.update(assignment=assignment, tests=[t for t in tests if shares[t.name] > 0], shares=shares,
                  reference=assignment.reference_path.read_text(), jobs={},
                  call_cpu_s=float(config.call_cpu_s), wall_s=0.9 * wall_backstop(config))
    try:
        assignment.hooks.warm()  # (spare copies, hooks.warm_workers, made no forked job measurably faster)
    except Exception:  # noqa: BLE001 - an optimisation: the tests build what they need anyway
        pass
    _limit_memory(extra_gib=3)
    _set_limit("RLIMIT_CORE", 0)  # no core file of a torch process from a job that crashes


def _shares(tests: list, points: dict[str, float]) -> dict[str, float]:
    from ..core.suite import max_scores

    return max_scores(tests, points)


def _limit_memory(extra_gib: int) -> None:
    try:
        import resource

        size = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (size + extra_gib * 2**30, resource.RLIM_INFINITY))
    except (OSError, ValueError, StopIteration, ImportError):
        pass  # not Linux: the time limit still bounds a runaway job


def _set_limit(name: str, soft: float) -> None:
    try:
        import resource

        which = getattr(resource, name)
        hard = resource.getrlimit(which)[1]
        soft_value = resource.RLIM_INFINITY if soft == math.inf else int(soft)
        if hard != resource.RLIM_INFINITY:
            soft_value = hard if soft_value == resource.RLIM_INFINITY else min(soft_value, hard)
        resource.setrlimit(which, (soft_value, hard))
    except (ImportError, AttributeError, ValueError, OSError):
        pass


class _Budgeted:
    """A runner whose every call may use ``budget`` CPU seconds (``call_cpu_s``, as in the sandbox,
    or a tool mutant's budget). Past it the kernel ends this process, the job's forked child, with
    SIGPROF (its default action; a computation stuck in C never returns to Python to be stopped
    otherwise). The profiling timer counts the CPU of every thread, to the millisecond."""

    def __init__(self, runner: Any, budget: float):
        self.runner, self.budget = runner, budget

    def call(self, probe: str, /, **kwargs: Any) -> Any:
        signal.setitimer(signal.ITIMER_PROF, self.budget)
        try:
            return self.runner.call(probe, **kwargs)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)


class _Recording(dict):
    """The namespace as probes see it: records the names they fetch (``get_student``)."""

    def __init__(self, ns: dict, seen: set[str]):
        super().__init__(ns)
        self.seen = seen

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.seen.add(str(key))
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)


def _namespace(source: str, filename: str, *, tool: bool = False) -> dict:
    """Execute trusted source into a fresh namespace (``core.runner.namespace_from_source``'s way)."""
    ns: dict = {"__name__": "__main__"}
    if tool:  # the tool's ExceptionReplacer writes `except CosmicRayTestingException:`: it must resolve
        from cosmic_ray.exceptions import CosmicRayTestingException

        ns[CosmicRayTestingException.__name__] = CosmicRayTestingException
    exec(compile(source, filename, "exec"), ns)
    return ns


class _Counting:
    """A runner that counts its calls (a test's cost on the reference, the same on every machine) and
    times the slowest one, in CPU seconds (what a tool mutant's budget is measured against)."""

    def __init__(self, runner: Any):
        self.runner, self.calls, self.slowest = runner, 0, 0.0

    def call(self, probe: str, /, **kwargs: Any) -> Any:
        self.calls += 1
        start = time.process_time()
        try:
            return self.runner.call(probe, **kwargs)
        finally:
            self.slowest = max(self.slowest, time.process_time() - start)


def reach(shared: Path | None = None) -> dict[str, dict[str, Any]]:
    """{test: {"code": qualified names of the reference's functions it ran, "names": the names its probes
    fetched, "calls": how many calls it made, "slowest": its slowest call's CPU seconds}}, from grading
    the reference once (traced). ``shared``: a file where the first worker leaves it for the others,
    and for a worker started in place of a dead one. Either way this worker has graded the reference
    once when it returns, so its forked jobs find the tests' expected values cached."""
    if "reach" in _STATE:
        return _STATE["reach"]
    if shared is not None and shared.is_file():
        try:
            table = {k: {**v, "code": set(v["code"]), "names": set(v["names"])}
                     for k, v in json.loads(shared.read_text()).items()}
        except (OSError, ValueError, KeyError):
            pass
        else:
            _grade_reference()
            _STATE["reach"] = table
            return table
    from ..core.probe_calls import InProcessRunner
    from ..core.suite import run_test

    assignment = _STATE["assignment"]
    ns = _namespace(_STATE["reference"], REFERENCE_FILE)
    table: dict[str, dict[str, Any]] = {}
    failing = []
    for test in _STATE["tests"]:
        code: set[str] = set()
        names: set[str] = set()

        def tracer(frame: Any, event: str, arg: Any, code: set[str] = code) -> None:
            if frame.f_code.co_filename == REFERENCE_FILE:
                code.add(frame.f_code.co_qualname)

        runner = _Counting(InProcessRunner(_Recording(ns, names), assignment.probes))
        sys.settrace(tracer)
        try:
            result = run_test(test, runner, _STATE["shares"][test.name])
        finally:
            sys.settrace(None)
        if not result.passed:
            failing.append(f"{test.name}: {result.output[:200]}")
        table[test.name] = {"code": code, "names": names, "calls": runner.calls, "slowest": runner.slowest}
    if failing:
        raise RuntimeError(f"the reference itself fails in-process: {failing[0]}")
    _STATE["reach"] = table
    if shared is not None:
        tmp = shared.with_name(f".{shared.name}.{os.getpid()}")
        tmp.write_text(json.dumps({k: {**v, "code": sorted(v["code"]), "names": sorted(v["names"])}
                                   for k, v in table.items()}))
        os.replace(tmp, shared)
    return table


def _grade_reference() -> None:
    """Grade the reference once, untraced: what the tests build and cache stays in this worker."""
    from ..core.probe_calls import InProcessRunner
    from ..core.suite import run_test

    runner = InProcessRunner(_namespace(_STATE["reference"], REFERENCE_FILE), _STATE["assignment"].probes)
    for test in _STATE["tests"]:
        run_test(test, runner, _STATE["shares"][test.name])


def _reaches(entry: dict[str, Any], function: str) -> bool:
    top = function.split(".", 1)[0]
    return (any(q == function or q.startswith(function + ".") for q in entry["code"]) or top in entry["names"])


def _plan(job: Job, shared: Path) -> tuple[list, int]:
    """The tests to run for ``job`` in order, and how many it skips."""
    tests = _STATE["tests"]
    table = reach(shared)
    if job.function is None:
        return tests, 0
    chosen = [t for t in tests if job.function == "" or _reaches(table[t.name], job.function)]
    # the questions it must not spill into first, then the fewest calls first (the first failure ends
    # the job), then the suite's order: the same order, so the same first failure, on every machine
    chosen.sort(key=lambda t: (t.question == job.question, table[t.name]["calls"]))
    return chosen, len(tests) - len(chosen)


def _source(job: Job) -> tuple[str, str, str]:
    """(source to grade, old lines, new lines)."""
    reference = _STATE["reference"]
    if job.kind == "file":
        return Path(job.file).read_text(), "", ""
    if job.kind == "bank":
        from .mutate import apply, load_module

        mutant = load_module(Path(job.file), "_ditgrade_bank_mutants").MUTANTS[job.index]
        return apply(reference, mutant), "", ""
    from .audit_mutants import Site, change, mutant_source

    mutated = mutant_source(reference, Site(job.operator, job.occurrence, 0, job.function or ""))
    c = change(reference, mutated)
    return mutated, c.old, c.new


def _job(path: str, job_id: str) -> Job:
    jobs = _STATE["jobs"].get(path)
    if jobs is None:
        jobs = _STATE["jobs"][path] = {j["id"]: Job(**j) for j in json.loads(Path(path).read_text())}
    return jobs[job_id]


def _call_budget(job: Job, test: Any) -> float:
    """CPU seconds each call of ``test`` may use for ``job`` (see the module's docstring)."""
    full = _STATE["call_cpu_s"]
    if job.kind != "tool":
        return full
    slowest = float(reach()[test.name].get("slowest", full))
    return min(full, max(AUDIT_FLOOR_S, AUDIT_FACTOR * slowest))


def _grade_here(job: Job, source: str, tests: list, report: Callable[[dict], None]) -> Outcome:
    """Grade ``source`` by ``tests`` in this process, up to the first failure; ``report`` hears of each
    test as it starts."""
    from ..core.probe_calls import InProcessRunner
    from ..core.suite import run_test

    try:
        runner = _Budgeted(InProcessRunner(_namespace(source, f"<{job.id}>", tool=job.kind == "tool"),
                                           _STATE["assignment"].probes), _STATE["call_cpu_s"])
    except Exception as e:  # it does not load: every test that needs one of its names would fail
        return Outcome(job.id, kind="load", output=f"{type(e).__name__}: {e}"[:RESULT_TEXT])
    for ran, test in enumerate(tests, 1):
        runner.budget = _call_budget(job, test)
        report({"test": test.name, "budget": runner.budget})
        result = run_test(test, runner, _STATE["shares"][test.name])
        if not result.passed:
            return Outcome(job.id, test.name, test.question, result.kind, result.output[:RESULT_TEXT], ran,
                           len(tests) - ran)
    return Outcome(job.id, ran=len(tests))


JOBS_PER_CHILD = 8  # jobs one forked child grades before a fresh one (a fork costs about 17 ms of CPU)


class _Child:
    """A child forked from this warm worker that grades jobs sent to it, one at a time, for at most
    ``JOBS_PER_CHILD`` jobs: it reads a request line (job, source, test names), sends one JSON line
    as each test starts and one with the Outcome. A job that outlives it (past its CPU budget, a
    crash, the wall limit) failed the test it had started, and costs only this child. The child
    leads a process group of its own (whatever a job starts is killed with it) and dies with its
    worker."""

    def __init__(self) -> None:
        to_child, self._request = os.pipe()
        self._reply, from_child = os.pipe()
        gc.collect()  # the garbage first (each mutant's parse tree is a cycle), or freezing keeps it for good
        gc.freeze()  # the worker's objects, out of every collection: a child's collector copies none of them
        self.pid = os.fork()
        if self.pid == 0:  # the child: serve, and never return into the worker's loop
            code = 1
            try:
                os.setpgid(0, 0)
                isolate.die_with_parent()
                os.close(self._request)
                os.close(self._reply)
                _serve_jobs(to_child, from_child)
                code = 0
            finally:
                os._exit(code)
        os.close(to_child)
        os.close(from_child)
        self.graded, self._buffer, self._status = 0, b"", None

    def grade(self, job: Job, source: str, tests: list, deadline: float) -> tuple[Outcome, bool]:
        """(its Outcome, whether this child is still alive to take another job). ``deadline``: the
        ``time.monotonic()`` past which the job is killed."""
        self.graded += 1
        request = (json.dumps({"job": asdict(job), "source": source, "tests": [t.name for t in tests]}) + "\n")
        try:
            _write_all(self._request, request.encode())
        except OSError:  # it is gone already
            return self._dead(job, tests, [], False), False
        started: list[dict] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self._dead(job, tests, started, True), False
            if not select.select([self._reply], [], [], min(left, 0.5))[0]:
                if self._exited():  # dead, though something it started still holds the pipe open
                    return self._dead(job, tests, started, False), False
                continue
            chunk = os.read(self._reply, 1 << 16)
            if not chunk:
                return self._dead(job, tests, started, False), False
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                message = json.loads(line)
                if "outcome" in message:
                    return Outcome(**message["outcome"]), not self._buffer
                started.append(message)

    def _dead(self, job: Job, tests: list, started: list[dict], killed: bool) -> Outcome:
        status = self.close()
        signal_number = os.WTERMSIG(status) if os.WIFSIGNALED(status) and not killed else 0
        timeout = killed or signal_number == signal.SIGPROF
        if killed:
            why = f"still running after {_STATE['wall_s']:.0f} s"
        elif timeout:
            why = f"a call used more than its {started[-1]['budget'] if started else _STATE['call_cpu_s']:g} CPU s"
        else:
            why = f"its process died (signal {signal_number})" if signal_number else "its process exited early"
        test = next((t for t in tests if started and t.name == started[-1]["test"]), None)
        return Outcome(job.id, test.name if test else "", test.question if test else "",
                       "timeout" if timeout else "crash", why, len(started), len(tests) - len(started))

    def _exited(self) -> bool:
        if self._status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status = status
        return self._status is not None

    def close(self) -> int:
        """Kill the child and its group (a dead child keeps the status it died with); its wait status."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        for fd in (self._request, self._reply):
            try:
                os.close(fd)
            except OSError:
                pass
        if self._status is None:
            self._status = os.waitpid(self.pid, 0)[1]
        return self._status


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _serve_jobs(requests: int, replies: int) -> None:
    """The child's loop: grade each request until the worker closes the pipe."""
    gc.disable()  # what a job leaves is collected before its outcome is sent, or freed by the child's exit
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # a call past its budget (_Budgeted) ends this child
    by_name = {t.name: t for t in _STATE["tests"]}
    buffer = b""

    def send(message: dict) -> None:
        _write_all(replies, (json.dumps(message) + "\n").encode())

    while True:
        while b"\n" not in buffer:
            chunk = os.read(requests, 1 << 20)
            if not chunk:
                return
            buffer += chunk
        line, buffer = buffer.split(b"\n", 1)
        request = json.loads(line)
        job = Job(**request["job"])
        outcome = _grade_here(job, request["source"], [by_name[n] for n in request["tests"]], send)
        gc.collect()  # inside the job's time: whatever its garbage does on collection is its own
        send({"outcome": asdict(outcome)})


def _in_child(job: Job, source: str, tests: list, deadline: float) -> Outcome:
    """``_grade_here`` in this worker's current child (a fresh one after ``JOBS_PER_CHILD`` jobs, or
    when the last one died). A child is used again only while it answers exactly what was asked."""
    child = _STATE.get("child") or _Child()
    _STATE["child"] = None
    try:
        outcome, alive = child.grade(job, source, tests, deadline)
    except BaseException:
        child.close()
        raise
    if outcome.id != job.id:  # out of step (never seen): not this job's result
        child.close()
        return Outcome(job.id, kind="error", output="the job's child answered for another job")
    if alive and child.graded < JOBS_PER_CHILD:
        _STATE["child"] = child
    elif alive:
        child.close()
    return outcome


def grade_job(path: str, *, gpu: bool = False, sub: str = "") -> dict[str, Any]:
    """Grade job ``sub`` of the jobs file ``path`` (``batch.pool``'s grade-function signature)."""
    if not _STATE:
        warmup()
    start, start_wall = time.perf_counter(), time.monotonic()  # the job's wall limit counts its planning
    job = _job(path, sub)
    try:
        source, old, new = _source(job)
        tests, skipped = _plan(job, Path(path).with_name("reach.json"))
    except Exception as e:  # the mutant cannot be made, or the reference does not pass in-process
        return asdict(Outcome(job.id, kind="error", output=f"{type(e).__name__}: {e}"[:RESULT_TEXT],
                              seconds=time.perf_counter() - start))
    outcome = _in_child(job, source, tests, deadline=start_wall + _STATE["wall_s"])
    return asdict(replace(outcome, skipped=outcome.skipped + skipped, old=old, new=new,
                          seconds=time.perf_counter() - start))
