"""`ditgrade run SUBMISSION --out DIR`: results.json in Gradescope's schema, exit 0 whenever grading
completed (empty, broken or hostile submissions score 0 with a reason), non-zero only when the
grader itself cannot run; and grade_submission reused across submissions in one process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from ditgrade import config, paths, sandbox
from ditgrade.cli import main

QUESTIONS = ("q1", "q2", "q3", "q4", "q5")
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def check_schema(data: dict) -> None:
    assert {"score", "execution_time", "output", "stdout_visibility", "tests"} <= set(data)
    assert data["tests"], "every hidden test is listed, also for a submission that scores 0"
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["name"].startswith(QUESTIONS) and t["status"] in ("passed", "failed")
        assert t["visibility"] in VISIBILITIES and 0 <= t["score"] <= t["max_score"]
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-6
    prot = data["extra_data"]["ditgrade"]["sandbox"]["protections"]
    assert prot["separate_process"] and "Sandbox:" in data["output"]


def run_cli(submission: Path, out: Path, capsys) -> tuple[int, dict, str]:
    code = main(["run", str(submission), "--out", str(out)])
    printed = capsys.readouterr().out
    return code, json.loads((out / "results.json").read_text()), printed


@pytest.mark.slow
def test_a_correct_submission_as_a_separate_command(tmp_path: Path) -> None:
    sub = tmp_path / "solution.py"
    sub.write_text(paths.REFERENCE_MODULE.read_text())
    proc = subprocess.run([sys.executable, "-m", "ditgrade.cli", "run", str(sub), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    check_schema(data)
    assert data["score"] == sum(t["max_score"] for t in data["tests"]) > 0
    cfg = config.load()
    assert {t["visibility"] for t in data["tests"]} == {cfg["hidden_test_visibility"]}
    assert data["stdout_visibility"] == cfg["stdout_visibility"]
    for q in QUESTIONS:  # the human summary: one line per question and the total
        assert any(line.startswith(q) for line in proc.stdout.splitlines()), proc.stdout
    assert "total" in proc.stdout and "network_namespace" in proc.stdout


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _nb(*cells: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nbformat.writes(nb).encode()


MALFORMED = {
    "empty.ipynb": (_nb(), "no functions or classes"),
    "garbage.ipynb": (b"\x89PNG\r\n\x1a\n\x00\x00garbage", "could not be read"),
    "useless.zip": (_zip({"readme.txt": b"hi", "data.csv": b"1,2"}), "no notebook"),
    "missing_functions.ipynb": (_nb("import torch\nX = 3\nprint(X)"), ""),
    "wrong_signatures.py": (b"def patchify(z):\n    return z\n\ndef sequence_length():\n    return 0\n", ""),
    "stub.ipynb": (_nb("def patchify(z, p):\n    raise NotImplementedError", "def generate(*a, **k):\n    ..."), ""),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_broken_submissions_score_zero_with_a_reason_and_exit_0(tmp_path: Path, capsys, name: str) -> None:
    data_bytes, reason = MALFORMED[name]
    sub = tmp_path / name
    sub.write_bytes(data_bytes)
    code, data, printed = run_cli(sub, tmp_path / "out", capsys)
    assert code == 0
    check_schema(data)
    assert data["score"] == 0
    assert reason in data["output"], data["output"]
    assert "total 0.0/" in printed and "first failure" in printed
    if name.startswith("missing"):
        assert "`patchify` is not defined" in printed


@pytest.mark.slow
def test_a_syntax_error_in_one_cell_costs_only_that_cell(tmp_path: Path, capsys) -> None:
    sub = tmp_path / "sub.ipynb"
    sub.write_bytes(_nb("def sequence_length(h, w, p):\n    return (h // p) * (w // p)",
                        "def patchify(z, p:\n    return z"))
    code, data, _ = run_cli(sub, tmp_path / "out", capsys)
    assert code == 0
    assert "cell 2: syntax error" in data["output"]
    passed = [t["name"] for t in data["tests"] if t["status"] == "passed"]
    assert passed and all(n.startswith("q1 sequence_length") for n in passed)


def test_a_missing_submission_is_graded_zero_and_no_output_folder_is_an_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["run", str(tmp_path / "sub.ipynb"), "--out", str(blocker / "out")]) != 0


@pytest.mark.slow
def test_grade_submission_reuses_its_fork_server(tmp_path: Path) -> None:
    from ditgrade.run import grade_submission

    sub = tmp_path / "sub.py"
    sub.write_text("def sequence_length(h, w, p):\n    return (h // p) * (w // p)\n")
    first = grade_submission(sub)
    pid = sandbox._SERVER.pid
    second = grade_submission(sub)
    assert sandbox._SERVER.pid == pid and sandbox._SERVER.alive()
    assert first["score"] == second["score"] > 0
    assert json.dumps(first)  # plain JSON data
