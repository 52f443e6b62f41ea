"""Gradescope's autograder.zip: reproducible, complete, and its run_autograder always leaves a valid
results.json (run here against a simulated /autograder tree with this interpreter; setup.sh's pip
installs are not run)."""

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

from ditgrade import paths
from ditgrade.gradescope import build_autograder_zip, pick_submission

QUESTIONS = ("q1", "q2", "q3", "q4", "q5")
HOSTILE = '''
import glob, json, os
def patchify(z, p):
    root = os.environ.get("DITGRADE_AUTOGRADER_ROOT", "/autograder")
    with open(os.path.join(root, "results", "results.json"), "w") as f:
        json.dump({"score": 1000, "tests": []}, f)
    return z
def sequence_length(h, w, p):
    root = os.environ.get("DITGRADE_AUTOGRADER_ROOT", "/autograder")
    return len(glob.glob(os.path.join(root, "source", "**", "*.py"), recursive=True))
'''


def test_two_builds_are_byte_identical_and_hold_everything(tmp_path: Path) -> None:
    a, b = build_autograder_zip(tmp_path / "a.zip"), build_autograder_zip(tmp_path / "b.zip")
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        infos = {i.filename: i for i in z.infolist()}
    assert list(infos) == sorted(infos)
    for name in ("setup.sh", "run_autograder", "requirements.txt", "otter_config.json", "pyproject.toml",
                 "autograder/ditgrade/run.py", "autograder/ditgrade/reference.py", "autograder/ditgrade/suite.py"):
        assert name in infos, name
    assert any(n.startswith("autograder/ditgrade/hidden/q1") for n in infos)
    assert not any("__pycache__" in n or n.endswith(".pyc") or "egg-info" in n for n in infos)
    for name, info in infos.items():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        mode = stat.S_IMODE(info.external_attr >> 16)
        assert mode == (0o755 if name in ("setup.sh", "run_autograder") else 0o644), (name, oct(mode))
    with zipfile.ZipFile(a) as z:
        setup = z.read("setup.sh").decode()
        reqs = z.read("requirements.txt").decode()
    assert "torch==2.13.0" in setup and "download.pytorch.org/whl/cpu" in setup and "pip install" in setup
    assert "diffusers==0.42.1" in reqs


def test_pick_submission(tmp_path: Path) -> None:
    assert pick_submission(tmp_path) is None
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "extra.py").write_text("x = 1")
    assert pick_submission(tmp_path).name == "extra.py"
    (tmp_path / "export.zip").write_bytes(b"PK")
    assert pick_submission(tmp_path).name == "export.zip"
    (tmp_path / "mine.ipynb").write_text("{}")
    assert pick_submission(tmp_path).name == "mine.ipynb"
    (tmp_path / "dit_assignment.ipynb").write_text("{}")
    assert pick_submission(tmp_path).name == "dit_assignment.ipynb"


@pytest.fixture(scope="module")
def autograder_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gs") / "autograder"
    (root / "source").mkdir(parents=True)
    z = build_autograder_zip(root.parent / "autograder.zip")
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
                          text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((root / "results" / "results.json").read_text())
    assert isinstance(data["score"], (int, float)) and isinstance(data["tests"], list)
    return data, proc.stdout


def check_schema(data: dict) -> None:
    assert {"score", "execution_time", "output", "stdout_visibility", "tests"} <= set(data)
    for t in data["tests"]:
        assert t["name"].startswith(QUESTIONS), t["name"]
        assert t["status"] in ("passed", "failed")
        assert t["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
        assert 0 <= t["score"] <= t["max_score"]
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-6


@pytest.mark.slow
def test_run_autograder_on_a_correct_a_broken_and_a_hostile_submission(autograder_root: Path) -> None:
    root = autograder_root
    correct, out = run_autograder(root, {"solution.py": paths.REFERENCE_MODULE.read_bytes()})
    check_schema(correct)
    total = sum(t["max_score"] for t in correct["tests"])
    assert total > 0 and correct["score"] == total, [t for t in correct["tests"] if t["status"] != "passed"][:3]
    assert "q1" in out and "total" in out
    assert stat.S_IMODE((root / "source").stat().st_mode) & 0o077 == 0  # source is root's only

    broken, _ = run_autograder(root, {"dit_assignment.ipynb": b"\x00\xffnot a notebook"})
    check_schema(broken)
    assert broken["score"] == 0 and "could not be read" in broken["output"]
    assert len(broken["tests"]) == len(correct["tests"])

    nothing, _ = run_autograder(root, {"README.txt": b"hello"})
    check_schema(nothing)
    assert nothing["score"] == 0 and "no notebook" in nothing["output"]

    hostile, _ = run_autograder(root, {"attack.py": HOSTILE.encode()})
    check_schema(hostile)
    assert hostile["score"] < 1000 and hostile["score"] <= 2, hostile["score"]
    assert all(t["status"] == "failed" for t in hostile["tests"] if "patchify" in t["name"].lower())


@pytest.mark.slow
def test_a_grader_that_cannot_start_still_leaves_a_valid_results_json(autograder_root: Path) -> None:
    data, _ = run_autograder(autograder_root, {"solution.py": b"x = 1\n"}, python="/bin/false")
    assert data["score"] == 0 and "course staff" in data["output"]
    broken_python = autograder_root / "fake-python"
    # the grader crashes (here: before it can write anything); the fallback still explains it
    broken_python.write_text('#!/bin/sh\ncase "$*" in *ditgrade.cli*) echo "Traceback: boom" >&2; exit 3;; esac\n'
                             f'exec {sys.executable} "$@"\n')
    broken_python.chmod(0o755)
    data, _ = run_autograder(autograder_root, {"solution.py": b"x = 1\n"}, python=str(broken_python))
    assert data["score"] == 0 and "course staff" in data["output"] and "boom" in data["output"]
