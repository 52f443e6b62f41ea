"""Gradescope's autograder.zip: reproducible, complete, and its run_autograder always leaves a valid
results.json (run here against a simulated /autograder tree with this interpreter; setup.sh's own
installs are proven in a clean OS root by tests/test_clean_root.py)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ditgrade.core.results import STAFF_TEST
from ditgrade.packaging.gradescope import build_autograder_zip

HOSTILE = '''
import glob, json, os
def patchify(z, p):
    root = os.environ.get("DITGRADE_AUTOGRADER_ROOT", "/autograder")
    with open(os.path.join(root, "results", "results.json"), "w") as f:
        json.dump({"score": 1000, "tests": []}, f)
    return z
def sequence_length(h, w, p):
    return len(glob.glob("/**/hidden/*.py", recursive=True)) + 10**6
'''


def test_two_builds_are_byte_identical_and_hold_everything(tmp_path: Path, assignment) -> None:
    a = build_autograder_zip(tmp_path / "a.zip", assignment.project)
    b = build_autograder_zip(tmp_path / "b.zip", assignment.project)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        infos = {i.filename: i for i in z.infolist()}
        setup = z.read("setup.sh").decode()
    assert list(infos) == sorted(infos)
    for name in ("setup.sh", "run_autograder", "requirements.txt", "otter_config.json", "pyproject.toml",
                 "autograder/ditgrade/grading.py", "autograder/dit/generated/reference.py",
                 "autograder/dit/generated/assignment.json", "autograder/dit/hidden/q1_patchify.py",
                 "autograder/dit/requirements.txt"):
        assert name in infos, name
    assert not any("__pycache__" in n or n.endswith(".pyc") or "/bank/" in n for n in infos)
    for name, info in infos.items():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert stat.S_IMODE(info.external_attr >> 16) == (0o755 if name in ("setup.sh", "run_autograder") else 0o644)
    assert "torch==$TORCH_VERSION+cpu" in setup and "TORCH_VERSION=2.13.0" in setup and "pip install" in setup
    with zipfile.ZipFile(a) as z:  # the engine's requirements, and the assignment's in its own folder
        assert b"diffusers" not in z.read("requirements.txt") and b"diffusers==" in z.read("autograder/dit/requirements.txt")


@pytest.fixture(scope="module")
def autograder_root(tmp_path_factory, assignment) -> Path:
    root = tmp_path_factory.mktemp("gs") / "autograder"
    (root / "source").mkdir(parents=True)
    z = build_autograder_zip(root.parent / "autograder.zip", assignment.project)
    with zipfile.ZipFile(z) as zf:
        zf.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)
    return root


def run_autograder(root: Path, files: dict[str, bytes], python: str = sys.executable) -> tuple[dict, str]:
    sub = root / "submission"
    shutil.rmtree(sub, ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    sub.mkdir()
    for name, data in files.items():
        (sub / name).write_bytes(data)
    env = {**os.environ, "DITGRADE_AUTOGRADER_ROOT": str(root), "DITGRADE_PYTHON": python,
           "DITGRADE_VENV": str(root / "no-venv")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    assert isinstance(data["score"], (int, float)) and isinstance(data["tests"], list)
    log = (root / "results" / "grader_log.txt").read_text() if (root / "results" / "grader_log.txt").exists() else ""
    return data, log


@pytest.mark.slow
def test_run_autograder_on_a_correct_a_broken_an_empty_and_a_hostile_submission(autograder_root: Path,
                                                                                  assignment) -> None:
    root = autograder_root
    notebook = (assignment.project.solutions / "dit_assignment.ipynb").read_bytes()
    correct, log = run_autograder(root, {"dit_assignment.ipynb": notebook, "notes.txt": b"x"})
    graded = [t for t in correct["tests"] if t["name"] != STAFF_TEST]
    full = sum(assignment.points.values())
    assert correct["score"] == sum(t["max_score"] for t in graded) == full, [t for t in graded if t["status"] != "passed"]
    assert "q1" in log and "total" in log
    assert stat.S_IMODE((root / "source").stat().st_mode) & 0o077 == 0  # the source is root's only

    broken, _ = run_autograder(root, {"dit_assignment.ipynb": b"\x00\xffnot a notebook"})
    assert broken["score"] == 0 and "could not be read" in broken["output"]
    nothing, _ = run_autograder(root, {"README.txt": b"hello"})
    assert nothing["score"] == 0 and "no notebook" in nothing["output"]
    hostile, _ = run_autograder(root, {"attack.py": HOSTILE.encode()})
    assert hostile["score"] == 0, [t["name"] for t in hostile["tests"] if t["status"] == "passed"]


@pytest.mark.slow
def test_a_grader_that_cannot_start_still_leaves_a_valid_results_json(autograder_root: Path) -> None:
    data, _ = run_autograder(autograder_root, {"solution.py": b"x = 1\n"}, python="/bin/false")
    assert data["score"] == 0 and "course staff" in data["output"]
    broken_python = autograder_root / "fake-python"
    # the grader crashes before it can write anything; the fallback still explains it, to staff
    broken_python.write_text('#!/bin/sh\ncase "$*" in *" run "*) echo "Traceback: boom" >&2; exit 3;; esac\n'
                             f'exec {sys.executable} "$@"\n')
    broken_python.chmod(0o755)
    data, _ = run_autograder(autograder_root, {"solution.py": b"x = 1\n"}, python=str(broken_python))
    staff = next(t for t in data["tests"] if t["name"] == STAFF_TEST)
    assert data["score"] == 0 and "course staff" in data["output"] and "boom" in staff["output"]
    assert "boom" not in data["output"]  # the log is for staff
