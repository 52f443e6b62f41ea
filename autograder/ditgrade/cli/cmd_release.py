"""``ditgrade release``: build the student, solutions and Gradescope packages, gated."""

from __future__ import annotations

import argparse
import os
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("release", help="build the student package, the solutions and Gradescope's autograder.zip; "
                                       "fails unless every release gate passes")
    p.add_argument("--out", default="dist", help="folder for the zips (default: dist)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes for the mutation-bank gate (default: the number of CPUs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .release import release

    start = time.perf_counter()
    gates, packages = release(args.out, jobs=args.jobs)
    failed = [g.name for g in gates if not g.passed]
    took = f"{time.perf_counter() - start:.0f} s"
    if failed:
        where = f"; the packages are in {packages['student'].parent} for inspection" if packages else ""
        print(f"release REFUSED ({took}): failed gates: {', '.join(failed)}{where}")
        return 1
    print(f"release ready ({took}): " + ", ".join(str(p) for p in packages.values()))
    return 0
