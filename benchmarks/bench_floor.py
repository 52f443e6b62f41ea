"""The floors under issue 21's speed goals: what one grade and a batch cannot go below while the
hidden tests stay as they are, whatever the sandbox costs.

    .venv/bin/python benchmarks/bench_floor.py [SUBMISSION.py] [--repeat 5] [--otter-s 10.49]

1. ``import torch, diffusers`` in a fresh interpreter: one grade's floor (median of ``--repeat``).
2. The hidden tests run on SUBMISSION (default: the reference) in one fresh process with no sandbox
   at all (``InProcessRunner``, the trusted path), first cold (nothing built or cached yet), then
   warm (median of ``--repeat``). Each run is split into the probe calls (the student's side: their
   code on the inputs and models the probes give it), of which the model and pipeline copies (which
   a batch's spares make free), and the rest (the grader's side: expected values, comparisons,
   hypothesis). The public checks need the notebook's own cells, so they fail here (they weigh 0).
3. The ceilings this implies, for one grade (import + the tests, cold, and nothing else: no
   extraction, no worker, no sandbox) and for a batch on 2 cores (the warm tests per submission on
   each core, with the copies and with every copy free), against the goals: 1.5x the import, and
   20x an otter loop whose median per submission is ``--otter-s`` (``bench_grade.py``'s figure).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_SPENT = {"calls": 0.0, "copies": 0.0}  # seconds, filled by the timed wrappers


def _tests_once(source: str) -> dict[str, float]:
    """Run every hidden test once on ``source`` in this process: seconds in total, in probe calls, in copies."""
    import dit.models
    import dit.pipelines
    from ditgrade.core.assignment import Assignment
    from ditgrade.core.probe_calls import InProcessRunner, namespace_from_source
    from ditgrade.core.suite import max_scores, run_test

    spent = _SPENT

    def timed(module: object, name: str, key: str) -> None:
        original = getattr(module, name)
        if getattr(original, "_floor_timed", False):
            return

        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start

        wrapper._floor_timed = True  # type: ignore[attr-defined]
        setattr(module, name, wrapper)

    timed(InProcessRunner, "call", "calls")
    timed(dit.models, "copy_of", "copies")  # the models' copies (dit.pipelines took the name itself)
    timed(dit.pipelines, "copy_of", "copies")
    assignment = Assignment.load()
    tests = assignment.tests()
    shares = max_scores(tests, assignment.points)
    start = time.perf_counter()
    runner = InProcessRunner(namespace_from_source(source), assignment.probes)
    failed = [t.name[:60] for t in tests if not run_test(t, runner, shares[t.name]).passed]
    total = time.perf_counter() - start
    calls, copies = spent["calls"], spent["copies"]
    spent.update(calls=0.0, copies=0.0)  # a later run times again from zero
    return {"total": total, "calls": calls, "copies": copies, "failed": failed}


def child(path: str, repeat: int) -> None:
    import torch

    # One compute thread, as the sandbox's worker and the grader use (grading.warmup): torch's
    # default pool of one thread per core spins against any other load on a 2-core machine (a
    # Linear of the tiny models took 1 ms instead of microseconds beside two busy processes).
    torch.set_num_threads(1)
    source = Path(path).read_text()
    cold = _tests_once(source)
    warm = [_tests_once(source) for _ in range(repeat)]
    print(json.dumps({"cold": cold, "warm": {k: statistics.median(w[k] for w in warm) if k != "failed" else warm[-1][k]
                                             for k in cold}}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", nargs="?", default=str(ROOT / "autograder/dit/generated/reference.py"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--otter-s", type=float, default=10.49, help="an otter loop's median per submission")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.submission, args.repeat)
        return 0
    imports = []
    for _ in range(args.repeat):
        start = time.monotonic()
        subprocess.run([sys.executable, "-c", "import torch, diffusers"], check=True)
        imports.append(time.monotonic() - start)
    floor = statistics.median(imports)
    out = subprocess.run([sys.executable, __file__, args.submission, "--repeat", str(args.repeat), "--child"],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        print(out.stderr[-3000:])
        return 1
    data = json.loads(out.stdout.strip().splitlines()[-1])
    cold, warm = data["cold"], data["warm"]
    print(f"import torch, diffusers: {floor:.2f} s (median of {args.repeat})")
    for label, run in (("cold", cold), ("warm", warm)):
        print(f"hidden tests in-process, {label}: {run['total']:.2f} s = student side {run['calls']:.2f} s "
              f"(of which model copies {run['copies']:.2f} s) + grader side {run['total'] - run['calls']:.2f} s"
              f"; failed: {run['failed'] or 'none'}")
    one = floor + cold["total"]
    print(f"one grade >= import + cold tests = {one:.2f} s = {one / floor:.2f}x the import (goal 1.5x: "
          f"{1.5 * floor:.2f} s leaves {1.5 * floor - floor:.2f} s for everything after the import)")
    # a batch: the warm tests, grader side included, on each of 2 cores; copies as they are, and
    # with every copy free (what enough spare copies in the fork server would give)
    for label, each in (("as run", warm["total"]), ("every model copy free", warm["total"] - warm["copies"])):
        batch = 100 * each / 2
        print(f"a batch of 100 on 2 cores, {label}: >= 100 x {each:.2f} s / 2 = {batch:.0f} s = at most "
              f"{100 * args.otter_s / batch:.1f}x an otter loop of {args.otter_s:g} s each (goal 20x: "
              f"{100 * args.otter_s / 20:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
