"""The whole grader on hostile and heavy submissions: load-time attacks cost only their statements, a
correct submission after hostile ones keeps full marks, a busy machine costs no points, and the
process tree stays inside Gradescope's 768 MB. (tests/test_sandbox.py checks each attack one call at a
time; tests/test_batch_attacks.py checks attacks across submissions in a batch.)"""

from __future__ import annotations

import json
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ditgrade.grading import grade_submission

REPO = Path(__file__).resolve().parent.parent

IMPORT_TIME_ATTACKS = [
    # each survives extraction (a default argument, a class body, a decorator) and runs at load
    "import torch, numpy as np\n"
    "def _a(_=setattr(torch, 'allclose', lambda *a, **k: True)): pass\n"
    "def _b(_=setattr(np, 'array_equal', lambda *a, **k: True)): pass",
    "import os, signal\ndef _k(_=os.kill(os.getppid(), signal.SIGKILL)): pass",
    "class Flood:\n    for _ in range(200000):\n        print('x' * 1000)",
    "BIG = b'x' * (16 * 1024 ** 3)",
    "class Forever:\n    while True:\n        pass",
    "import sys\ndef _e(_=sys.exit(0)): pass",
    "import os\nclass Gone:\n    os._exit(3)",
]


@pytest.mark.slow
def test_load_time_attacks_cost_only_their_own_statements(assignment, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in IMPORT_TIME_ATTACKS]
    nb.cells.append(nbformat.v4.new_code_cell("def sequence_length(h, w, p):\n    return (h // p) * (w // p)"))
    path = tmp_path / "hostile.ipynb"
    nbformat.write(nb, path)
    start = time.monotonic()
    data = grade_submission(path, assignment=assignment)
    passed = [t.name for t in data.tests if t.passed and t.max_score > 0]
    assert passed == ["q1 sequence_length gives (h/p)*(w/p)"], passed
    assert "was left out" in data.output and "raised MemoryError" in data.output, data.output
    assert time.monotonic() - start < 240


@pytest.mark.slow
def test_a_correct_submission_after_hostile_ones_keeps_full_marks(assignment, tmp_path: Path) -> None:
    for name in ("leave_processes", "exits", "monkeypatch_checks"):
        grade_submission(REPO / "tests" / "hostile" / f"{name}.py", assignment=assignment)
    data = grade_submission(REPO / "examples" / "submissions" / "bob_correct_unfold.py", assignment=assignment)
    assert data.score == sum(assignment.points.values()), [t.name for t in data.tests if not t.passed]


def _burn(seconds: float) -> None:
    import os

    os.setsid()  # a session of its own, as another user's job: the kernel's autogroup weighs each session as one
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.slow
def test_a_busy_machine_costs_no_points(assignment) -> None:
    """Grades count CPU time: beside processes that keep every core busy (load ~3x the cores, each
    in a session of its own: burners in pytest's session would share one CPU share, which hardly
    loads the machine), a correct submission still gets full marks."""
    ctx = mp.get_context("spawn")
    burners = [ctx.Process(target=_burn, args=(180.0,), daemon=True) for _ in range(3 * (mp.cpu_count() or 1))]
    for p in burners:
        p.start()
    try:
        time.sleep(1.0)
        data = grade_submission(REPO / "examples" / "submissions" / "carol_correct.ipynb", assignment=assignment)
    finally:
        for p in burners:
            p.kill()
    full = sum(assignment.points.values())
    assert data.score == full, [(t.name, t.output[:200]) for t in data.tests if not t.passed]


class TreeMemory:
    """Peak PSS of process ``root`` and all its descendants, sampled from /proc every 20 ms."""

    def __init__(self, root: int) -> None:
        import threading

        self.root, self.peak_kb, self._stop = root, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                children.setdefault(ppid, []).append(int(d.name))
        out, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo += children.get(pid, [])
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            total = 0
            for pid in self._tree():
                try:
                    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
                except OSError:
                    continue
                total += next((int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")), 0)
            self.peak_kb = max(self.peak_kb, total)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


MEMORY_HOG = '''
import torch
def patchify(z, p):
    held = []
    try:
        while True:
            held.append(torch.ones(4 * 1024 ** 2))  # 16 MB at a time, every page touched
    except MemoryError:
        pass
    return torch.zeros(len(held))
'''


@pytest.mark.slow
def test_the_whole_process_tree_stays_under_768_mib(tmp_path: Path, full_marks) -> None:
    """`ditgrade run` (grader + fork server + a worker that fills its budget) under Gradescope's
    768 MB: PSS summed over the process tree, for the reference and for a memory hog."""
    hog = tmp_path / "hog.py"
    hog.write_text(MEMORY_HOG)
    for name, path in (("reference", REPO / "autograder" / "dit" / "generated" / "reference.py"), ("hog", hog)):
        proc = subprocess.Popen([sys.executable, "-m", "ditgrade", "run", str(path), "--out", str(tmp_path / name)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        with TreeMemory(proc.pid) as mem:
            assert proc.wait(timeout=400) == 0
        data = json.loads((tmp_path / name / "results.json").read_text())
        assert data["score"] == (full_marks if name == "reference" else 0), name
        print(f"{name}: peak PSS of the tree {mem.peak_kb / 1024:.0f} MiB")
        assert mem.peak_kb < 768 * 1024, (name, mem.peak_kb)
