"""``ditgrade release``: every gate passes on the project as it is, the zips are reproducible and
hold no solution line, and a broken reference or a leaked line stops the release, naming the gate.
"""

from __future__ import annotations

import ast
import functools
import zipfile
from pathlib import Path

import nbformat
import pytest

from ditgrade import cli, paths, release
from ditgrade.student import InProcessRunner, namespace_from_source
from ditgrade.suite import run_suite


def inprocess_grade(path: str, *, gpu: bool = False, questions: tuple[str, ...] = ()) -> dict:
    """A stand-in for ditgrade.run.grade_submission on trusted files: the top-level imports and
    definitions of a .py file or of a notebook's code cells, graded in this process (only the
    tests of ``questions`` when given, to keep these tests quick)."""
    p = Path(path)
    cells = ([c.source for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code"]
             if p.suffix == ".ipynb" else [p.read_text()])
    kept = []
    for cell in cells:
        try:
            tree = ast.parse(cell)
        except SyntaxError:
            continue
        kept += [ast.get_source_segment(cell, n) for n in tree.body
                 if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))
                 and not (isinstance(n, ast.Import) and n.names[0].name == "otter")]
    only = (lambda t: t.question in questions) if questions else None
    results = run_suite(InProcessRunner(namespace_from_source("\n\n".join(kept))), only=only)
    tests = [{"name": r.name, "score": r.score, "max_score": r.max_score, "output": r.output,
              "status": "passed" if r.passed else "failed", "visibility": "visible"} for r in results]
    return {"score": sum(t["score"] for t in tests), "execution_time": 0.0, "output": "", "tests": tests}


def test_zips_are_reproducible_and_student_package_has_no_solution(tmp_path: Path) -> None:
    a = release.build_packages(tmp_path / "a")
    b = release.build_packages(tmp_path / "b")
    assert sorted(a) == ["autograder", "solutions", "student"]
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    with zipfile.ZipFile(a["student"]) as z:
        names = z.namelist()
        assert "dit_assignment/dit_assignment.ipynb" in names and "dit_assignment/tests/q1.py" in names
        assert all(i.date_time == release.ZIP_EPOCH for i in z.infolist())
    gate = release.gate_no_leak(a["student"])
    assert gate.passed, gate.evidence
    # The check has teeth: the solutions package is full of solution lines.
    assert not release.gate_no_leak(a["solutions"]).passed


def test_leaked_line_refuses_the_release(tmp_path: Path, monkeypatch, capsys) -> None:
    from ditgrade import build

    real_build = build.build
    solution_line = next(s for s in release._solution_lines(paths.MASTER_NOTEBOOK)[0] if len(s) > 30)

    def leaky_build(out_root: Path, **kw):
        built = real_build(out_root=out_root, **kw)
        with open(built["student_template"] / "tests" / "q1.py", "a") as f:
            f.write(f"\n# {solution_line}\n{solution_line}\n")
        return built

    monkeypatch.setattr(build, "build", leaky_build)
    gates, packages = release.release(tmp_path / "dist", gates=("no-leak",))
    assert [g.name for g in gates if not g.passed] == ["no-leak"]
    assert "tests/q1.py" in gates[0].evidence
    assert packages["student"].parent == tmp_path / "dist" / "rejected"
    assert not (tmp_path / "dist" / release.STUDENT_ZIP).exists()
    assert "FAIL  no-leak" in capsys.readouterr().out


def test_broken_reference_fails_its_gates(tmp_path: Path, monkeypatch) -> None:
    broken = tmp_path / "reference.py"
    broken.write_text(paths.REFERENCE_MODULE.read_text().replace(
        "return eps_uncond + scale * (eps_cond - eps_uncond)", "return eps_cond + scale * (eps_cond - eps_uncond)"))
    monkeypatch.setattr(paths, "REFERENCE_MODULE", broken)
    gate = release.gate_reference(functools.partial(inprocess_grade, questions=("q5",)))
    assert not gate.passed and "q5" in gate.evidence
    # A mutant filed under the wrong question fails the bank's gate.
    bank = tmp_path / "bank.py"
    bank.write_text(
        "from dataclasses import dataclass\n"
        "@dataclass(frozen=True)\nclass Mutant:\n    name: str\n    question: str\n    description: str\n"
        "    old: str\n    new: str\n"
        "MUTANTS = (Mutant('q1_mislabelled', 'q1', 'a q5 mistake filed under q1',\n"
        "                  'def cfg_combine(eps_cond, eps_uncond, scale):', "
        "'def cfg_combine(eps_cond, eps_uncond, scale):\\n    return 0 * eps_cond'),)\n"
        "def apply_mutant(source, m):\n    assert source.count(m.old) == 1\n    return source.replace(m.old, m.new)\n")
    gate = release.gate_mutants(bank, jobs=1)
    assert not gate.passed and "q1_mislabelled" in gate.evidence and "keeps full marks in q1" in gate.evidence


def test_template_gate_with_stand_in_grader(tmp_path: Path) -> None:
    gate = release.gate_template(inprocess_grade, paths.STUDENT_TEMPLATE_DIR / paths.NOTEBOOK_NAME)
    assert gate.passed, gate.evidence
    gate = release.gate_template(functools.partial(inprocess_grade, questions=("q3",)),
                                 paths.SOLUTIONS_DIR / paths.NOTEBOOK_NAME)
    assert not gate.passed and gate.evidence.startswith("8/8")


@pytest.mark.slow
def test_release_cli_all_gates_pass(tmp_path: Path, capsys) -> None:
    """The real thing: sandboxed grading, the whole mutation bank, Gradescope's zip."""
    rc = cli.main(["release", "--out", str(tmp_path / "dist")])
    text = capsys.readouterr().out
    assert rc == 0, text
    for gate in release.GATES:
        assert f"PASS  {gate}" in text, text
    for name in (release.STUDENT_ZIP, release.SOLUTIONS_ZIP, release.AUTOGRADER_ZIP):
        assert (tmp_path / "dist" / name).is_file()
