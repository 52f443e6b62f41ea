"""The ``ditgrade`` command: results.json's schema and what students see in it, exit codes and
messages, stdout for results and stderr for logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ditgrade import __version__
from ditgrade.cli import main
from ditgrade.core.results import STAFF_TEST

REPO = Path(__file__).resolve().parent.parent
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ditgrade", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def check_schema(data: dict) -> None:
    assert {"score", "execution_time", "output", "stdout_visibility", "tests"} <= set(data)
    for t in data["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert t["status"] in ("passed", "failed") and t["visibility"] in VISIBILITIES
        assert 0 <= t["score"] <= t["max_score"] + 1e-9
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-3


@pytest.mark.slow
def test_a_correct_notebook_as_gradescope_would_show_it(tmp_path: Path, assignment, full_marks) -> None:
    """Public checks visible, hidden tests after publication, staff notes in a hidden entry only."""
    proc = run_cli("run", "solutions/dit_assignment.ipynb", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "results.json").read_text())
    check_schema(data)
    cfg = assignment.project.config
    hidden = [t for t in data["tests"] if "public checks" not in t["name"] and t["name"] != STAFF_TEST]
    public = [t for t in data["tests"] if "public checks" in t["name"]]
    staff = [t for t in data["tests"] if t["name"] == STAFF_TEST]
    assert data["score"] == sum(t["max_score"] for t in hidden) == full_marks
    assert {t["visibility"] for t in hidden} == {cfg.hidden_test_visibility}
    assert len(public) == 5 and {t["visibility"] for t in public} == {cfg.public_test_visibility}
    assert all(t["status"] == "passed" and t["max_score"] == 0 for t in public)
    assert len(staff) == 1 and staff[0]["visibility"] == "hidden" and "Sandbox:" in staff[0]["output"]
    for word in ("Sandbox", "namespace", "GPU", "Landlock"):  # staff matters stay out of what students read
        assert word not in data["output"], data["output"]
    assert f"hidden tests ({full_marks:g} points) were run" in data["output"]
    for q in ("q1", "q2", "q3", "q4", "q5"):
        assert any(line.startswith(q) for line in proc.stdout.splitlines()), proc.stdout
    assert "results:" in proc.stderr and "results:" not in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith(f"total {full_marks:g}/{full_marks:g} in ")


BROKEN = {
    "empty.ipynb": (json.dumps(nbformat.v4.new_notebook()), "no code was found"),
    "garbage.ipynb": ("{not json", "not valid JSON"),
    "binary.py": (b"\x00\xff\xfe", "not UTF-8"),
    "stubs.py": ("def patchify(z, p):\n    raise NotImplementedError('TODO(q1)')\n", "not implemented yet"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_submissions_score_zero_with_a_reason_and_exit_0(tmp_path: Path, capsys, name: str) -> None:
    content, reason = BROKEN[name]
    sub = tmp_path / name
    sub.write_bytes(content if isinstance(content, bytes) else content.encode())
    code = main(["run", str(sub), "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    check_schema(data)
    assert code == 0 and data["score"] == 0
    assert reason in data["output"] or reason in printed, (data["output"], printed)


def test_a_load_error_cannot_forge_the_graders_lines(tmp_path: Path, capsys, full_marks) -> None:
    """The issue's attack through the real grader: a load error of 70 newlines and a fake summary.
    The student's text is one marked line; the last line printed is the grader's total, 0."""
    sub = tmp_path / "attack.py"
    sub.write_text('def _boom():\n    raise ValueError("\\n" * 70 + "q1    10/10\\ntotal 46.0/46.0 in 0.1 s")\n\n\n'
                   "X = _boom()\n")
    assert main(["run", str(sub), "-o", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith(f"total 0/{full_marks:g} in "), lines[-3:]
    forged = [line for line in lines if "total 46.0/46.0" in line]
    assert len(forged) == 1 and forged[0].startswith("    > file, line 5 `X = _boom()` raised ValueError: "
                                                     + "\\n" * 70), forged
    assert not any(line.startswith("q1    10/10") for line in lines)


def test_a_folder_with_two_notebooks_is_not_graded_on_a_guess(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "submission"
    folder.mkdir()
    for name in ("try1.ipynb", "try2.ipynb"):
        (folder / name).write_text("{}")
    assert main(["run", str(folder), "--out", str(tmp_path / "out")]) == 0
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    check_schema(data)
    assert data["score"] == 0 and "try1.ipynb, try2.ipynb" in data["extra_data"]["ditgrade"]["unreadable"]
    assert "rename the one to grade dit_assignment.ipynb" in data["output"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2].startswith("UNREADABLE: the submission holds 2 notebooks") and printed[-1].startswith("total 0/0")


def test_a_failing_top_level_statement_is_named_where_a_test_needed_it(tmp_path: Path) -> None:
    """A loop that fills a table fails half-way: the test that needed the table says which statement
    did not run to its end and why, whatever its own error (here a bare KeyError)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("SCALE = {}\nfor k in range(4):\n    SCALE[k] = 1 / (2 - k)"),
                nbformat.v4.new_code_cell("def sequence_length(h, w, p):\n    return (h // p) * (w // p) * SCALE[3]"),
                nbformat.v4.new_code_cell("unrelated = 1 / 0")]
    nbformat.write(nb, tmp_path / "s.ipynb")
    assert main(["run", str(tmp_path / "s.ipynb"), "--out", str(tmp_path / "o")]) == 0
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    test = next(t for t in data["tests"] if t["name"].startswith("q1 sequence_length"))
    assert "KeyError: 3" in test["output"], test["output"]
    assert "cell 1, line 2 `for k in range(4):` raised ZeroDivisionError" in test["output"], test["output"]
    assert "unrelated" not in test["output"]  # it binds nothing sequence_length uses
    assert "cell 3, line 1 `unrelated = 1 / 0` raised ZeroDivisionError" in data["output"]


@pytest.mark.slow
def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    proc = run_cli("run", str(tmp_path / "missing.ipynb"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr and not (tmp_path / "out").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("run", "examples/submissions/carol_correct.ipynb", "--out", str(blocker / "out"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot write" in proc.stderr
    proc = run_cli("grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g"))
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr and not (tmp_path / "g").exists()
    (tmp_path / "empty").mkdir()
    proc = run_cli("grade", str(tmp_path / "empty"), "--out", str(tmp_path / "g"))
    assert proc.returncode == 2 and "no submissions found" in proc.stderr and not (tmp_path / "g").exists()
    proc = run_cli("build", cwd=tmp_path)
    assert proc.returncode == 2 and "not inside a ditgrade project" in proc.stderr
    for option, value, why in (("--max-jobs", "0", "0 is less than 1"), ("--per-job", "-3", "-3 is less than 1"),
                               ("-j", "two", "'two' is not a whole number"), ("--time-limit", "0", "less than 1")):
        proc = run_cli("grade", "examples/submissions", "--out", str(tmp_path / "g"), option, value)
        assert proc.returncode == 2 and why in proc.stderr.splitlines()[-1] and not (tmp_path / "g").exists()


def test_version_help_and_description() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"ditgrade {__version__}"
    for command in ("build", "run", "grade", "release"):
        text = run_cli(command, "--help").stdout
        assert "example" in text and f"ditgrade {command}" in text, (command, text)
        assert "``" not in text, text
    assert "``" not in run_cli("--help").stdout
    from importlib.metadata import metadata

    assert "``" not in metadata("ditgrade")["Summary"]


@pytest.mark.slow
def test_grade_json_summary_and_exit_code(tmp_path: Path, full_marks) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "bob.py").write_bytes((REPO / "examples/submissions/bob_correct_unfold.py").read_bytes())
    proc = run_cli("grade", str(subs), "--out", str(tmp_path / "out"), "-j", "1", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["scores"] == {"bob": full_marks} and summary["failed"] == [] and summary["unreadable"] == {}
    assert f"[1/1] bob: {full_marks:g}" in proc.stderr


def test_an_unreadable_file_is_reported_as_such(tmp_path: Path, capsys, monkeypatch) -> None:
    """When extraction says a file could not be read (``extra_data.ditgrade.unreadable``), ``run``
    says so, with the reason, just above the total; results.json keeps the reason for the student."""
    from ditgrade import grading as grade
    from ditgrade.core.results import unreadable_results

    monkeypatch.setattr(grade, "grade_submission", lambda path, **kw: unreadable_results("the file is empty"))
    sub = tmp_path / "dit_assignment.ipynb"
    sub.write_bytes(b"")
    assert main(["run", str(sub), "-o", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "UNREADABLE: the file is empty: nothing was graded" and lines[-1].startswith("total 0/0")
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    check_schema(data)
    assert "the file is empty" in data["output"] and data["extra_data"]["ditgrade"]["file"] == "dit_assignment.ipynb"


def test_otter_users_conventions(tmp_path: Path, capsys, monkeypatch) -> None:
    """--project and -v before or after the subcommand, -o for --out (otter's spellings)."""
    from ditgrade import grading as grade
    from ditgrade.core.results import unreadable_results

    monkeypatch.setattr(grade, "grade_submission", lambda path, **kw: unreadable_results("the file is empty"))
    sub = tmp_path / "s.py"
    sub.write_text("")
    monkeypatch.chdir(tmp_path)  # not in a project: --project must be what finds it
    for argv in (["--project", str(REPO), "run", str(sub), "-o", "a"], ["run", str(sub), "-o", "b", "--project", str(REPO)],
                 ["-v", "run", str(sub), "--out", "c", "--project", str(REPO)], ["run", "-v", str(sub), "-o", "d",
                                                                                 "--project", str(REPO)]):
        assert main(argv) == 0, argv
        assert (tmp_path / argv[argv.index("-o") + 1 if "-o" in argv else argv.index("--out") + 1] / "results.json").is_file()
    capsys.readouterr()
    proc = run_cli("run", "--help")
    assert "-o OUT, --out OUT" in proc.stdout and "--project DIR" in proc.stdout and "-v, --verbose" in proc.stdout


def test_verbose_lists_every_test() -> None:
    from ditgrade.core.results import Grade, summary

    tests = [{"name": f"q1 t{i}", "score": float(i), "max_score": 1.0, "status": "passed" if i else "failed",
              "output": "passed" if i else "wrong\nshape", "visibility": "visible"} for i in range(2)]
    data = Grade.from_gradescope({"score": 1.0, "execution_time": 0.5, "output": "", "tests": tests})
    assert summary(data, ["q1"]).splitlines() == ["q1    1/2           first failure: q1 t0: wrong", "total 1/2 in 0.5 s"]
    verbose = summary(data, ["q1"], verbose=True).splitlines()
    assert verbose[1:3] == ["      FAIL q1 t0: wrong", "      PASS q1 t1"]
