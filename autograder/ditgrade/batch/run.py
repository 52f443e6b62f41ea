"""TA batch grading: many submissions in, per-student results, feedback, tables and a report out.

    grade_batch(paths, out)     discover, grade what is not cached, write everything

Every finished submission is written at once to ``out/results/<id>.json`` (Gradescope's
results.json, with the batch's bookkeeping added under ``extra_data.ditgrade.batch``). A later run
reuses it only when the submission's bytes *and* the grader's fingerprint (engine, hidden tests,
generated files, settings: ``Assignment.fingerprint``) are unchanged, so an interrupted batch
resumes, a changed grader regrades, and a submission the grader itself failed on is tried again.
Submissions are graded by an executor: warm processes on this machine (``pool.run_local``), or
Slurm jobs (``slurm.run_slurm``); either way a submission that fails for the grader's own reasons
costs only its row, and the outputs are always written.

A row is graded, unreadable or an error (``graded``): a file the grader could not read at all
(``Grade.unreadable``) and a folder with nothing, or no single file, to grade are
unreadable rows, which the tables, the report and the terminal keep apart from the grades.

``OUT/results/`` and ``OUT/feedback/`` hold exactly this run's submissions: the files of a
submission an earlier run into the same OUT had and this one has not (removed from the inputs) are
moved to ``OUT/stale/``, with a note, so that sending ``feedback/*.txt`` never sends them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.assignment import Assignment
from ..core.results import Grade, error_results, unreadable_results
from ..core.text import clean, one_line, points
from .discover import Submission, discover
from .pool import run_local, worker_timeout
from .row import ERROR, GRADED, UNREADABLE, Row, unreadable_status
from .slurm_options import SlurmOptions
from .tables import UploadFile

DEFAULT_GRADE_FN = "ditgrade.grading.grade_submission"


@dataclass
class BatchResult:
    out: Path
    rows: list[Row]
    notes: list[str]
    graded_now: int
    seconds: float
    questions: list[str]
    files: dict[str, UploadFile] = field(default_factory=dict)  # the CSV files as written (tables.write_tables)

    @property
    def failed(self) -> list[Row]:
        """Rows the grader could not grade for its own reasons (not a student's doing)."""
        return [g for g in self.rows if g.kind == ERROR]

    @property
    def unreadable(self) -> list[Row]:
        """Rows whose submission could not be read: named to the TA, kept out of the statistics."""
        return [g for g in self.rows if g.kind == UNREADABLE]


# Environment variables of ditgrade's that say where things are or how to talk to a cluster, not how
# to grade; every other DITGRADE_* variable (the GPU job's device, weights, dtype, steps ...) is in the key.
_ENV_NOT_GRADING = frozenset({"DITGRADE_PROJECT", "DITGRADE_SLURM_POLL", "DITGRADE_RUN_TIMEOUT"})


def grader_key(assignment: Assignment, *, gpu: bool) -> str:
    """Everything besides the submission that can change its grade: the grader's fingerprint (engine,
    grading folder, settings), ``--gpu``, and the environment the grader reads (every DITGRADE_*
    variable but those of ``_ENV_NOT_GRADING``, and CUDA_VISIBLE_DEVICES under ``--gpu``)."""
    env = {k: v for k, v in os.environ.items() if k.startswith("DITGRADE_") and k not in _ENV_NOT_GRADING}
    if gpu:
        env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    extra = json.dumps({"gpu": gpu, "env": env}, sort_keys=True).encode()
    return hashlib.sha256(assignment.fingerprint.encode() + b"\0" + extra).hexdigest()


def _load_cached(path: Path, key: str) -> Grade | None:
    try:
        grade = Grade.from_gradescope(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None
    meta = grade.info.get("batch")
    # what the grader itself failed on is tried again; a grade and an unreadable file stand
    status = str(meta.get("status", "")) if isinstance(meta, dict) else ""
    return grade if isinstance(meta, dict) and meta.get("key") == key and status.split(":")[0] in (GRADED, UNREADABLE) \
        else None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="ascii")  # ASCII: \ud800 escaped
    os.replace(tmp, path)


class Progress:
    """One line per finished submission on stderr (a bar when stderr is a terminal, unless ``lines``)."""

    def __init__(self, total: int, enabled: bool = True, lines: bool = False):
        self.total, self.done, self.bar = total, 0, None
        self.enabled = enabled and total > 0
        if self.enabled and not lines and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="sub", desc="grading", file=sys.stderr)
            except ImportError:
                pass

    def update(self, g: Row) -> None:
        if not self.enabled:
            return
        self.done += 1
        score = g.results.score
        if self.bar is not None:
            self.bar.set_postfix_str(f"{g.sub.id}: {score:g}", refresh=False)
            self.bar.update(1)
        else:
            width = len(str(self.total))
            # the status may quote a student's message: one line, after the grader's own words
            extra = "" if g.graded else f"  [{one_line(g.status, 100)}]"
            print(f"[{self.done:>{width}}/{self.total}] {one_line(g.sub.id)}: {points(score)} ({g.seconds:.1f} s){extra}",
                  file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        if self.enabled:
            (self.bar.write if self.bar is not None else lambda t: print(t, file=sys.stderr, flush=True))(one_line(text))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def grade_batch(inputs: Iterable[str | Path], out: str | Path, *, assignment: Assignment | None = None,
                jobs: int | None = None, regrade: bool = False, gpu: bool = False,
                grade_fn: str | Callable[..., dict] = DEFAULT_GRADE_FN, timeout: float | None = None,
                progress: bool = True, executor: str = "local", slurm: SlurmOptions | None = None,
                canvas_assignment_id: int | None = None, verbose: bool = False) -> BatchResult:
    """Grade every submission under ``inputs`` into ``out`` (see the module docstring);
    ``canvas_assignment_id`` names the Canvas assignment canvas_scores.csv imports into;
    ``verbose``: a line per submission even on a terminal (no progress bar)."""
    from . import report

    start = time.perf_counter()
    assignment = assignment or Assignment.load()
    out = Path(out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    subs, notes = discover(inputs, out, notebook_name=assignment.project.notebook_name)
    stale = set_aside_stale(out, {s.id for s in subs})
    if stale:
        notes.append(f"{len(stale)} submission(s) of an earlier run into {out} are not in this one "
                     f"({', '.join(stale[:10])}{', ...' if len(stale) > 10 else ''}): their results/ and feedback/ "
                     f"files were moved to {out / STALE}")
    fn_name = grade_fn if isinstance(grade_fn, str) else f"{grade_fn.__module__}.{grade_fn.__qualname__}"
    fingerprint = grader_key(assignment, gpu=gpu)
    if fn_name != DEFAULT_GRADE_FN:
        fingerprint = f"{fn_name}:{fingerprint}"
    timeout = timeout or worker_timeout(assignment, gpu)
    jobs = max(1, jobs or os.cpu_count() or 1)

    rows: dict[str, Row] = {}
    todo: list[Submission] = []
    keys: dict[str, str] = {}
    for sub in subs:
        keys[sub.id] = f"{sub.digest}:{fingerprint}"
        cached = None if regrade else _load_cached(out / "results" / f"{sub.id}.json", keys[sub.id])
        if cached is not None:
            meta = cached.info["batch"]
            rows[sub.id] = Row(sub, cached, meta.get("status", GRADED), meta.get("seconds", 0.0), cached=True)
        elif sub.path is None:
            rows[sub.id] = _record(out, sub, "nothing", {"message": sub.problem}, 0.0, keys[sub.id])
        else:
            todo.append(sub)

    bar = Progress(len(todo), progress, lines=verbose)

    def on_done(sub: Submission, kind: str, payload: Any, seconds: float) -> None:
        g = _record(out, sub, kind, payload, seconds, keys[sub.id])
        rows[sub.id] = g
        bar.update(g)

    try:
        if todo and executor == "slurm":
            from .slurm import run_slurm

            run_slurm(todo, grade_fn=fn_name, gpu=gpu, on_done=on_done, out=out, assignment=assignment,
                      options=slurm or SlurmOptions.from_env(), log=bar.message)
        elif todo:
            run_local(todo, jobs=jobs, grade_fn=fn_name, gpu=gpu, timeout=timeout, on_done=on_done,
                      project=str(assignment.project.root))
    finally:
        bar.close()
        ordered = [rows[s.id] for s in subs if s.id in rows]
        files = report.write_all(out, ordered, notes, assignment, canvas_assignment_id=canvas_assignment_id)
    return BatchResult(out, ordered, notes, len(todo), time.perf_counter() - start, assignment.question_ids, files)


def _record(out: Path, sub: Submission, kind: str, payload: Any, seconds: float, key: str) -> Row:
    """``_finish``, where a failure to write one submission's files costs that row only, never the batch."""
    try:
        return _finish(out, sub, kind, payload, seconds, key)
    except Exception as e:  # noqa: BLE001 - whatever a student's text did to the writing, the others go on
        message = f"its results could not be written ({type(e).__name__}: {clean(e)[:200]})"
        return Row(sub, error_results(message), f"{ERROR}: {message}", seconds)


def _finish(out: Path, sub: Submission, kind: str, payload: Any, seconds: float, key: str) -> Row:
    """Record one submission's outcome: results/<id>.json and feedback/<id>.txt."""
    from . import report

    if kind == "ok" and isinstance(payload, (Grade, dict)):  # a dict: a results.json (Slurm's files, a plug-in)
        results = payload if isinstance(payload, Grade) else Grade.from_gradescope(payload)
        reason = results.unreadable
        status = unreadable_status(reason) if reason else GRADED
    elif kind == "nothing":  # the student's folder holds nothing, or no single file, to grade
        reason = str(payload.get("message"))
        results, status = unreadable_results(reason), unreadable_status(reason)
    else:
        message = payload.get("message", str(payload)) if isinstance(payload, dict) else str(payload)
        results, status = error_results(message), f"{ERROR}: {message}"
    # what was graded, as the student named it (summary, feedback); the batch's bookkeeping
    results = results.with_info(file=sub.file_name, **({"choice": sub.note} if sub.note else {}), batch={
        "status": status, "key": key, "seconds": round(seconds, 3), "submission": str(sub.path or sub.source),
        "submitted_at": sub.submitted_at, "late": sub.late, "people": [vars(p) for p in sub.people]})
    g = Row(sub, results, status, seconds)
    if kind != "unstarted":  # a rerun must try again what the grader itself could not start on
        _write_json(out / "results" / f"{sub.id}.json", results.to_gradescope())
    # feedback_text cleans what it holds; errors="replace" is the backstop against text no UTF-8 file can hold
    (out / "feedback" / f"{sub.id}.txt").write_text(report.feedback_text(g), encoding="utf-8", errors="replace")
    return g


STALE = "stale"


def set_aside_stale(out: Path, ids: set[str]) -> list[str]:
    """Move ``out/results/<id>.json`` and ``out/feedback/<id>.txt`` of every id not in ``ids`` to
    ``out/stale/`` (replacing an older stale copy), and drop half-written ``.tmp`` files; the ids
    moved, sorted. Only the names the batch itself writes are touched."""
    moved: set[str] = set()
    for folder, suffix in (("results", ".json"), ("feedback", ".txt")):
        here = out / folder
        try:
            entries = sorted(here.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(suffix + ".tmp"):
                entry.unlink(missing_ok=True)
                continue
            if not entry.name.endswith(suffix) or entry.name[: -len(suffix)] in ids or not entry.is_file():
                continue
            target = out / STALE / folder / entry.name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(entry, target)
            moved.add(entry.name[: -len(suffix)])
    return sorted(moved)
