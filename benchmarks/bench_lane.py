"""One lane of a batch: what a warm batch worker spends per submission, and how much of it is the grader's.

    .venv/bin/python benchmarks/bench_lane.py SUBMISSION.ipynb ... [--warm 3] [--profile FILE]

Grades the submissions one after another in this process, as one worker of ``ditgrade grade -j N``
does (``ditgrade.grading.warmup``, then ``grade_submission`` for each), after ``--warm`` of them
graded untimed. Prints, per timed submission, the median wall seconds and the median CPU seconds
of this process alone: the grader's side (preparing inputs, encoding requests, decoding and
comparing answers, metering). The rest of a lane's wall time is the sandboxed worker computing
(the student's code on the tests' inputs) and starting and ending it. ``--profile FILE`` also
writes a cProfile of the timed submissions (which slows Python-heavy code down: use it for where
the time goes, the plain figures for how much). ``bench_grade.py --keep DIR`` makes submissions.
A script, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=Path)
    parser.add_argument("--warm", type=int, default=3, help="submissions graded first, untimed (default 3)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the timed submissions here")
    args = parser.parse_args()
    if len(args.submissions) <= args.warm:
        parser.error(f"give more than --warm={args.warm} submissions")

    from ditgrade import grading

    grading.warmup()
    for path in args.submissions[:args.warm]:
        grading.grade_submission(path)
    profile = cProfile.Profile() if args.profile else None
    walls, cpus = [], []
    for path in args.submissions[args.warm:]:
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        grading.grade_submission(path)
        if profile:
            profile.disable()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    if profile:
        profile.dump_stats(args.profile)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(f"{len(walls)} submissions after {args.warm} warm: median {wall:.3f} s wall each, of which the "
          f"grader's own CPU {cpu:.3f} s ({cpu / wall:.0%}); the rest is the sandboxed worker")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
