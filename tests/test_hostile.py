"""The whole grader (grade_submission, the real suite and config) on hostile submissions.

Every attack must score as if it failed: the attacked tests fail and the total is never more than
what the honest part of the submission earns. Grading finishes inside the time budget, the grader
and its fork server survive, nothing the student started is left running, and the grader's
results.json is not the student's. tests/test_sandbox.py checks the same attacks one probe call at a
time; this file checks what reaches the grade.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ditgrade import paths, sandbox
from ditgrade.run import grade_submission

HOSTILE = Path(__file__).parent / "hostile"
BUDGET_S = 120  # a hostile submission may not push grading past two minutes
ROOT = os.geteuid() == 0

# The honest part of each file: the tests that may pass. exits.py's sequence_length is correct
# after trying to kill its parent, pid 1 and every process it may signal; output_flood.py's
# patchify is correct after printing 100 MB (the flood is cut, the answer counts).
HONEST = {"exits": ("q1 sequence_length",), "output_flood": ("q1 patchify", "q1 gradients")}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    target = tmp_path_factory.mktemp("results")
    os.chmod(target, 0o755)  # like /autograder/results: the grader's folder, readable by all
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    old = {k: os.environ.get(k) for k in ("DITGRADE_TEST_TARGET", "DITGRADE_TEST_PORT")}
    os.environ["DITGRADE_TEST_TARGET"] = str(target / "results.json")
    os.environ["DITGRADE_TEST_PORT"] = str(listener.getsockname()[1])
    if sandbox._SERVER is not None:  # workers inherit the fork server's environment: start a fresh one
        sandbox._SERVER.close()
        sandbox._SERVER = None
    yield {"target": target / "results.json", "listener": listener}
    listener.close()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def sandbox_processes() -> list[int]:
    server = sandbox._SERVER
    if server is None:
        return []
    uid = str(sandbox.SANDBOX_UID_BASE + server.pid)
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                uids = next(line for line in (d / "status").read_text().splitlines() if line.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if uid in uids.split()[1:]:
                pids.append(int(d.name))
    return pids


def grade(path: Path, env) -> tuple[dict, float]:
    start = time.monotonic()
    data = grade_submission(path)
    elapsed = time.monotonic() - start
    assert elapsed < BUDGET_S, elapsed
    assert sandbox._SERVER is not None and sandbox._SERVER.alive()
    time.sleep(0.2)
    assert sandbox_processes() == [], "the student's processes outlived grading"
    assert not env["target"].exists(), "the student wrote the grader's results.json"
    with pytest.raises(TimeoutError):
        env["listener"].accept()
    return data, elapsed


def allowed(data: dict, honest: tuple[str, ...]) -> float:
    return sum(t["max_score"] for t in data["tests"] if t["name"].startswith(honest)) if honest else 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(p.stem for p in HOSTILE.glob("*.py")))
def test_each_attack_scores_as_if_it_failed(env, name: str) -> None:
    data, elapsed = grade(HOSTILE / f"{name}.py", env)
    honest = HONEST.get(name, ())
    assert data["score"] <= allowed(data, honest), [t["name"] for t in data["tests"] if t["status"] == "passed"]
    attacked = [t for t in data["tests"] if "patchify" in t["name"] and not t["name"].startswith(honest)]
    assert attacked and all(t["status"] == "failed" for t in attacked)
    assert len(data["extra_data"]["ditgrade"]["student_output"]) < 64 * 1024
    assert "network_namespace" in data["output"] and data["extra_data"]["ditgrade"]["sandbox"]["protections"]
    print(f"{name}: {data['score']} in {elapsed:.1f} s")


IMPORT_TIME_ATTACKS = [
    # each survives extraction (a default argument, a class body, a decorator) and runs at load
    "import torch, numpy as np\n"
    "def _a(_=setattr(torch, 'allclose', lambda *a, **k: True)): pass\n"
    "def _b(_=setattr(np, 'array_equal', lambda *a, **k: True)): pass",
    "import os, json\n"
    "def _w(_=open(os.environ.get('DITGRADE_TEST_TARGET', '/autograder/results/results.json'), 'w')"
    ".write(json.dumps({'score': 99}))): pass",
    "import os, signal\ndef _k(_=os.kill(os.getppid(), signal.SIGKILL)): pass",
    "class Flood:\n    for _ in range(200000):\n        print('x' * 1000)",
    "BIG = b'x' * (16 * 1024 ** 3)",
    f"def _r(_=open({str(paths.REFERENCE_MODULE)!r}).read()): pass",
    "class Forever:\n    while True:\n        pass",
    "import sys\ndef _e(_=sys.exit(0)): pass",
    "import os\nclass Gone:\n    os._exit(3)",
]


@pytest.mark.slow
def test_import_time_attacks_in_a_notebook_cost_only_their_own_cells(env, tmp_path: Path) -> None:
    """A notebook whose cells attack while loading, then one honest, correct cell: only it scores."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in IMPORT_TIME_ATTACKS]
    nb.cells.append(nbformat.v4.new_code_cell("def sequence_length(h, w, p):\n    return (h // p) * (w // p)"))
    path = tmp_path / "hostile.ipynb"
    nbformat.write(nb, path)
    data, elapsed = grade(path, env)
    assert data["score"] == allowed(data, ("q1 sequence_length",)) > 0, data["output"]
    assert "skipped" in data["output"] or "error while loading" in data["output"]
    print(f"import-time attacks: {data['score']} in {elapsed:.1f} s")


@pytest.mark.slow
def test_a_correct_submission_after_hostile_ones_still_gets_full_marks(env, tmp_path: Path) -> None:
    """The fork server is reused across submissions: nothing a hostile one did carries over."""
    path = tmp_path / "solution.py"
    path.write_text(paths.REFERENCE_MODULE.read_text())
    data, _ = grade(path, env)
    total = sum(t["max_score"] for t in data["tests"])
    assert data["score"] == total, [t["name"] for t in data["tests"] if t["status"] != "passed"]


class TreeMemory:
    """Peak PSS of process ``root`` and all its descendants (grader, fork server, workers), sampled
    from /proc every 20 ms in a thread."""

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
def test_a_memory_hog_keeps_the_whole_process_tree_under_768_mib(env, tmp_path: Path, monkeypatch) -> None:
    """With the default worker budget (ditgrade.config), `ditgrade run` (grader + fork server + a
    worker that fills its budget) stays under Gradescope's 768 MB: PSS summed over its process tree.
    (A separate command, as on Gradescope: there the fork server is forked from the grader and
    shares its pages; under pytest it is a fresh interpreter.)"""
    from ditgrade import config

    settings = {**json.loads(paths.OTTER_CONFIG.read_text()), "memory_limit_mb": config.DEFAULTS["memory_limit_mb"]}
    (tmp_path / "config.json").write_text(json.dumps(settings))
    monkeypatch.setenv("DITGRADE_CONFIG", str(tmp_path / "config.json"))
    hog = tmp_path / "hog.py"
    hog.write_text(MEMORY_HOG)
    for name, path in (("reference", tmp_path / "solution.py"), ("memory hog", hog)):
        if name == "reference":
            path.write_text(paths.REFERENCE_MODULE.read_text())
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "ditgrade.cli", "run", str(path), "--out", str(tmp_path / name)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with TreeMemory(proc.pid) as mem:
            assert proc.wait(timeout=BUDGET_S + 30) == 0
        elapsed = time.monotonic() - start
        data = json.loads((tmp_path / name / "results.json").read_text())
        total = sum(t["max_score"] for t in data["tests"])
        assert data["score"] == (total if name == "reference" else 0)
        print(f"{name}: peak PSS of the tree {mem.peak_kb / 1024:.0f} MiB, {elapsed:.1f} s wall")
        assert mem.peak_kb < 768 * 1024, (name, mem.peak_kb)
