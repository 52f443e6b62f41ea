"""TA batch grading: many submissions -> grades.csv, per-student feedback and an HTML report.

    discover(paths)           folders, single files and Gradescope "Export Submissions" zips -> [Submission]
    grade_batch(paths, out)   grade them on N warm worker processes, resuming from out/results/

Each worker process imports the grading machinery once and then grades one submission after
another with ``grade_fn`` (by default ``ditgrade.run.grade_submission``, which runs the student's
code in its own sandboxed child). The parent hands out one submission at a time, so a worker that
hangs past ``timeout`` or dies costs its own submission's row only: it is killed (with its process
group) and a fresh worker takes its place.

Every finished submission is written at once to ``out/results/<id>.json`` (the Gradescope
results.json, with the batch's bookkeeping under ``extra_data.ditgrade``); a later run reuses it
unless the submission's bytes changed or ``regrade`` is set, so an interrupted batch resumes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import sys
import time
import traceback
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from . import paths as _paths

GradeFn = Callable[..., dict]
GRADEABLE = (".ipynb", ".py", ".zip")
METADATA_FILE = "submission_metadata.yml"
# Grading one submission may take the sandbox's whole time budget plus its set-up; past this
# margin over the budget the worker itself is presumed stuck and is killed.
WORKER_MARGIN_S = 90.0
DEFAULT_BUDGET_S = 110.0


@dataclass
class Submission:
    id: str
    path: Path | None  # the file handed to grade_fn; None when a submission folder holds nothing gradeable
    source: Path  # what the TA pointed at: the file or the per-student folder
    names: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)
    problem: str = ""  # why it cannot be graded, when path is None

    @property
    def digest(self) -> str:
        """sha256 of the submission's bytes (all files of a per-student folder), for resuming."""
        h = hashlib.sha256()
        root = self.source
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for p in files:
            h.update(str(p.relative_to(root) if root.is_dir() else p.name).encode() + b"\0")
            h.update(p.read_bytes())
        return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Finding submissions
# ---------------------------------------------------------------------------------------------


def discover(inputs: Iterable[str | Path], work_dir: Path) -> tuple[list[Submission], list[str]]:
    """The submissions under ``inputs`` and a list of notes about what was skipped.

    * a ``.ipynb``/``.py``/otter-export ``.zip`` file is one submission (id: its file stem);
    * a Gradescope "Export Submissions" zip is unpacked under ``work_dir`` and read as a folder;
    * a folder: its gradeable files are submissions, and each sub-folder is one student's
      submission (id: the folder's name), with names/emails/sids from ``submission_metadata.yml``
      (Gradescope's export keeps one for all students next to the folders; one inside the
      student's folder works too).
    """
    subs: list[Submission] = []
    notes: list[str] = []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            notes.append(f"{p}: no such file or folder")
        elif p.is_dir():
            _scan_dir(p, subs, notes, work_dir)
        elif p.suffix.lower() == ".zip" and is_export_zip(p):
            dest = work_dir / "exports" / _safe_id(p.stem)
            extract_zip(p, dest)
            _scan_dir(dest, subs, notes, work_dir)
        elif p.suffix.lower() in GRADEABLE:
            subs.append(Submission(p.stem, p, p))
        else:
            notes.append(f"{p}: not a .ipynb, .py or .zip file; skipped")
    _unique_ids(subs)
    return subs, notes


def _scan_dir(d: Path, subs: list[Submission], notes: list[str], work_dir: Path) -> None:
    meta = read_metadata(d / METADATA_FILE) if (d / METADATA_FILE).is_file() else {}
    for entry in sorted(d.iterdir()):
        if entry.name.startswith((".", "__")) or entry.name == METADATA_FILE:
            continue
        if entry.is_dir():
            if entry.resolve() == work_dir.resolve():
                continue  # the output folder, placed inside the submissions folder
            if _is_export_root(entry):
                _scan_dir(entry, subs, notes, work_dir)
                continue
            sub = _folder_submission(entry)
            people = meta.get(entry.name) or (
                _only_entry(read_metadata(entry / METADATA_FILE)) if (entry / METADATA_FILE).is_file() else None
            )
            if people:
                sub.names, sub.emails, sub.sids = people["names"], people["emails"], people["sids"]
            subs.append(sub)
        elif entry.suffix.lower() == ".zip" and is_export_zip(entry):
            dest = work_dir / "exports" / _safe_id(entry.stem)
            extract_zip(entry, dest)
            _scan_dir(dest, subs, notes, work_dir)
        elif entry.suffix.lower() in GRADEABLE:
            subs.append(Submission(entry.stem, entry, entry))
        else:
            notes.append(f"{entry}: not a .ipynb, .py or .zip file; skipped")


def _is_export_root(d: Path) -> bool:
    """A folder of per-student folders: Gradescope's export (metadata next to the folders), or the
    single wrapper folder an export zip unpacks to."""
    children = [c for c in d.iterdir() if not c.name.startswith((".", "__"))]
    dirs = [c for c in children if c.is_dir()]
    if (d / METADATA_FILE).is_file():
        return bool(dirs)
    return bool(dirs) and all(c.is_dir() and c.name.startswith("submission_") for c in children)


def _folder_submission(folder: Path) -> Submission:
    """One student's folder: grade the file Gradescope's own autograder would pick in it."""
    from .gradescope import pick_submission

    path = pick_submission(folder)
    if path is not None:
        return Submission(folder.name, path, folder)
    listed = ", ".join(sorted(p.name for p in folder.rglob("*") if p.is_file())[:5]) or "nothing"
    return Submission(folder.name, None, folder, problem=f"no .ipynb, .py or .zip file in the submission ({listed})")


def _only_entry(meta: dict[str, dict]) -> dict | None:
    return next(iter(meta.values()), None) if meta else None


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "submission"


def _unique_ids(subs: list[Submission]) -> None:
    seen: dict[str, int] = {}
    for s in subs:
        base = _safe_id(s.id)
        n = seen.get(base, 0)
        seen[base] = n + 1
        s.id = base if n == 0 else f"{base}-{n + 1}"


def is_export_zip(path: Path) -> bool:
    """A Gradescope export (per-student ``submission_*/`` folders, a metadata file), not an otter export."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(Path(n).name == METADATA_FILE for n in names) or any(
        re.search(r"(^|/)submission_[^/]+/", n) for n in names)


def extract_zip(path: Path, dest: Path) -> None:
    """Unpack ``path`` into ``dest``, refusing entries that would land outside it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    root = dest.resolve()
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(root):
                continue  # a "../" or absolute entry
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)


def read_metadata(path: Path) -> dict[str, dict[str, list[str]]]:
    """{submission folder name: {"names", "emails", "sids"}} from a Gradescope ``submission_metadata.yml``.

    Gradescope writes Ruby-flavoured YAML (``:submitters:`` keys, ``!ruby/object`` tags). Read with
    PyYAML ignoring unknown tags; fall back to a line scanner when PyYAML is missing or the file
    does not parse. A per-student file (``:submitters:`` at the top) comes back under the key "".
    """
    text = path.read_text(errors="replace")
    data = _load_yaml(text)
    if data is None:
        return _scan_metadata(text)
    data = _strip_colons(data)
    if isinstance(data, dict) and "submitters" in data:
        data = {"": data}
    out: dict[str, dict[str, list[str]]] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            submitters = value.get("submitters") if isinstance(value, dict) else None
            if isinstance(submitters, dict):
                submitters = [submitters]
            if isinstance(submitters, list):
                people = [s for s in submitters if isinstance(s, dict)]
                out[str(key)] = {f: [str(s.get(k, "") or "") for s in people]
                                 for f, k in (("names", "name"), ("emails", "email"), ("sids", "sid"))}
    return out


def _load_yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError:
        return None

    class Loader(yaml.SafeLoader):
        pass

    def unknown(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_mapping(node, deep=True)

    Loader.add_multi_constructor("!", unknown)
    Loader.add_multi_constructor("tag:", unknown)
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return None


def _strip_colons(x: Any) -> Any:
    if isinstance(x, dict):
        return {(k.lstrip(":") if isinstance(k, str) else k): _strip_colons(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_strip_colons(v) for v in x]
    return x


def _scan_metadata(text: str) -> dict[str, dict[str, list[str]]]:
    """A tolerant reader of the usual layout, for when YAML parsing is not available."""
    out: dict[str, dict[str, list[str]]] = {}
    current = ""
    for line in text.splitlines():
        top = re.match(r"^:?([^\s:#][^:]*):\s*$", line)
        if top:
            current = top.group(1).strip()
            continue
        m = re.match(r"^[\s-]*:?(name|email|sid):\s*(.*?)\s*$", line)
        if m:
            entry = out.setdefault(current, {"names": [], "emails": [], "sids": []})
            entry[m.group(1) + "s"].append(m.group(2).strip("'\""))
    if "submitters" in out and len(out) == 1:
        out = {"": out["submitters"]}
    return {k: v for k, v in out.items() if k != "submitters"}


# ---------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------


def _default_grade_fn() -> GradeFn:
    from .run import grade_submission

    return grade_submission


def _worker_main(conn: Any, grade_fn: GradeFn | None, gpu: bool) -> None:
    """A warm worker: set up once, then grade what the parent sends until it sends None."""
    try:
        os.setpgrp()  # the parent kills the whole group (sandboxed children included) on a timeout
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        fn = grade_fn or _default_grade_fn()
        warm = getattr(sys.modules.get(fn.__module__), "warmup", None)
        if callable(warm):
            warm()
    except BaseException as e:  # noqa: B036 - report why, instead of dying silently
        conn.send(("fatal", None, f"{type(e).__name__}: {e}", 0.0))
        return
    conn.send(("ready", None, None, 0.0))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        sub_id, path = task
        start = time.perf_counter()
        try:
            result = fn(path, gpu=gpu)
            conn.send(("ok", sub_id, result, time.perf_counter() - start))
        except BaseException as e:  # noqa: B036 - a grade function's SystemExit must not end the worker silently
            msg = f"{type(e).__name__}: {e}"
            conn.send(("error", sub_id, {"message": msg, "traceback": traceback.format_exc()[-4000:]},
                       time.perf_counter() - start))
            if isinstance(e, KeyboardInterrupt):
                return


class _Worker:
    def __init__(self, ctx: Any, grade_fn: GradeFn | None, gpu: bool):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, grade_fn, gpu), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.task: Submission | None = None
        self.started = 0.0

    def send(self, sub: Submission) -> None:
        self.task, self.started = sub, time.monotonic()
        self.conn.send((sub.id, str(sub.path)))

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (OSError, TypeError):
            pass
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(10)
        if self.proc.exitcode is None:
            self.kill()
        else:
            self.conn.close()


def default_timeout() -> float:
    """The sandbox's total time budget (otter_config.json) plus a margin for set-up."""
    try:
        budget = float(json.loads(_paths.OTTER_CONFIG.read_text()).get("time_budget_s", DEFAULT_BUDGET_S))
    except (OSError, ValueError):
        budget = DEFAULT_BUDGET_S
    return budget + WORKER_MARGIN_S


def _run_pool(todo: list[Submission], jobs: int, grade_fn: GradeFn | None, gpu: bool, timeout: float,
              on_done: Callable[[Submission, str, Any, float], None]) -> None:
    """Grade ``todo`` on ``jobs`` workers; call ``on_done(sub, kind, payload, seconds)`` per submission,
    kind being "ok" (payload: results dict), "error" (payload: {"message", ...}) or "unstarted" (no
    worker could grade it; nothing about the submission is known)."""
    ctx = mp.get_context("spawn")
    queue = list(reversed(todo))
    workers = [_Worker(ctx, grade_fn, gpu) for _ in range(min(jobs, len(todo)))]
    # A worker whose set-up fails is not replaced when it said why (an import error repeats
    # itself); one that died silently before it was ready is replaced a few times.
    silent_starts_left = 2 * len(workers)
    setup_error = ""
    try:
        while workers and (queue or any(w.task for w in workers)):
            for w in workers:
                if w.ready and w.task is None and queue:
                    w.send(queue.pop())
            waits = [w.started + timeout - time.monotonic() for w in workers if w.task]
            ready = wait([w.conn for w in workers] + [w.proc.sentinel for w in workers],
                         timeout=max(0.05, min(waits)) if waits else 1.0)
            for w in list(workers):
                failure = None
                if w.conn in ready:
                    try:
                        kind, _, payload, seconds = w.conn.recv()
                    except (EOFError, OSError):
                        failure = "the grading worker died"
                    else:
                        if kind == "ready":
                            w.ready = True
                        elif kind == "fatal":
                            setup_error = str(payload)
                            failure = f"the grading worker could not start: {setup_error}"
                        elif w.task is not None:
                            sub, w.task = w.task, None
                            on_done(sub, kind, payload, seconds)
                elif w.proc.sentinel in ready and not w.proc.is_alive():
                    failure = "the grading worker died"
                if failure is None and w.task is not None and time.monotonic() - w.started > timeout:
                    failure = f"grading took longer than {timeout:.0f} s; the worker was killed"
                if failure is None:
                    continue
                if w.proc.exitcode not in (None, 0) and "died" in failure:
                    failure += f" (exit code {w.proc.exitcode})"
                w.kill()
                workers.remove(w)
                if w.task is not None:
                    on_done(w.task, "error", {"message": failure}, time.monotonic() - w.started)
                    replace = True
                elif w.ready:
                    replace = True
                else:
                    silent_starts_left -= 1
                    replace = not setup_error and silent_starts_left > 0
                if replace and (queue or any(x.task for x in workers)):
                    workers.append(_Worker(ctx, grade_fn, gpu))
        reason = setup_error or "its process died during set-up"
        for sub in reversed(queue):  # every worker failed to start
            on_done(sub, "unstarted", {"message": f"no grading worker could be started ({reason})"}, 0.0)
    finally:
        for w in workers:
            if w.task is None:
                w.stop()
            else:
                w.kill()


# ---------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------


@dataclass
class Graded:
    """One row of the batch: a submission and its (possibly cached) results."""

    sub: Submission
    results: dict
    status: str  # "graded" or "error: ..."
    seconds: float
    cached: bool = False


@dataclass
class BatchResult:
    out: Path
    rows: list[Graded]
    notes: list[str]
    graded_now: int
    seconds: float

    @property
    def csv(self) -> Path:
        return self.out / "grades.csv"

    @property
    def report(self) -> Path:
        return self.out / "report.html"


def error_results(message: str) -> dict:
    """A Gradescope results dict for a submission that could not be graded at all."""
    return {"score": 0.0, "execution_time": 0.0, "output": f"This submission could not be graded: {message}",
            "tests": []}


def _load_cached(path: Path, digest: str) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    meta = data.get("extra_data", {}).get("ditgrade", {}) if isinstance(data, dict) else {}
    return data if isinstance(meta, dict) and meta.get("digest") == digest else None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


class _Progress:
    """tqdm on a terminal; one line per submission otherwise."""

    def __init__(self, total: int):
        self.total, self.done, self.bar = total, 0, None
        if total and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="sub", desc="grading", file=sys.stderr)
            except ImportError:
                pass

    def update(self, g: Graded) -> None:
        self.done += 1
        score = g.results.get("score", 0.0)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{g.sub.id}: {score:g}", refresh=False)
            self.bar.update(1)
        else:
            width = len(str(self.total))
            extra = "" if g.status == "graded" else f"  [{g.status[:80]}]"
            print(f"[{self.done:>{width}}/{self.total}] {g.sub.id}: {score:g} ({g.seconds:.1f} s){extra}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def grade_batch(inputs: Iterable[str | Path], out: str | Path, *, jobs: int | None = None, regrade: bool = False,
                gpu: bool = False, grade_fn: GradeFn | None = None, timeout: float | None = None,
                progress: bool = True) -> BatchResult:
    """Grade every submission under ``inputs`` into ``out`` (see the module docstring)."""
    from . import report

    start = time.perf_counter()
    out = Path(out)
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    subs, notes = discover(inputs, out)
    timeout = timeout or default_timeout()
    jobs = max(1, jobs or os.cpu_count() or 1)

    rows: dict[str, Graded] = {}
    todo: list[Submission] = []
    digests: dict[str, str] = {}
    for sub in subs:
        digests[sub.id] = sub.digest
        cached = None if regrade else _load_cached(out / "results" / f"{sub.id}.json", digests[sub.id])
        if cached is not None:
            meta = cached["extra_data"]["ditgrade"]
            rows[sub.id] = Graded(sub, cached, meta.get("status", "graded"), meta.get("seconds", 0.0), cached=True)
        elif sub.path is None:
            rows[sub.id] = _finish(out, sub, "error", {"message": sub.problem}, 0.0, digests[sub.id])
        else:
            todo.append(sub)

    bar = _Progress(len(todo)) if progress else None

    def on_done(sub: Submission, kind: str, payload: Any, seconds: float) -> None:
        g = _finish(out, sub, kind, payload, seconds, digests[sub.id])
        rows[sub.id] = g
        if bar:
            bar.update(g)

    try:
        if todo:
            _run_pool(todo, jobs, grade_fn, gpu, timeout, on_done)
    finally:
        if bar:
            bar.close()
        ordered = [rows[s.id] for s in subs if s.id in rows]
        report.write_all(out, ordered, notes)
    return BatchResult(out, ordered, notes, len(todo), time.perf_counter() - start)


def _finish(out: Path, sub: Submission, kind: str, payload: Any, seconds: float, digest: str) -> Graded:
    """Record one submission's outcome: results/<id>.json and feedback/<id>.txt."""
    from . import report

    if kind == "ok" and isinstance(payload, dict):
        results, status = dict(payload), "graded"
    else:
        message = payload.get("message", str(payload)) if isinstance(payload, dict) else str(payload)
        results, status = error_results(message), f"error: {message}"
    extra = dict(results.get("extra_data") or {})
    extra["ditgrade"] = {"status": status, "digest": digest, "seconds": round(seconds, 3),
                         "submission": str(sub.path or sub.source),
                         "names": sub.names, "emails": sub.emails, "sids": sub.sids}
    results["extra_data"] = extra
    g = Graded(sub, results, status, seconds)
    if kind != "unstarted":  # a rerun must try again what the grader itself could not start on
        _write_json(out / "results" / f"{sub.id}.json", results)
    (out / "feedback" / f"{sub.id}.txt").write_text(report.feedback_text(g))
    return g
