"""``ditgrade grade``: grade many submissions into per-student results, feedback, tables and a report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..batch.slurm_options import SlurmOptions
from . import UsageError, common_options, load_assignment, out_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade a folder of submissions, single files or a Gradescope export",
                       description="Grade every submission under PATH... into OUT: results/<id>.json (Gradescope's "
                                   "format), feedback/<id>.txt, grades.csv (one row per student), "
                                   "gradescope_scores.csv, canvas_scores.csv and report.html. A rerun reuses what "
                                   "is already graded unless the submission or the grader changed.",
                       epilog="examples:\n  ditgrade grade examples/submissions examples/gradescope_export_section_b.zip "
                              "-o out\n  ditgrade grade export.zip -o out --canvas-assignment-id 123456\n"
                              "  ditgrade grade export.zip -o out --gpu --executor slurm --partition gpu",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a folder of submissions, .ipynb/.py/.zip files, or Gradescope's Export Submissions zip")
    out_option(p, "output folder (its results/ are reused on a rerun)", required=True)
    p.add_argument("-j", "--jobs", type=positive, default=os.cpu_count() or 1,
                   help="warm grading processes on this machine (default: the number of CPUs)")
    p.add_argument("--regrade", action="store_true", help="grade everything again, even what is cached")
    p.add_argument("--gpu", action="store_true", help="also run the tests that need a CUDA GPU")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds one submission may keep a worker (default: from the sandbox's budgets)")
    p.add_argument("--json", action="store_true", help="print a JSON summary to stdout instead of the table")
    p.add_argument("--canvas-assignment-id", type=positive, default=None, metavar="ID",
                   help="the Canvas assignment canvas_scores.csv imports into: the number after /assignments/ in "
                        "its address (without it, Canvas matches the assignment by its title)")
    common_options(p)
    s = p.add_argument_group("cluster grading (Slurm, through submitit)")
    s.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="grade here (default) or in Slurm job arrays")
    s.add_argument("--partition", default=None, help="Slurm partition")
    s.add_argument("--gpus-per-job", type=non_negative, default=None, help="GPUs per Slurm job (default: 1 with --gpu, else 0)")
    d = SlurmOptions()
    s.add_argument("--time-limit", type=positive, default=d.time_limit,
                   help=f"minutes per Slurm job (default: {d.time_limit})")
    s.add_argument("--max-jobs", type=positive, default=d.max_jobs,
                   help=f"Slurm jobs running at once (default: {d.max_jobs})")
    s.add_argument("--per-job", type=positive, default=d.per_job,
                   help=f"at most this many submissions per Slurm job (default: {d.per_job}; fewer so that "
                        "--max-jobs jobs have work)")
    p.set_defaults(func=run)


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is less than {low}")
        return value

    return parse


positive, non_negative = _at_least(1), _at_least(0)


def run(args: argparse.Namespace) -> int:
    from ..batch.discover import discover
    from ..batch.report import score_table
    from ..batch.run import grade_batch
    from ..core.text import one_line

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    assignment = load_assignment(args)
    with tempfile.TemporaryDirectory() as probe:  # nothing is written to OUT before there is something to grade
        found, _ = discover(args.paths, Path(probe), notebook_name=assignment.project.notebook_name)
    if not found:
        raise UsageError(f"no submissions found in {', '.join(args.paths)} (.ipynb, .py or .zip files, or "
                         "folders of them)")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / ".write-test").touch()
        (args.out / ".write-test").unlink()
    except OSError as e:
        raise UsageError(f"cannot write to {args.out}: {e.strerror}") from None
    slurm = SlurmOptions.from_env(partition=args.partition, gpus_per_job=args.gpus_per_job,
                                  time_limit=args.time_limit, max_jobs=args.max_jobs, per_job=args.per_job)
    result = grade_batch(args.paths, args.out, assignment=assignment, jobs=args.jobs, regrade=args.regrade,
                         gpu=args.gpu, timeout=args.timeout, executor=args.executor, slurm=slurm,
                         canvas_assignment_id=args.canvas_assignment_id, verbose=args.verbose > 0)
    # File names, notes and messages come from students: each is printed on one line after the
    # grader's own words (one_line), so none can steer the terminal or pass for a line of ours.
    for note in result.notes:
        print(f"note: {one_line(note, 600)}", file=sys.stderr)
    for f in result.files.values():
        for note in f.notes:
            print(f"note: {one_line(note, 600)}", file=sys.stderr)
    cached = sum(1 for g in result.rows if g.cached)
    if args.json:
        print(json.dumps({"submissions": len(result.rows), "graded_now": result.graded_now, "reused": cached,
                          "seconds": round(result.seconds, 1), "failed": [g.sub.id for g in result.failed],
                          "unreadable": {g.sub.id: g.reason for g in result.unreadable},
                          "scores": {g.sub.id: g.results.score for g in result.rows if g.graded},
                          "empty_files": {f.path.name: f.why_empty for f in result.files.values() if f.why_empty},
                          "out": str(result.out)}, indent=2))
    else:
        print(score_table(result.rows, result.questions))
        print(f"\n{len(result.rows)} submissions ({result.graded_now} graded now, {cached} reused) "
              f"in {result.seconds:.1f} s")
        for key, name in (("grades", "grades.csv"), ("gradescope", "gradescope_scores.csv"),
                          ("canvas", "canvas_scores.csv")):
            f = result.files.get(key)
            empty = f" (EMPTY: {f.why_empty})" if f is not None and f.why_empty else ""
            print(one_line(f"{name + ':':<23}{result.out / name}") + empty)
        print(one_line(f"{'report.html:':<23}{result.out / 'report.html'}"))
        print(one_line(f"{'feedback:':<23}{result.out / 'feedback'}"))
    if result.unreadable:
        print(f"{len(result.unreadable)} submission(s) could not be read (not in the statistics or the upload files; "
              "their feedback says why):", file=sys.stderr)
        for g in result.unreadable[:50]:
            print(f"  {g.sub.id}: {one_line(g.reason, 200)}", file=sys.stderr)
    if result.failed:
        print(f"{len(result.failed)} submission(s) could not be graded (the grader's failure, not the students'): "
              + ", ".join(g.sub.id for g in result.failed[:10]), file=sys.stderr)
        return 1
    return 0
