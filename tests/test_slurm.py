"""``ditgrade grade --executor slurm`` on a one-node Slurm on this machine (``scripts/slurm_local.sh``).

The module starts Slurm (skipped, with the script's one-line reason, where it cannot), grades a few
example submissions (correct, buggy, hostile) with the local executor once, and checks that Slurm
job arrays give exactly the same grades.csv, also when array tasks are cancelled or SIGKILLed
mid-chunk: only their unfinished rows are graded again, each row is reported once.
About 2.5 minutes on 2 cores.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ditgrade.batch.slurm_options import SlurmOptions
from ditgrade.core.text import points

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "slurm_local.sh"
EXAMPLES = REPO / "examples" / "submissions"
CORRECT_BUGGY = ["bob_correct_unfold.py", "dave_bug_q1_token_order.py", "erin_bug_q3_null_class.ipynb",
                 "frank_bug_q4_prefix_match.py"]
HOSTILE = ["oscar_hangs_at_load.py"]  # hostile at load time; quicker than mallory on a loaded machine


@pytest.fixture(scope="module")
def slurm():
    """A running local Slurm; SLURM_CONF set for this process (submitit's sbatch/squeue, the jobs)."""
    was_up = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0
    p = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        pytest.skip((p.stderr.strip().splitlines() or ["scripts/slurm_local.sh start failed"])[-1])
    env = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    conf = env.strip().split("SLURM_CONF=", 1)[1]
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
        if not was_up:
            subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=120)


def _grade_cli(paths: list[Path], out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DITGRADE_SLURM_POLL": "1"}
    cmd = [sys.executable, "-m", "ditgrade", "grade", *map(str, paths), "--out", str(out), *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def local_grades(tmp_path_factory, slurm) -> dict[str, dict[str, str]]:
    """grades.csv of the local executor (-j 2) on every submission used here, by submission id."""
    out = tmp_path_factory.mktemp("local")
    p = _grade_cli([EXAMPLES / n for n in CORRECT_BUGGY + HOSTILE], out, "-j", "2")
    assert p.returncode == 0, p.stderr[-3000:]
    return _rows(out)


def test_slurm_grades_exactly_as_the_local_executor(tmp_path: Path, local_grades) -> None:
    out = tmp_path / "out"
    # two array tasks, [bob, dave, erin] and [frank, oscar], side by side on the 2 CPUs
    paths = [EXAMPLES / n for n in CORRECT_BUGGY + HOSTILE]
    p = _grade_cli(paths, out, "--executor", "slurm", "--max-jobs", "2")
    assert p.returncode == 0, p.stderr[-3000:]
    assert _rows(out) == local_grades
    assert "slurm: submitted array" in p.stderr and "2 job(s) of 2-3 submission(s)" in p.stderr
    assert "0 pending, 0 running, 2 done" in p.stderr
    assert not (out / ".slurm").exists()  # nothing was lost: the run's folder is gone
    results = json.loads((out / "results" / "oscar_hangs_at_load.json").read_text())
    assert results["extra_data"]["ditgrade"]["batch"]["status"] == "graded"


def _task_python(job_id: str) -> int | None:
    """The pid of the python submitit runs for array task ``job_id`` ("12_1"), found in /proc."""
    array, task = job_id.split("_")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = Path(f"/proc/{d}/cmdline").read_bytes().decode(errors="replace").split("\0")
            env = Path(f"/proc/{d}/environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv[1:4] == ["-u", "-m", "submitit.core._submit"] and f"SLURM_ARRAY_JOB_ID={array}" in env \
                and f"SLURM_ARRAY_TASK_ID={task}" in env:
            return int(d)
    return None


class Chaos(threading.Thread):
    """Once task 0 of the first array has written a row: scancel it; once task 1 has: SIGKILL its python."""

    def __init__(self, out: Path):
        super().__init__(daemon=True)
        self.out, self.stop, self.done = out, threading.Event(), {}  # done: task -> rows it had written

    def run(self) -> None:
        first_array = None
        while not self.stop.is_set() and len(self.done) < 2:
            written: dict[str, list[str]] = {}
            for f in self.out.glob(".slurm/*/results/*.json"):
                try:
                    written.setdefault(json.loads(f.read_text())["task"], []).append(f.stem)
                except (OSError, ValueError, KeyError):
                    pass
            for task, ids in sorted(written.items()):
                array, _, index = task.partition("_")
                first_array = first_array or str(min(int(t.partition("_")[0]) for t in written))
                if array != first_array or task in self.done or index not in ("0", "1"):
                    continue
                if index == "0":
                    subprocess.run(["scancel", task], check=True)
                else:
                    pid = _task_python(task)
                    if pid is None:
                        continue
                    os.kill(pid, signal.SIGKILL)
                self.done[task] = sorted(ids)
            time.sleep(0.1)


def test_killed_tasks_cost_only_their_unfinished_rows(tmp_path: Path, local_grades, assignment) -> None:
    from ditgrade.batch.discover import discover
    from ditgrade.batch.slurm import run_slurm

    out = tmp_path / "out"
    out.mkdir()
    subs, _ = discover([EXAMPLES / n for n in CORRECT_BUGGY], out)
    calls: dict[str, list] = {s.id: [] for s in subs}
    lines: list[str] = []
    chaos = Chaos(out)
    chaos.start()
    try:
        run_slurm(subs, grade_fn="ditgrade.grading.grade_submission", gpu=False, out=out,
                  assignment=assignment, options=SlurmOptions(max_jobs=2, poll_s=1), log=lines.append,
                  on_done=lambda sub, kind, payload, seconds: calls[sub.id].append((kind, payload)))
    finally:
        chaos.stop.set()
    log = "\n".join(lines)
    assert len(chaos.done) == 2, log
    assert all(len(c) == 1 and c[0][0] == "ok" for c in calls.values()), calls
    for sid, [(_, results)] in calls.items():
        assert points(results["score"]) == local_grades[sid]["total"], sid  # grades.csv writes scores so

    # Each killed task lost only what it had not written; those rows were retried, one per job.
    (run,) = (out / ".slurm").iterdir()  # kept: tasks were lost
    by_task: dict[str, list[str]] = {}
    for f in (run / "results").glob("*.json"):
        by_task.setdefault(json.loads(f.read_text())["task"], []).append(f.stem)
    for task, had in chaos.done.items():
        assert sorted(by_task.get(task, [])) == had, (task, had, by_task)  # never graded again
        assert f"job {task} ended " in log
        assert f"{2 - len(had)} of its 2 submission(s) not graded; retrying" in log
    assert f"job {next(t for t in chaos.done if t.endswith('_0'))} ended CANCELLED" in log
    assert "(retry)" in log and "failed twice" not in log
    retried = [t for t in by_task if t not in chaos.done]
    assert sum(len(by_task[t]) for t in retried) == 4 - sum(len(v) for v in chaos.done.values())
    assert all(len(by_task[t]) == 1 for t in retried)
