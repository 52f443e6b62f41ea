"""Time ``ditgrade grade`` against a loop over ``otter.api.grade_submission`` on the same submissions.

    python benchmarks/bench_grade.py [-n 100] [--otter-n 6] [-j 2] [--keep DIR]

Makes N notebook submissions (variants of the example notebooks: correct, single-mistake ones and
the untouched template, each with a unique comment so no two are byte-identical), then

* grades all N with ``ditgrade grade DIR --out OUT -j J --regrade`` (a subprocess, so start-up,
  the warm workers and the sandbox are all counted), and
* grades the first ``--otter-n`` of them with ``otter.api.grade_submission`` against an otter
  autograder zip built from a temporary copy of the master notebook with ``generate: true``
  (``otter assign``), one after another as ``otter run`` does;

and prints, for each, the total wall time, the wall time per submission (total / N) and the
median of the per-submission grading times, and the ratios. Otter runs every cell of the notebook
in a fresh kernel; ditgrade extracts the definitions and runs them in a warm sandbox.
A script, not a test.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "submissions"
MASTER = REPO / "assignment" / "dit_assignment.ipynb"
TEMPLATE = REPO / "student_template" / "dit_assignment.ipynb"


def _variant(base: Path, old: str, new: str) -> nbformat.NotebookNode:
    nb = nbformat.read(base, as_version=4)
    hits = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and old in cell.source:
            cell.source = cell.source.replace(old, new)
            hits += 1
    if old and hits != 1:
        raise SystemExit(f"variant {old!r} -> {new!r} matched {hits} cells of {base.name}")
    return nb


def make_submissions(folder: Path, n: int) -> list[Path]:
    carol = EXAMPLES / "carol_correct.ipynb"
    kinds = [
        ("correct", lambda: _variant(carol, "", "")),
        ("bug_q1", lambda: _variant(carol, "x = x.permute(0, 2, 4, 1, 3, 5)", "x = x.permute(0, 4, 2, 1, 3, 5)")),
        ("correct_b", lambda: _variant(carol, "", "")),
        ("bug_q3", lambda: nbformat.read(EXAMPLES / "erin_bug_q3_null_class.ipynb", as_version=4)),
        ("bug_q4", lambda: _variant(carol, 'return [f"{blocks_attr}.{n}" if n else blocks_attr',
                                    'return [n if n else blocks_attr')),
        ("template", lambda: nbformat.read(TEMPLATE, as_version=4)),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        name, make = kinds[i % len(kinds)]
        nb = make()
        nb.cells.append(nbformat.v4.new_code_cell(f"# submission {i:04d} ({name})"))
        path = folder / f"s{i:04d}_{name}" / "dit_assignment.ipynb"
        path.parent.mkdir()
        nbformat.write(nb, path)
        out.append(path)
    return out


def run_ditgrade(subs_dir: Path, out: Path, jobs: int) -> tuple[float, list[float], list[dict]]:
    cmd = [sys.executable, "-m", "ditgrade", "grade", str(subs_dir), "--out", str(out), "-j", str(jobs),
           "--regrade"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"ditgrade grade failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    per = [json.loads(p.read_text())["execution_time"] for p in (out / "results").glob("*.json")]
    with open(out / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return wall, per, rows


def otter_autograder(work: Path) -> Path:
    nb = nbformat.read(MASTER, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("generate: false", "generate: true")
    work.mkdir(parents=True, exist_ok=True)
    master = work / MASTER.name
    nbformat.write(nb, master)
    subprocess.run([sys.executable, "-m", "otter", "assign", str(master), str(work / "dist"), "--no-run-tests"],
                   check=True, capture_output=True)
    return Path(glob.glob(str(work / "dist" / "autograder" / "*.zip"))[0])


def run_otter(subs: list[Path], ag: Path) -> tuple[float, list[float], list[float]]:
    import otter.api

    per, scores = [], []
    start = time.perf_counter()
    for p in subs:
        t = time.perf_counter()
        results = otter.api.grade_submission(str(p), str(ag), quiet=True)
        per.append(time.perf_counter() - t)
        scores.append(results.total)
    return time.perf_counter() - start, per, scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100, help="submissions for ditgrade (default 100)")
    ap.add_argument("--otter-n", type=int, default=6, help="submissions for the otter loop (default 6; 0 skips it)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="ditgrade workers (default 2)")
    ap.add_argument("--keep", type=Path, help="keep the submissions and outputs in this folder")
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_grade_"))
    work.mkdir(parents=True, exist_ok=True)
    subs_dir = work / "submissions"
    if subs_dir.exists():
        shutil.rmtree(subs_dir)
    subs = make_submissions(subs_dir, args.n)
    print(f"{len(subs)} submissions in {subs_dir}")

    wall, per, rows = run_ditgrade(subs_dir, work / "ditgrade_out", args.jobs)
    errors = [r for r in rows if r["status"] != "graded"]
    print(f"ditgrade grade -j {args.jobs}: {len(rows)} submissions in {wall:.1f} s "
          f"({wall / len(rows):.2f} s per submission; median grading time {statistics.median(per):.2f} s per "
          f"submission in a worker; {len(errors)} not graded)")
    by_kind: dict[str, set[str]] = {}
    for r in rows:
        by_kind.setdefault(r["submission"].split("_", 1)[1], set()).add(r["percent"])
    print("  percent by kind: " + ", ".join(f"{k} {sorted(v)}" for k, v in sorted(by_kind.items())))

    if args.otter_n:
        ag = otter_autograder(work / "otter")
        o_wall, o_per, o_scores = run_otter(subs[: args.otter_n], ag)
        o_med = statistics.median(o_per)
        print(f"otter.api.grade_submission loop: {len(o_per)} submissions in {o_wall:.1f} s "
              f"(median {o_med:.2f} s per submission; public-test scores {o_scores})")
        print(f"ratio, per-submission median (one process each): {o_med / statistics.median(per):.1f}x")
        print(f"ratio, throughput (otter's median x N vs ditgrade's total for N, -j {args.jobs}): "
              f"{o_med * len(rows) / wall:.1f}x")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
