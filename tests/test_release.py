"""``ditgrade release``: the zips are reproducible and hold no secret line, each gate can fail and
names what failed, the generated files must be current and committed, an unchanged re-release
reuses the kept verdicts, and on the project as it is every gate passes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ditgrade.cli import main
from ditgrade.core.assignment import Assignment
from ditgrade.core.errors import NOT_IMPLEMENTED, TIMEOUT
from ditgrade.core.results import Grade, TestOutcome
from ditgrade.packaging import gates, release
from ditgrade.packaging.audit_worker import Outcome
from ditgrade.packaging.zips import ZIP_EPOCH, write_zip
from ditgrade.project import Project

TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_course"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ditgrade", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=900)


def git(course: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=course, check=True,
                   capture_output=True)


def test_packages_are_reproducible_and_the_student_one_holds_no_secret(tmp_path: Path, assignment) -> None:
    a = release.build_packages(assignment, tmp_path / "a")
    b = release.build_packages(assignment, tmp_path / "b")
    assert sorted(a) == ["autograder", "solutions", "student"]
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    with zipfile.ZipFile(a["student"]) as z:
        names = z.namelist()
        assert "dit_assignment/dit_assignment.ipynb" in names and "dit_assignment/tests/q1.py" in names
        assert all(i.date_time == ZIP_EPOCH for i in z.infolist())
    with zipfile.ZipFile(a["autograder"]) as z:
        names = z.namelist()
    assert "autograder/dit/generated/reference.py" in names and not any("/bank/" in n for n in names)
    master = assignment.project.master
    assert gates.gate_no_leak(a["student"], assignment, master).passed
    assert not gates.gate_no_leak(a["solutions"], assignment, master).passed  # the check has teeth


def test_a_leaked_line_fails_no_leak_naming_the_file(tmp_path: Path, assignment) -> None:
    line = next(s for s in gates.secret_lines(assignment, assignment.project.master)["reference.py"] if len(s) > 30)
    leaky = write_zip([("dit_assignment/tests/q1.py", f"# {line}\n{line}\n".encode())], tmp_path / "leaky.zip")
    gate = gates.gate_no_leak(leaky, assignment, assignment.project.master)
    assert not gate.passed and "tests/q1.py" in gate.evidence


def _results(per_question: dict[str, tuple[float, float]], kind: str = "failed", output: str = "") -> Grade:
    """A grade with one test per question; the failing ones ended as ``kind`` saying ``output``."""
    return Grade(tests=tuple(TestOutcome(f"{q} t", s, m, "passed" if s >= m else kind, output if s < m else "",
                                         "visible") for q, (s, m) in per_question.items()))


def test_the_grading_gates_fail_and_say_why() -> None:
    full = _results({"q1": (10, 10), "q2": (12, 12)})
    assert gates.gate_reference(full).passed
    assert not gates.gate_reference(_results({"q1": (9, 10), "q2": (12, 12)})).passed
    bad = {Path("correct_a.ipynb"): gates.full_marks(full), Path("correct_b.ipynb"): gates.full_marks(_results({"q1": (5, 10)})),
           Path("style_c.py"): gates.full_marks_in_process(Outcome("style:c", ran=41))}
    gate = gates.gate_correct(bad)
    assert not gate.passed and "2/3" in gate.evidence and "correct_b" in gate.evidence
    slow = gates.full_marks_in_process(Outcome("style:d", kind="timeout", output="the grading worker died"))
    assert slow[0] is False and "timeout" in slow[1]
    mistakes = {Path("mistake_q1_a.ipynb"): _results({"q1": (5, 10), "q2": (12, 12)}),
                Path("mistake_q2_spills.ipynb"): _results({"q1": (5, 10), "q2": (6, 12)}),
                Path("mistake_q1_invisible.ipynb"): full}
    gate = gates.gate_mistakes(mistakes, {"mistake_q1_invisible": "needs a GPU"})
    assert not gate.passed and "mistake_q2_spills.ipynb (q2) also loses points in q1" in gate.evidence
    assert "1 need a GPU" in gate.evidence
    assert gates.gate_template(_results({"q1": (0, 10)}, NOT_IMPLEMENTED, "patchify: not implemented yet")).passed
    timed_out = gates.gate_template(_results({"q1": (0, 10)}, TIMEOUT, "patchify(z=...): used more than 20 s of CPU"))
    assert not timed_out.passed and "timeout" in timed_out.evidence


@pytest.mark.slow
def test_a_mislabelled_mutant_fails_the_gate(tmp_path: Path, assignment, monkeypatch) -> None:
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "mutants.py").write_text(
        "from ditgrade.packaging.mutate import Mutant\n"
        "MUTANTS = (Mutant('q1_mislabelled', 'q1', 'a q5 mistake filed under q1', 'cfg_combine',\n"
        "                  'return eps_uncond + scale * (eps_cond - eps_uncond)', 'return 0 * eps_cond'),\n"
        "           Mutant('gone', 'q1', 'its code is not in the reference', 'patchify', 'x = y', 'x = z'))\n")
    monkeypatch.setattr(type(assignment), "bank_dir", property(lambda self: bank))
    gate = gates.gate_mutants(assignment, assignment.reference_path.read_text(), jobs=1)
    assert not gate.passed and "0/2" in gate.evidence and "+1 more" in gate.evidence
    # only q5's tests reach cfg_combine; they run first (its own question q1 last) and catch it there
    assert "q1_mislabelled (q1): also loses points in q5" in gate.evidence, gate.evidence
    rows = {r["name"]: r for r in gate.details["mutants"]}
    assert "occurs 0 times in patchify" in rows["gone"]["problem"]
    assert rows["q1_mislabelled"]["ran"] == 1 and rows["q1_mislabelled"]["skipped"] > 30


@pytest.mark.slow
def test_release_passes_every_gate_on_the_project(tmp_path: Path, capsys) -> None:
    """The real thing: the notebooks graded in the sandbox, the whole bank, Gradescope's zip."""
    rc = main(["release", "--out", str(tmp_path / "dist"), "-j", "2"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    for gate in release.GATES:
        assert f"PASS  {gate}" in captured.err, captured.err
    assert "[9/9]" in captured.err
    for name in ("dit_assignment_student.zip", "dit_assignment_solutions.zip", "autograder.zip"):
        assert (tmp_path / "dist" / name).is_file()


@pytest.mark.slow
def test_up_to_date_means_committed_in_a_git_checkout_and_a_refusal_builds_nothing(tmp_path: Path) -> None:
    course = tmp_path / "tiny"
    shutil.copytree(TINY, course)
    assert cli("build", cwd=course).returncode == 0
    up_to_date = lambda: release.gate_up_to_date(Assignment.load(Project(course)))  # noqa: E731
    gate = up_to_date()
    assert gate.passed and "not a git checkout" in gate.evidence  # outside git: the files on disk
    git(course, "init", "-q")
    git(course, "add", "-A")
    git(course, "commit", "-q", "-m", "the course")
    gate = up_to_date()
    assert gate.passed and "are committed" in gate.evidence, gate.evidence
    # what the issue saw: files exactly as the master builds them, but never committed
    git(course, "rm", "-r", "-q", "--cached", "solutions")
    git(course, "commit", "-q", "-m", "solutions forgotten")
    gate = up_to_date()
    assert not gate.passed and "not committed: solutions/" in gate.evidence, gate.evidence
    proc = cli("release", "--out", "dist", cwd=course)
    assert proc.returncode == 1 and "[1/9] FAIL  up-to-date" in proc.stderr
    assert "no package was built" in proc.stdout and not (course / "dist").exists(), proc.stdout


@pytest.mark.slow
def test_an_unchanged_release_reuses_the_kept_verdicts_and_a_change_regrades_what_it_touches(tmp_path: Path) -> None:
    course = tmp_path / "tiny"
    shutil.copytree(TINY, course)
    assert cli("build", cwd=course).returncode == 0
    proc = cli("release", "--out", "dist", "-j", "2", cwd=course)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "reused" not in proc.stderr and "[9/9]" in proc.stderr
    assert "notebooks: 2/2 graded" in proc.stderr and "in-process: 22/22 graded" in proc.stderr, proc.stderr
    start = time.monotonic()
    proc = cli("release", "--out", "dist", "-j", "2", cwd=course)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    grading = ("reference", "template", "mistakes", "correct", "mutants", "audit")
    for name in grading:
        assert any(name in line and "(reused: verdict of" in line for line in proc.stderr.splitlines()), name
    assert "graded" not in proc.stderr and f"reused {', '.join(grading)}" in proc.stdout, proc.stdout
    assert took < 60, took  # the gates' own seconds: building twice, no grading
    style = course / "autograder" / "tinyq" / "bank" / "styles" / "alt.py"
    style.write_text(style.read_text() + "\n# a comment changes the bytes\n")
    proc = cli("release", "--out", "dist", "-j", "2", cwd=course)
    assert proc.returncode == 0, proc.stderr[-3000:]
    regraded = [name for name in grading if not any(name in line and "reused" in line
                                                      for line in proc.stderr.splitlines())]
    assert regraded == ["correct"], proc.stderr
    proc = cli("release", "--out", "dist", "-j", "2", "--no-cache", cwd=course)
    assert proc.returncode == 0 and "reused" not in proc.stderr
