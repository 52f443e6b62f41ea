"""Grading in Slurm job arrays (through submitit): the cluster executor of a batch.

    run_slurm(todo, ...)     submit, watch, collect, retry once; ``on_done`` as each submission finishes

The submissions are cut into chunks of at most ``per_job`` (smaller where that leaves fewer than
``max_jobs`` chunks); one ``sbatch --array`` runs one task per chunk, at most ``max_jobs`` at once.
A task (``grade_chunk``, pickled by name, so it runs from the installed package with the
submitter's ``sys.executable``) grades its chunk with the local executor's warm worker
(``pool.run_local``: set up once, one submission after another, a hung or dead worker costs only
its row) and writes each outcome atomically to ``OUT/.slurm/<run>/results/<id>.json``, skipping ids
already there. The submitting process reads those files as they appear and calls ``on_done``
exactly once per submission.

States come from ``squeue -r -t all`` (no sacct: it needs slurmdbd, and submitit's own watcher never
sees a failure without it); the result files, not the states, say what was graded. A task that
ended (cancelled, killed, timed out, node failure, pre-empted and not requeued, or vanished from
squeue) without writing all its rows costs only the rows it did not write: they are submitted once
more, one submission per task, and whatever is still missing then is reported as an error ("the
Slurm job ... failed twice"). A task stops at once on SIGTERM (scancel, pre-emption, the time
limit) or on submitit's USR2 warning; what it finished stays. Ctrl-C cancels the arrays. The run's
folder (submitit's scripts, pickles and logs) is removed when every row was graded, kept otherwise.

``options`` is a ``SlurmOptions`` (``ditgrade grade``'s flags; its defaults are written there only).
The output folder and the submissions must be on a filesystem the compute nodes share.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .discover import Submission
from .pool import OnDone
from .slurm_options import SlurmOptions

# squeue's %T: a task in one of these has ended. Anything else (PENDING, RUNNING, COMPLETING, REQUEUED,
# SUSPENDED, ...) is waited on: Slurm's own requeue after pre-emption or node failure reruns the task,
# which skips what it already wrote. COMPLETING lasts until every process of the task is gone.
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                      "BOOT_FAIL", "DEADLINE", "PREEMPTED", "REVOKED", "SPECIAL_EXIT"})
RUNNING = frozenset({"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT", "RESIZING"})
SETTLE_POLLS = 2  # a terminal state counts once squeue said it twice in a row (PREEMPTED may turn PENDING)
VANISHED_POLLS = 3  # a task missing from squeue this many polls in a row has ended (past MinJobAge)
VANISHED_GRACE_S = 30.0  # ... and is not just too new for squeue to list
SQUEUE_GIVE_UP_S = 900.0  # squeue failing this long: the controller is gone, every running task is lost


# --------------------------------------------------------------------------- on the compute node


class _Stop(Exception):
    """Raised in an array task by SIGTERM / SIGUSR2: stop grading, keep what is written."""


def _write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, default=str) + "\n")
    os.replace(tmp, path)


def _task_name() -> str:
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID") or "local"
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{job}_{task}" if task is not None else job


def grade_chunk(items: list[tuple[str, str]], results_dir: str, grade_fn: str, gpu: bool, project: str,
                timeout: float) -> dict[str, Any]:
    """One array task: grade ``items`` ((id, path) pairs) and write ``results_dir/<id>.json`` for each.

    Ids already written there (by an earlier task of the run) are skipped. Returns a small summary
    (it travels back as submitit's result pickle): counts, why rows were left, the signal that stopped it.
    """
    from .pool import run_local

    os.environ["DITGRADE_PROJECT"] = project
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = _task_name()
    todo = [Submission(sid, Path(p), Path(p)) for sid, p in items if not (out / f"{sid}.json").exists()]
    summary: dict[str, Any] = {"task": task, "graded": 0, "skipped": len(items) - len(todo), "unstarted": {},
                               "stopped": None}
    state = {"signal": 0, "writing": False}

    def on_signal(signum: int, frame: Any) -> None:
        state["signal"] = signum
        print(f"ditgrade: {task} got {signal.Signals(signum).name}; stopping, finished rows are kept",
              file=sys.stderr, flush=True)
        if not state["writing"]:
            raise _Stop(signum)

    def on_done(sub: Submission, kind: str, payload: Any, seconds: float) -> None:
        if kind == "unstarted":  # no worker could start here: the submitter retries the row elsewhere
            summary["unstarted"][sub.id] = str((payload or {}).get("message", payload))
            return
        if kind == "error" and (state["signal"] or _killed_by_slurm(payload)):
            return  # the worker died of the signal that stops this task: not the submission's doing
        state["writing"] = True
        try:
            if hasattr(payload, "to_gradescope"):  # a Grade: the collector reads it back as results.json
                payload = payload.to_gradescope()
            _write_atomic(out / f"{sub.id}.json", {"id": sub.id, "kind": kind, "payload": payload,
                                                   "seconds": seconds, "task": task})
            summary["graded"] += 1
        finally:
            state["writing"] = False
        if state["signal"]:
            raise _Stop(state["signal"])

    # A Python handler (not SIG_IGN) is reset to the default in the workers run_local spawns, so they
    # die of the signal as they would without this, and the student code under them sees no change.
    signals = [signal.SIGTERM, signal.SIGUSR2]
    main = threading.current_thread() is threading.main_thread()
    before = {s: signal.signal(s, on_signal) for s in signals} if main else {}
    try:
        if todo:
            jobs = max(1, int(os.environ.get("SLURM_CPUS_PER_TASK") or 1))
            run_local(todo, jobs=jobs, grade_fn=grade_fn, gpu=gpu, timeout=timeout, on_done=on_done,
                      project=project)
    except _Stop as e:
        summary["stopped"] = signal.Signals(e.args[0]).name
    finally:
        for s, h in before.items():
            signal.signal(s, h)
    return summary


def _killed_by_slurm(payload: Any) -> bool:
    """run_local's "the grading worker died (exit code -15)": SIGTERM/SIGUSR2 reached the worker first."""
    message = str((payload or {}).get("message", "")) if isinstance(payload, dict) else str(payload)
    return "worker died" in message and any(f"exit code -{int(s)})" in message
                                            for s in (signal.SIGTERM, signal.SIGUSR2))


# --------------------------------------------------------------------------- in the submitting process


@dataclass
class _Task:
    job: Any  # submitit's SlurmJob (its paths: stderr, result pickle)
    job_id: str  # "12_3"
    ids: list[str]
    attempt: int  # 0: first array, 1: the retry
    submitted: float
    state: str = "SUBMITTED"
    seen: bool = False
    absent: int = 0
    terminal_polls: int = 0
    ended: bool = False  # no longer watched: all rows in, or lost
    first: dict[str, str] = field(default_factory=dict)  # retries: id -> how the first attempt ended


def _chunks(items: list, per_job: int) -> list[list]:
    """Contiguous chunks of at most ``per_job``, as even as possible (7 by 3: 3, 2, 2)."""
    n = -(-len(items) // per_job)
    size, extra = divmod(len(items), n)
    out, i = [], 0
    for k in range(n):
        j = i + size + (k < extra)
        out.append(items[i:j])
        i = j
    return out


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _error_line(text: str) -> str:
    """The line of sbatch's / a traceback's output that says what went wrong."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "error" in ln.lower():
            return _short(ln)
    return _short(lines[-1]) if lines else "no message"


def _squeue(array_ids: list[str]) -> dict[str, str] | None:
    """{"12_3": "RUNNING", ...} for the given arrays (one line per task, finished ones included), or
    None when squeue failed. Tasks Slurm no longer knows (older than MinJobAge) are simply absent."""
    try:
        p = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(array_ids)],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode != 0:
        # One unknown id makes squeue fail ("Invalid job id specified"); several unknown print nothing.
        return {} if "Invalid job id" in p.stderr else None
    states = {}
    for line in p.stdout.splitlines():
        job_id, _, st = line.strip().partition("|")
        if job_id and st:
            states[job_id] = st.split()[0].upper()
    return states


class _Run:
    def __init__(self, todo: list[Submission], *, grade_fn: str, gpu: bool, on_done: OnDone, out: Path,
                 assignment: Any, options: SlurmOptions, log: Callable[[str], None]):
        from .pool import worker_timeout

        self.subs = {s.id: s for s in todo}
        self.order = [s.id for s in todo]
        self.grade_fn, self.gpu, self.on_done, self.log = grade_fn, gpu, on_done, log
        self.project = str(assignment.project.root)
        self.timeout = worker_timeout(assignment, gpu)
        self.opts = options
        self.gpus = options.gpus(gpu)
        self.dir = Path(out).absolute() / ".slurm" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.results = self.dir / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self.reported: set[str] = set()
        self.tasks: list[_Task] = []
        self.lost_any = False  # a lost task keeps the run's folder (its logs), even when its rows got graded
        self.start = time.monotonic()
        self.squeue_ok = time.monotonic()
        self.last_line = ""
        self.last_log = 0.0
        self._executor: Any = None

    # ---- submitting

    def executor(self) -> Any:
        if self._executor is None:
            import submitit

            ex = submitit.SlurmExecutor(folder=self.dir / "submitit")  # tasks run this sys.executable
            o = self.opts
            # USR2 comes signal_delay_s (+ up to a minute: Slurm's resolution) before the time limit. It
            # kills the task's grading worker (its default action) and stops the task, so keep it short.
            params: dict[str, Any] = {"job_name": "ditgrade", "time": o.time_limit, "signal_delay_s": 30,
                                      "cpus_per_task": o.cpus_per_job,
                                      "array_parallelism": o.max_jobs}
            if o.partition:
                params["partition"] = o.partition
            if self.gpus > 0:  # a partition without gpu gres refuses even gpus_per_node=0
                params["gpus_per_node"] = self.gpus
            if o.mem_gb:
                params["mem"] = f"{int(o.mem_gb * 1024)}MB"
            if o.setup:
                params["setup"] = list(o.setup)
            ex.update_parameters(**params)
            self._executor = ex
        return self._executor

    def submit(self, groups: list[list[str]], attempt: int, first: dict[str, str] | None = None) -> bool:
        """One array, one task per group of ids; False (rows reported "unstarted") when sbatch refused."""
        items = [[(sid, os.path.abspath(self.subs[sid].path)) for sid in g] for g in groups]
        n = len(items)
        try:
            jobs = self.executor().map_array(grade_chunk, items, [str(self.results)] * n,
                                             [self.grade_fn] * n, [self.gpu] * n, [self.project] * n,
                                             [self.timeout] * n)
        except Exception as e:  # noqa: BLE001 - sbatch's refusal (bad partition, gres, limits), no srun, ...
            why = _error_line(str(e))
            self.log(f"slurm: sbatch failed: {why}")
            for sid in (sid for g in groups for sid in g):
                self._report(sid, "unstarted", {"message": f"the Slurm job could not be submitted: {why}"},
                             0.0)
            return False
        now = time.monotonic()
        for job, g in zip(jobs, groups, strict=True):
            self.tasks.append(_Task(job, str(job.job_id), list(g), attempt, now,
                                    first={sid: (first or {}).get(sid, "") for sid in g}))
        array = str(jobs[0].job_id).split("_")[0]
        sizes = sorted({len(g) for g in groups})
        per = "-".join(map(str, (sizes[0], sizes[-1]) if len(sizes) > 1 else sizes))
        self.log(f"slurm: submitted array {array}: {n} job(s) of {per} submission(s), at most "
                 f"{self.opts.max_jobs} at once, {self.opts.time_limit} min each"
                 + (" (retry)" if attempt else f"; logs in {self.dir / 'submitit'}"))
        return True

    # ---- watching

    def _report(self, sid: str, kind: str, payload: Any, seconds: float) -> None:
        if sid in self.reported:
            return
        self.reported.add(sid)
        self.on_done(self.subs[sid], kind, payload, seconds)

    def collect(self) -> None:
        """Report every result file that is new (written atomically by a task); a task whose rows are
        all in is no longer watched (it is exiting)."""
        self._collect()
        for t in self.tasks:
            if not t.ended and all(sid in self.reported for sid in t.ids):
                t.ended = True

    def _collect(self) -> None:
        try:
            names = os.listdir(self.results)
        except OSError:
            return
        for name in names:
            sid = name[:-5] if name.endswith(".json") and not name.startswith(".") else None
            if sid is None or sid in self.reported or sid not in self.subs:
                continue
            try:
                rec = json.loads((self.results / name).read_text())
            except (OSError, ValueError):
                continue  # never half-written (os.replace); unreadable now, try again next time
            kind = rec.get("kind") if rec.get("kind") in ("ok", "error") else "error"
            payload = rec.get("payload") if kind == "ok" or isinstance(rec.get("payload"), dict) else \
                {"message": f"unreadable result from Slurm job {rec.get('task')}"}
            self._report(sid, kind, payload, float(rec.get("seconds") or 0.0))

    def poll(self) -> list[_Task]:
        """Ask squeue once for every array still watched; the tasks found lost this time (those that
        ended, or vanished, without writing all their rows)."""
        watched = [t for t in self.tasks if not t.ended]
        arrays = sorted({t.job_id.split("_")[0] for t in watched})
        states = _squeue(arrays) if arrays else {}
        now = time.monotonic()
        self.collect()  # after squeue: a task writes its rows before Slurm can call it ended
        lost = []
        if states is None:
            if now - self.squeue_ok > SQUEUE_GIVE_UP_S:
                self.log(f"slurm: squeue failed for {SQUEUE_GIVE_UP_S / 60:.0f} min; giving up on the jobs")
                for t in watched:
                    if not t.ended:
                        t.state = "UNKNOWN (squeue failing)"
                        lost.append(t)
        else:
            self.squeue_ok = now
        for t in watched:
            if t.ended or states is None:
                continue
            st = states.get(t.job_id)
            if st is None:
                t.absent += 1
                if t.absent >= VANISHED_POLLS and (t.seen or now - t.submitted > VANISHED_GRACE_S):
                    t.state = "gone from squeue"
                    lost.append(t)
                continue
            t.seen, t.absent, t.state = True, 0, st
            t.terminal_polls = t.terminal_polls + 1 if st in TERMINAL else 0
            if t.terminal_polls >= SETTLE_POLLS:
                lost.append(t)
        for t in lost:
            t.ended = True
        return lost

    def why(self, t: _Task) -> str:
        """How a lost task ended: its state and the line of its output that says why."""
        detail = ""
        try:
            from submitit.core.utils import pickle_load

            outcome, value = pickle_load(t.job.paths.result_pickle)
            if outcome == "error":
                detail = _error_line(value)
            elif isinstance(value, dict):
                if value.get("stopped"):
                    detail = f"stopped by {value['stopped']}"
                elif value.get("unstarted"):
                    detail = _short(next(iter(value["unstarted"].values())), 200)
        except Exception:  # noqa: BLE001 - no pickle (killed), or an unreadable one
            pass
        if not detail:  # killed: Slurm's own first word on it (cancelled, killed, out of memory, time limit)
            try:
                lines = [ln.strip() for ln in t.job.paths.stderr.read_text(errors="replace").splitlines()
                         if ln.strip() and "Bypassing signal" not in ln]
            except OSError:
                lines = []
            slurm_says = [ln for ln in lines if ln.startswith(("srun:", "slurmstepd"))]
            detail = _short(slurm_says[0] if slurm_says else lines[-1] if lines else "", 200)
        return f"{t.state}" + (f": {detail}" if detail else "")

    def handle_lost(self, lost: list[_Task]) -> None:
        self.lost_any = True
        retry: list[str] = []
        first: dict[str, str] = {}
        for t in lost:
            missing = [sid for sid in t.ids if sid not in self.reported]
            why = self.why(t)
            if t.attempt == 0:
                self.log(f"slurm: job {t.job_id} ended {why}, {len(missing)} of its {len(t.ids)} "
                         "submission(s) not graded; retrying them")
                retry += missing
                first.update({sid: f"job {t.job_id} ended {why}" for sid in missing})
                continue
            self.log(f"slurm: job {t.job_id} (a retry) ended {why}; {', '.join(missing)} not graded")
            for sid in missing:
                message = (f"not graded: the Slurm job grading it failed twice "
                           f"({t.first.get(sid) or 'first job lost'}; then job {t.job_id} ended {why})")
                self._report(sid, "error", {"message": message}, 0.0)
        if retry:
            self.submit([[sid] for sid in retry], 1, first)

    def progress(self) -> None:
        """A line when the jobs' counts change (and every few minutes); grade.py prints one per submission."""
        count = {"pending": 0, "running": 0, "done": 0}
        for t in self.tasks:
            ended = t.ended or t.state in TERMINAL
            count["done" if ended else "running" if t.state in RUNNING else "pending"] += 1
        line = f"slurm: jobs {count['pending']} pending, {count['running']} running, {count['done']} done"
        now = time.monotonic()
        if line != self.last_line or now - self.last_log > 300:
            self.last_line, self.last_log = line, now
            self.log(f"{line} | {len(self.reported)}/{len(self.subs)} submissions in | "
                     f"{_clock(now - self.start)}")

    def cancel(self) -> None:
        arrays = sorted({t.job_id.split("_")[0] for t in self.tasks if not t.ended})
        if not arrays:
            return
        try:
            subprocess.run(["scancel", *arrays], capture_output=True, timeout=60)
            self.log(f"slurm: cancelled array(s) {', '.join(arrays)}")
        except (OSError, subprocess.SubprocessError) as e:
            self.log(f"slurm: could not cancel array(s) {', '.join(arrays)}: {e}")

    # ---- the whole run

    def run(self) -> None:
        tick = min(1.0, self.opts.poll_s)
        try:
            # per_job at most, fewer where that gives max_jobs tasks something to do: 20 submissions and
            # 8 jobs at once make 7 tasks of 2-3, not one of 20
            per_job = min(self.opts.per_job, -(-len(self.order) // self.opts.max_jobs))
            if self.submit(_chunks(self.order, per_job), 0):
                last_poll = time.monotonic()
                while any(not t.ended for t in self.tasks):
                    time.sleep(tick)
                    if time.monotonic() - last_poll >= self.opts.poll_s:
                        last_poll = time.monotonic()
                        lost = self.poll()
                        if lost:
                            self.handle_lost(lost)
                    else:
                        self.collect()
                    self.progress()
                self.collect()
                self.progress()
            for sid in self.order:  # cannot happen (a task ends all in, or lost and retried): no row left out
                self._report(sid, "error", {"message": "not graded: lost track of its Slurm job"}, 0.0)
        except BaseException:
            self.cancel()
            try:
                self.collect()
            finally:
                self.log(f"slurm: stopped; the jobs' logs are in {self.dir / 'submitit'}")
            raise
        if not self.lost_any:
            shutil.rmtree(self.dir, ignore_errors=True)
            try:
                self.dir.parent.rmdir()
            except OSError:
                pass
        else:
            self.log(f"slurm: the jobs' logs are kept in {self.dir / 'submitit'}")


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def run_slurm(todo: list[Submission], *, grade_fn: str, gpu: bool, on_done: OnDone, out: Path,
              assignment: Any, options: SlurmOptions, log: Callable[[str], None]) -> None:
    """Grade ``todo`` in Slurm job arrays, calling ``on_done`` once per submission (module docstring)."""
    if todo:
        _Run(todo, grade_fn=grade_fn, gpu=gpu, on_done=on_done, out=out, assignment=assignment,
             options=options, log=log).run()
