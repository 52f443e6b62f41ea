"""``ditgrade release``: the zips are reproducible and hold no secret line, each gate can fail and
names what failed, and on the project as it is every gate passes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ditgrade.cli import main
from ditgrade.packaging import gates, release
from ditgrade.packaging.zips import ZIP_EPOCH, write_zip


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


def _results(per_question: dict[str, tuple[float, float]]) -> dict:
    tests = [{"name": f"{q} t", "score": s, "max_score": m, "status": "passed" if s >= m else "failed",
              "output": "", "visibility": "visible"} for q, (s, m) in per_question.items()]
    return {"score": sum(s for s, _ in per_question.values()), "tests": tests}


def test_the_grading_gates_fail_and_say_why() -> None:
    full = _results({"q1": (10, 10), "q2": (12, 12)})
    assert gates.gate_reference(full).passed
    assert not gates.gate_reference(_results({"q1": (9, 10), "q2": (12, 12)})).passed
    bad = {Path("correct_a.ipynb"): full, Path("correct_b.ipynb"): _results({"q1": (5, 10)})}
    gate = gates.gate_correct(bad)
    assert not gate.passed and "1/2" in gate.evidence and "correct_b" in gate.evidence
    mistakes = {Path("mistake_q1_a.ipynb"): _results({"q1": (5, 10), "q2": (12, 12)}),
                Path("mistake_q2_spills.ipynb"): _results({"q1": (5, 10), "q2": (6, 12)}),
                Path("mistake_q1_invisible.ipynb"): full}
    gate = gates.gate_mistakes(mistakes, {"mistake_q1_invisible": "needs a GPU"})
    assert not gate.passed and "mistake_q2_spills.ipynb (q2) also loses points in q1" in gate.evidence
    assert "1 need a GPU" in gate.evidence
    template = _results({"q1": (0, 10)})
    template["tests"][0]["output"] = "patchify(z=...): used more than 20 s of CPU time"
    assert not gates.gate_template(template).passed


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
    assert not gate.passed and "0/2" in gate.evidence
    assert "q1_mislabelled (q1): keeps full marks in q1" in gate.evidence and "+1 more" in gate.evidence


@pytest.mark.slow
def test_release_passes_every_gate_on_the_project(tmp_path: Path, capsys) -> None:
    """The real thing: the notebooks graded in the sandbox, the whole bank, Gradescope's zip."""
    rc = main(["release", "--out", str(tmp_path / "dist"), "-j", "2"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    for gate in release.GATES:
        assert f"PASS  {gate}" in captured.err, captured.err
    for name in ("dit_assignment_student.zip", "dit_assignment_solutions.zip", "autograder.zip"):
        assert (tmp_path / "dist" / name).is_file()
