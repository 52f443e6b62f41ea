"""Time ``ditgrade grade --executor slurm`` on a local one-node Slurm against the local executor.

    python benchmarks/bench_slurm.py [-n 20] [-j 2] [--max-jobs 2] [--per-job 25,5,1] [--repeat R]

Makes N submissions (copies of examples/submissions/carol_correct.ipynb and bob_correct_unfold.py,
alternating, each with a unique comment so no two are byte-identical), then grades all N

* with ``ditgrade grade DIR --out OUT -j J --regrade`` (warm workers on this machine), and
* with ``ditgrade grade DIR --out OUT --executor slurm --max-jobs M --per-job P --regrade``, once per
  P given, through the Slurm that ``scripts/slurm_local.sh start`` runs here (started if it is not
  running, and stopped again afterwards);

each a subprocess, so start-up, job submission, scheduling, every task's warm-up and the polling
all count. Prints the wall time of each (the median of ``--repeat`` interleaved rounds), per
submission, and the Slurm overhead per submission ((slurm - local) / N), and checks that every run
gave the same grades. With M = J (as many tasks at once as local workers, one CPU each) the
difference is what Slurm costs: sbatch, the scheduler's start beat, a fresh Python + warm-up per
task (per P submissions), the file-based hand-back and the poll. A script, not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "submissions"
SCRIPT = REPO / "scripts" / "slurm_local.sh"


def make_submissions(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    notebook = json.loads((EXAMPLES / "carol_correct.ipynb").read_text())
    script = (EXAMPLES / "bob_correct_unfold.py").read_text()
    for i in range(n):
        if i % 2 == 0:
            nb = json.loads(json.dumps(notebook))
            nb["cells"].append({"cell_type": "code", "execution_count": None, "id": f"bench{i:04d}",
                                "metadata": {}, "outputs": [], "source": [f"# submission {i:04d}"]})
            (folder / f"s{i:04d}_carol.ipynb").write_text(json.dumps(nb, indent=1))
        else:
            (folder / f"s{i:04d}_bob.py").write_text(f"{script}\n# submission {i:04d}\n")


def grade(subs: Path, out: Path, args: list[str], env: dict[str, str]) -> tuple[float, dict[str, str], str]:
    cmd = [sys.executable, "-m", "ditgrade", "grade", str(subs), "--out", str(out), "--regrade", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-3000:]}")
    with open(out / "grades.csv", newline="") as f:
        totals = {r["submission"]: r["total"] for r in csv.DictReader(f)}
    return wall, totals, proc.stderr


def slurm_up() -> tuple[dict[str, str], bool]:
    """The environment for Slurm clients, and whether this script started Slurm."""
    was_up = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0
    p = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(p.stderr.strip() or "scripts/slurm_local.sh start failed")
    conf = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    return {"SLURM_CONF": conf.strip().split("SLURM_CONF=", 1)[1]}, not was_up


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="submissions (default 20)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="local workers (default 2)")
    ap.add_argument("--max-jobs", type=int, default=2, help="Slurm tasks at once (default 2: the CPUs here)")
    ap.add_argument("--per-job", default="25,5,1", help="--per-job values to run, comma-separated (25,5,1)")
    ap.add_argument("--poll", type=float, default=1.0, help="seconds between squeue calls (default 1)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every run, interleaved (default 1)")
    ap.add_argument("--keep", type=Path, default=None, help="keep submissions and outputs in this folder")
    a = ap.parse_args()

    work = a.keep or Path(tempfile.mkdtemp(prefix="bench_slurm_"))
    subs = work / "subs"
    make_submissions(subs, a.n)
    env = {**os.environ, "DITGRADE_SLURM_POLL": str(a.poll)}
    slurm_env, started = slurm_up()
    env.update(slurm_env)
    print(f"{a.n} submissions in {subs}; load {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs", flush=True)
    runs: dict[str, list[float]] = {}
    arrays: dict[str, str] = {}
    configs = [("local", ["-j", str(a.jobs)])] + [
        (f"slurm --per-job {p}", ["--executor", "slurm", "--max-jobs", str(a.max_jobs), "--per-job", str(p)])
        for p in (int(x) for x in a.per_job.split(",") if x.strip())]
    expected = None
    try:
        for r in range(a.repeat):  # interleaved, so a change in the machine's load hits every config alike
            for name, args in configs:
                load = os.getloadavg()[0]
                wall, totals, log = grade(subs, work / f"{name.replace(' ', '_')}_{r}", args, env)
                expected = expected or totals
                if totals != expected:
                    diff = {k: (expected.get(k), totals.get(k)) for k in expected.keys() | totals.keys()
                            if expected.get(k) != totals.get(k)}
                    raise SystemExit(f"{name}: grades differ from the first run: {diff}")
                arrays[name] = next((ln.split(": ")[2].split(",")[0] for ln in log.splitlines()
                                     if ln.startswith("slurm: submitted array")), "")
                runs.setdefault(name, []).append(wall)
                print(f"[{r + 1}/{a.repeat}] {name}: {wall:.1f} s (load {load:.2f} before)", flush=True)
    finally:
        if started:
            subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True)
    print(f"\nload at the end {os.getloadavg()[0]:.2f}; grades identical in every run; "
          f"medians of {a.repeat}\n")
    print(f"| run (N={a.n}, local -j {a.jobs}, Slurm --max-jobs {a.max_jobs}) | array | wall "
          "| per submission | Slurm overhead per submission |\n|---|---|---|---|---|")
    local = statistics.median(runs["local"])
    for name, _ in configs:
        wall = statistics.median(runs[name])
        over = "" if name == "local" else f"{(wall - local) / a.n:+.2f} s"
        print(f"| {name} | {arrays[name]} | {wall:.1f} s | {wall / a.n:.2f} s | {over} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
