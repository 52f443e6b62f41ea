"""``ditgrade release``: build the student, solutions and Gradescope packages, gated."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import common_options, load_assignment, out_option


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("release", help="build the packages handed out; refuse unless every release gate passes",
                       description="Check that the generated files match the master notebook, build the student "
                                   "package, the solutions and Gradescope's autograder.zip, and run every release "
                                   "gate (reference, template, correct styles, mutants, independent mistakes, "
                                   "no-leak, reproducible). Exits 1, with the zips in OUT/rejected/, when a gate "
                                   "fails.",
                       epilog="example: ditgrade release -o dist")
    out_option(p, "folder for the zips (default: dist)", default=Path("dist"))
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes for the grading gates (default: the number of CPUs)")
    common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..packaging.release import release

    start = time.perf_counter()
    assignment = load_assignment(args)
    gates, packages = release(args.out, assignment=assignment, jobs=args.jobs,
                              log=lambda line: print(line, file=sys.stderr, flush=True))
    failed = [g.name for g in gates if not g.passed]
    took = f"{time.perf_counter() - start:.0f} s"
    if failed:
        where = f"; the packages are in {next(iter(packages.values())).parent} for inspection" if packages else ""
        print(f"release REFUSED ({took}): failed gates: {', '.join(failed)}{where}")
        return 1
    print(f"release ready ({took}): " + ", ".join(str(p) for p in packages.values()))
    return 0
