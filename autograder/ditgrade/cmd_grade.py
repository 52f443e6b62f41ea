"""``ditgrade grade``: grade a class's submissions into grades.csv, feedback/ and report.html."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade a folder of submissions, single files or a Gradescope export zip "
                                     "into grades.csv, feedback/ and report.html")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a folder of submissions, .ipynb/.py/.zip files, or Gradescope's Export Submissions zip")
    p.add_argument("--out", required=True, help="output folder (results/ in it are reused on a rerun)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="number of warm grading worker processes (default: the number of CPUs)")
    p.add_argument("--regrade", action="store_true", help="grade again even when out/results/<id>.json exists")
    p.add_argument("--gpu", action="store_true", help="also run the hidden tests that need a CUDA GPU")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds one submission may take before its worker is killed "
                        "(default: the sandbox's time budget plus a margin)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .batch import grade_batch
    from .report import score_table

    try:
        result = grade_batch(args.paths, args.out, jobs=args.jobs, regrade=args.regrade, gpu=args.gpu,
                             timeout=args.timeout)
    except KeyboardInterrupt:
        print(f"\ninterrupted; rerun the same command to resume (finished results are in {args.out}/results)",
              file=sys.stderr)
        return 130
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if not result.rows:
        print("no submissions found", file=sys.stderr)
        return 2
    print()
    print(score_table(result.rows))
    print()
    cached = len(result.rows) - result.graded_now
    print(f"{len(result.rows)} submissions ({result.graded_now} graded now, {cached} reused) "
          f"in {result.seconds:.1f} s")
    print(f"grades:   {result.csv}")
    print(f"feedback: {result.out / 'feedback'}")
    print(f"report:   {result.report}")
    return 0
