"""A class-sized batch with hostile students in it: every honest student keeps exactly its solo score.

    .venv/bin/python scripts/hostile_batch.py [-n 200] [--hostile 0.1] [-j 2] [--out DIR]

Makes N submissions in one folder: a fraction of them are attacks (tests/hostile/batch/*.py and
tests/hostile/*.py, in turn), the rest honest students (the five honest examples in
examples/submissions/, in turn, each copy made unique by a comment). Grades each honest example once
alone with ``ditgrade run`` (its solo score), then the whole folder with ``ditgrade grade -j J``, and
checks that every honest row equals its solo score, that no attack scored more than the honest part
it contains (0 for the pure attacks), that every submission has a row, and that nothing of the
batch's sandboxes is left running. Exit status 0 when all of that holds. A script for a release,
not a CI test: 200 submissions take several minutes on 2 cores (issue 10's closing note has a run).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "submissions"
HONEST = ["carol_correct.ipynb", "bob_correct_unfold.py", "dave_bug_q1_token_order.py",
          "erin_bug_q3_null_class.ipynb", "frank_bug_q4_prefix_match.py"]
# Attacks that end within the normal budgets (a03 and a06 are about outliving the batch's own
# timeout, which tests/test_batch_attacks.py exercises with a short one).
ATTACKS = sorted(p for p in (REPO / "tests" / "hostile" / "batch").glob("a*.py")
                 if not p.name.startswith(("a03_", "a06_")))
ATTACKS += [REPO / "tests" / "hostile" / f"{n}.py" for n in (
    "memory_peek", "read_reference", "secrets", "search_disk", "leave_processes", "leftovers",
    "forge_answers", "patch_builtins", "import_reference", "write_results", "monkeypatch_checks",
    "lying_tensor", "argv_peek", "memfd_memory")]


def ditgrade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ditgrade", *args], capture_output=True, text=True, cwd=REPO)


def unique_copy(src: Path, dest: Path, tag: str) -> None:
    if src.suffix == ".ipynb":
        nb = json.loads(src.read_text())
        nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": [f"copy {tag}"]})
        dest.write_text(json.dumps(nb))
    else:
        dest.write_text(src.read_text() + f"\n# copy {tag}\n")


def sandbox_processes() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "uid,args"], capture_output=True, text=True).stdout.splitlines()[1:]
    return [line for line in ps if int(line.split()[0]) >= 3_000_000]  # the sandbox's uids (server.SANDBOX_UID_BASE)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--hostile", type=float, default=0.1)
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hostile_batch_"))
    out = args.out or work / "out"

    solo: dict[str, float] = {}
    for name in HONEST:
        d = work / "solo" / name
        r = ditgrade("run", str(EXAMPLES / name), "--out", str(d))
        solo[name] = json.loads((d / "results.json").read_text())["score"]
    print("solo scores: " + ", ".join(f"{k} {v:.2f}" for k, v in solo.items()), flush=True)

    subs = work / "submissions"
    subs.mkdir()
    n_hostile = round(args.n * args.hostile)
    kind: dict[str, str] = {}
    for i in range(args.n):
        if i % max(1, round(1 / args.hostile)) == 0 and sum(v.startswith("attack") for v in kind.values()) < n_hostile:
            src = ATTACKS[len([v for v in kind.values() if v.startswith("attack")]) % len(ATTACKS)]
            name = f"s{i:03d}_{src.stem}.py"
            shutil.copyfile(src, subs / name)
            kind[Path(name).stem] = f"attack:{src.stem}"
        else:
            src = EXAMPLES / HONEST[i % len(HONEST)]
            name = f"s{i:03d}_{src.stem}{src.suffix}"
            unique_copy(src, subs / name, str(i))
            kind[Path(name).stem] = f"honest:{src.name}"

    start = time.monotonic()
    r = ditgrade("grade", str(subs), "--out", str(out), "-j", str(args.j), "--regrade")
    wall = time.monotonic() - start
    with open(out / "grades.csv", newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    problems = []
    if r.returncode not in (0, 1):
        problems.append(f"ditgrade grade exited {r.returncode}: {r.stderr[-1500:]}")
    honest_ok = attacks_ok = 0
    for stem, k in kind.items():
        row = rows.get(stem)
        if row is None:
            problems.append(f"{stem}: no row")
            continue
        total = float(row["total"])
        if k.startswith("honest:"):
            expected = solo[k.split(":", 1)[1]]
            if abs(total - expected) > 1e-6:
                problems.append(f"{stem}: {total} in the batch, {expected} alone")
            else:
                honest_ok += 1
        else:
            attack = k.split(":", 1)[1]
            # a few attack files carry honest functions beside the attack; none may reach full marks
            if total >= float(row["max"]) - 1e-6:  # full marks, as grades.csv reads them from the master
                problems.append(f"{stem} ({attack}) scored {total}")
            else:
                attacks_ok += 1
    left = sandbox_processes()
    if left:
        problems.append(f"sandbox processes left running: {left[:5]}")
    n_honest = sum(k.startswith("honest") for k in kind.values())
    print(f"{args.n} submissions ({n_hostile} attacks, {len(ATTACKS)} kinds) graded with -j {args.j} in {wall:.1f} s; "
          f"honest rows equal to their solo score: {honest_ok}/{n_honest}; attacks below full marks: "
          f"{attacks_ok}/{n_hostile}; attack scores: "
          + ", ".join(sorted({f"{k.split(':')[1]} {float(rows[s]['total']):.2f}" for s, k in kind.items()
                              if k.startswith('attack') and s in rows})))
    for p in problems:
        print("PROBLEM: " + p)
    print("HOSTILE-BATCH " + ("OK" if not problems else "FAIL"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
