"""Wall time and peak memory of `ditgrade run` on one submission, over the whole process tree.

    .venv/bin/python benchmarks/measure_run.py [SUBMISSION ...] [--repeat N]

Memory is sampled every 20 ms from /proc: the sum of PSS (proportional set size: a page shared by
the grader, the fork server and the sandboxed worker is counted once, split between them) over
`ditgrade run` and all its descendants, and, for comparison, the sum of RSS (which counts shared
pages once per process and so overstates). Gradescope's default container has 768 MB.
Defaults to the reference solution (as a .py) and the bundled hostile example.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _mem_kb(pid: int) -> tuple[int, int]:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    fields = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()[1:] if line.endswith("kB")}
    return fields.get("Pss", 0), fields.get("Rss", 0)


def measure(submission: Path) -> tuple[float, float, float, str]:
    with tempfile.TemporaryDirectory() as out:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "ditgrade", "run", str(submission), "--out", out],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak = [0, 0]

        def sample() -> None:
            while proc.poll() is None:
                pss = rss = 0
                for pid in _tree(proc.pid):
                    p, r = _mem_kb(pid)
                    pss, rss = pss + p, rss + r
                peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
                time.sleep(0.02)

        t = threading.Thread(target=sample)
        t.start()
        output, _ = proc.communicate()
        t.join()
        wall = time.monotonic() - start
    if proc.returncode != 0:  # a figure of a failed start is no figure
        raise SystemExit(f"ditgrade run {submission.name} exited {proc.returncode}:\n{output[-2000:]}")
    total = next((line for line in output.splitlines() if line.startswith("total")), "?")
    return wall, peak[0] / 1024, peak[1] / 1024, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("submissions", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    subs = args.submissions
    if not subs:
        ref = Path(tempfile.mkdtemp()) / "reference_submission.py"
        ref.write_text((REPO / "autograder/dit/generated/reference.py").read_text())
        subs = [ref, REPO / "examples/submissions/mallory_hostile.py"]
    print(f"{'submission':<32}{'wall s (median)':>16}{'peak PSS MiB':>14}{'peak RSS-sum MiB':>18}  score")
    for sub in subs:
        runs = [measure(sub) for _ in range(args.repeat)]
        print(f"{sub.name:<32}{statistics.median(r[0] for r in runs):>16.1f}{max(r[1] for r in runs):>14.0f}"
              f"{max(r[2] for r in runs):>18.0f}  {runs[-1][3]}")


if __name__ == "__main__":
    main()
