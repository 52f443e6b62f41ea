"""Time ``ditgrade release`` (everything checked, then unchanged) and ``ditgrade audit``.

    python3 benchmarks/bench_release.py [-j 2] [--skip-audit]

Runs, as subprocesses on this project: a full release (``--no-cache``: every gate checked, the
mutation audit graded), the same release again with nothing changed (the kept verdicts reused),
and, unless skipped, a full ``ditgrade audit --no-cache``. Prints each one's wall time, the time
each gate was decided at (from the release's own ``[n/N]`` lines), and the load average before and
after, so a figure taken on a busy machine says so.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str]) -> tuple[float, subprocess.CompletedProcess, str]:
    load = os.getloadavg()[0]
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ditgrade", *args], capture_output=True, text=True, cwd=ROOT)
    took = time.monotonic() - start
    return took, proc, f"load {load:.1f} -> {os.getloadavg()[0]:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-audit", action="store_true", help="do not time `ditgrade audit --no-cache`")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; jobs {args.jobs}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("full release (--no-cache)", ["--no-cache"]), ("unchanged re-release", [])):
            took, proc, load = run(["release", "--out", str(Path(tmp) / "dist"), "-j", str(args.jobs), *extra])
            print(f"\n{label}: {took:.1f} s, exit {proc.returncode}, {load}")
            for line in proc.stderr.splitlines():
                m = re.match(r"\s+\[(\d+)/(\d+)\] (PASS|FAIL)\s+(\S+).*\((\d+) s\)$", line)
                if m:
                    reused = " (reused)" if "(reused:" in line else ""
                    print(f"  {m[1]}/{m[2]} {m[3]} {m[4]:<13} at {m[5]:>4} s{reused}")
            if proc.returncode:
                print(proc.stdout + proc.stderr[-2000:])
                return 1
        if not args.skip_audit:
            took, proc, load = run(["audit", "--out", str(Path(tmp) / "out"), "-j", str(args.jobs), "--no-cache"])
            print(f"\naudit (--no-cache): {took:.1f} s, exit {proc.returncode}, {load}")
            print("\n".join(proc.stdout.splitlines()[-3:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
