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
                       description="First check that student_template/, solutions/ and the generated reference "
                                   "are what the master notebook builds and, in a git checkout, that they and the "
                                   "master are committed; if not, stop, build nothing and say what to run. "
                                   "Otherwise build the student package, the solutions and Gradescope's "
                                   "autograder.zip, and run the other gates: no-leak, reproducible, reference, "
                                   "template, mistakes, correct styles, mutants, and the mutation audit (every "
                                   "cosmic-ray mutant of the reference killed or reviewed; see `ditgrade audit`). "
                                   "Each gate prints [n/N] when decided, and long ones print how much is graded. "
                                   "A passing verdict is kept under the project (.ditgrade-cache/) with everything "
                                   "it depends on (the grader's fingerprint, the files it grades, the installed "
                                   "packages) and reused while none of it changes: an unchanged re-release takes "
                                   "seconds and says which verdicts it reused. Exits 0 with the zips in OUT; "
                                   "exits 1 when a gate fails, with the zips in OUT/rejected/ for inspection "
                                   "(none when the generated files are stale or uncommitted).",
                       epilog="example: ditgrade release -o dist")
    out_option(p, "folder for the zips (default: dist)", default=Path("dist"))
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="processes for the grading gates (default: the number of CPUs)")
    p.add_argument("--no-cache", action="store_true",
                   help="check every gate again instead of reusing the verdicts kept from an unchanged release")
    common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..packaging.release import release

    start = time.perf_counter()
    assignment = load_assignment(args)
    gates, packages = release(args.out, assignment=assignment, jobs=args.jobs, use_cache=not args.no_cache,
                              log=lambda line: print(line, file=sys.stderr, flush=True))
    failed = [g.name for g in gates if not g.passed]
    reused = [g.name for g in gates if g.reused]
    took = f"{time.perf_counter() - start:.0f} s" + (f", reused {', '.join(reused)}" if reused else "")
    if failed:
        where = f"; the packages are in {next(iter(packages.values())).parent} for inspection" if packages \
            else "; no package was built"
        print(f"release REFUSED ({took}): failed gates: {', '.join(failed)}{where}")
        return 1
    print(f"release ready ({took}): " + ", ".join(str(p) for p in packages.values()))
    return 0
