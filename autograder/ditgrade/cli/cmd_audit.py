"""``ditgrade audit``: grade every mutant a pinned mutation tool makes of the reference, and report."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="grade every mutant a mutation tool (cosmic-ray) makes of the reference",
                       description="Make every mutant of the generated reference with the pinned mutation tool "
                                   "(cosmic-ray), grade each by the hidden tests on warm workers (only the tests "
                                   "that reach the mutated function, up to the first failure; each call with the "
                                   "sandbox's CPU budget), and report the kill rate per question and function and "
                                   "every survivor's change. A survivor is either a gap in the hidden tests or "
                                   "equivalent to the reference: list the equivalent ones, each with a one-line "
                                   "reason, in bank/audit_reviewed.toml of the grading folder. Writes OUT/audit.html "
                                   "(beside a batch's report.html) and OUT/audit.json. The results are kept under "
                                   "the project (.ditgrade-cache/) and reused, here and by `ditgrade release`, "
                                   "until the reference, the grader or the tool changes. Exits 1 when a survivor "
                                   "is not reviewed (the release would refuse).",
                       epilog="example: ditgrade audit --out out")
    p.add_argument("--out", type=Path, default=Path("out"), help="folder for audit.html and audit.json (default: out)")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                   help="warm grading processes (default: the number of CPUs)")
    p.add_argument("--no-cache", action="store_true", help="grade every mutant again, even when nothing changed")
    p.add_argument("--json", action="store_true", help="print a JSON summary to stdout instead of the tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.assignment import Assignment
    from ..packaging import audit, audit_report, audit_review
    from ..packaging.audit_mutants import ToolMissing
    from ..project import Project

    start = time.perf_counter()
    assignment = Assignment.load(Project.find(args.project))
    try:
        reviews = audit_review.load(audit.reviewed_file(assignment))
        result = audit.run_audit(assignment, workers=max(1, args.jobs), use_cache=not args.no_cache,
                                 log=lambda line: print(line, file=sys.stderr, flush=True))
    except (audit_review.ReviewError, ToolMissing) as e:
        raise UsageError(str(e)) from None
    verdict = audit.judge(result, reviews)
    try:
        written = audit_report.write(result, verdict, args.out, assignment.title)
    except OSError as e:
        raise UsageError(f"cannot write to {args.out}: {e}") from None
    took = time.perf_counter() - start
    if args.json:
        print(json.dumps({"passed": verdict.passed, "mutants": len(result.mutants),
                          "killed": sum(m.status == audit.KILLED for m in result.mutants),
                          "unreviewed": [m.key for m in verdict.survivors], "reviewed": len(verdict.reviewed),
                          "errors": len(verdict.errors), "seconds": round(took, 1), "reused": result.reused,
                          "report": str(written["html"])}, indent=1))
        return 0 if verdict.passed else 1
    print("\n".join(audit_report.rate_lines(result)))
    for m in verdict.survivors:
        print(f"\nSURVIVED  {m.function} (line {m.line}, {m.question}) {m.operator}\n  - {m.old}\n  + {m.new}")
    if result.reused:
        print(f"\n(results reused from {result.reused}: the reference, the grader and the tool are unchanged; "
              "--no-cache grades again)")
    print(f"\n{verdict.summary(result)}\nreport: {written['html']} ({took:.0f} s)")
    return 0 if verdict.passed else 1
