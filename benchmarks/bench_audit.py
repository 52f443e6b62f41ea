"""``ditgrade audit`` against grading the same mutants one by one as submissions, on this machine.

    python3 benchmarks/bench_audit.py [-j 2] [--sample 60]

1. ``ditgrade audit --no-cache``: every cosmic-ray mutant of the reference, on warm in-process workers.
2. A deterministic sample of the same mutants (every k-th), each written as a ``.py`` submission and
   graded by ``ditgrade grade -j N --regrade`` (the real path: extraction, sandbox, all tests), the
   way the audit issue measured them. ``--with-timeouts`` adds every mutant the audit killed by its
   time rule (10x the reference's slowest call, 1 s floor), to show the real grader, with its
   20 s per call, takes points from each of them too.

Prints both wall times, the time per mutant of each and their ratio, and whether the two agree on
every sampled mutant (killed by the audit <=> below full marks in the real grade).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "autograder"))


def ditgrade(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ditgrade", *args], capture_output=True, text=True, cwd=ROOT)
    return time.monotonic() - start, proc


def main() -> int:
    from ditgrade.core.assignment import Assignment
    from ditgrade.packaging.audit_mutants import Site, mutant_source
    from ditgrade.project import Project

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=60, help="mutants graded one by one (default: 60)")
    parser.add_argument("--with-timeouts", action="store_true",
                        help="also grade every mutant the audit killed by its time rule")
    args = parser.parse_args()
    assignment = Assignment.load(Project(ROOT))
    reference = assignment.reference_path.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()[0]
        took_audit, proc = ditgrade("audit", "--out", f"{tmp}/audit", "-j", str(args.jobs), "--no-cache")
        if proc.returncode not in (0, 1):
            print(proc.stdout + proc.stderr[-3000:])
            return 1
        mutants = json.loads(Path(f"{tmp}/audit/audit.json").read_text())["mutants"]
        n = len(mutants)
        print(f"audit: {n} mutants in {took_audit:.1f} s ({took_audit / n:.3f} s each), -j {args.jobs}, "
              f"load {load:.1f} -> {os.getloadavg()[0]:.1f}")
        step = max(1, n // args.sample)
        sample = mutants[::step][: args.sample]
        if args.with_timeouts:
            sample += [m for m in mutants if m["how"] == "timeout" and m not in sample]
        subs = Path(tmp) / "subs"
        subs.mkdir()
        for i, m in enumerate(sample):
            site = Site(m["operator"], m["occurrence"], m["line"], "")
            (subs / f"m{i:03d}.py").write_text(mutant_source(reference, site))
        load = os.getloadavg()[0]
        took_grade, proc = ditgrade("grade", str(subs), "--out", f"{tmp}/out", "-j", str(args.jobs), "--regrade")
        print(f"ditgrade grade: {len(sample)} of them as .py submissions in {took_grade:.1f} s "
              f"({took_grade / len(sample):.3f} s each), load {load:.1f} -> {os.getloadavg()[0]:.1f}")
        with open(f"{tmp}/out/grades.csv", newline="") as f:
            rows = {r["submission"]: r for r in csv.DictReader(f)}
        maximum = sum(q.points for q in assignment.questions)
        disagree = []
        for i, m in enumerate(sample):
            row = rows[f"m{i:03d}"]
            below = row["status"] != "graded" or float(row["total"]) < maximum - 1e-6
            if below != (m["status"] == "killed"):
                disagree.append((m["function"], m["new"], m["status"], row["total"]))
        per_audit, per_grade = took_audit / n, took_grade / len(sample)
        print(f"per mutant: {per_grade:.3f} s graded as a submission, {per_audit:.3f} s in the audit: "
              f"{per_grade / per_audit:.1f}x; all {n} by the real path would take about {per_grade * n:.0f} s")
        print(f"agreement on the sample: {len(sample) - len(disagree)}/{len(sample)}"
              + "".join(f"\n  differs: {d}" for d in disagree))
    return 0


if __name__ == "__main__":
    sys.exit(main())
