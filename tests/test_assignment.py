"""The assignment's notebooks: generated without drift from the master, no solution in the student's
copy, a first cell that sets up a fresh Colab runtime, prediction fields, and notebooks that run."""

from __future__ import annotations

import filecmp
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from ditgrade.packaging import otter_format
from ditgrade.packaging.build import build

REPO = Path(__file__).resolve().parent.parent
NB = "dit_assignment.ipynb"


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory, assignment) -> Path:
    out = tmp_path_factory.mktemp("build")
    build(assignment.project, out_root=out)
    return out


def _tree(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("folder", ["student_template", "solutions", "autograder/dit/generated"])
def test_generated_files_have_no_drift(rebuilt: Path, folder: str) -> None:
    committed, fresh = _tree(REPO / folder), _tree(rebuilt / folder)
    assert sorted(committed) == sorted(fresh), f"{folder}/ lists other files than `ditgrade build` makes"
    drifted = [name for name in fresh if not filecmp.cmp(committed[name], fresh[name], shallow=False)]
    assert not drifted, f"{folder}/ differs from the master notebook; run `ditgrade build`: {drifted}"


def test_no_solution_line_reaches_the_student_template() -> None:
    solution, _ = otter_format.solution_lines(nbformat.read(REPO / "assignment" / NB, as_version=4))
    assert len(solution) > 40, "the master notebook should hold the solutions"
    nb = nbformat.read(REPO / "student_template" / NB, as_version=4)
    template_lines = {line.strip() for c in nb.cells for line in c.source.splitlines()}
    for p in _tree(REPO / "student_template" / "tests").values():
        template_lines |= {line.strip() for line in p.read_text().splitlines()}
    leaked = [line for line in solution if line in template_lines and len(line) > 12]
    assert not leaked, f"solution lines found in student_template/: {leaked}"


def test_template_stubs_carry_todo_hints_and_solutions_read_as_plain_code() -> None:
    nb = nbformat.read(REPO / "student_template" / NB, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for q in ("q1", "q2", "q3", "q4", "q5"):
        assert f'NotImplementedError("TODO({q})' in source and f'grader.check("{q}")' in source
    assert "BEGIN SOLUTION" not in source and "BEGIN PROMPT" not in source
    solutions = "\n".join(c.source for c in nbformat.read(REPO / "solutions" / NB, as_version=4).cells)
    assert "BEGIN SOLUTION" not in solutions and "BEGIN PROMPT" not in solutions and "TODO(q" not in solutions


def test_the_first_code_cell_sets_up_a_fresh_runtime(monkeypatch, capsys) -> None:
    """On Colab (nothing of ours installed) it installs the pinned versions and says so; where
    everything is installed it installs nothing; then it starts otter."""
    import importlib.metadata
    import subprocess

    nb = nbformat.read(REPO / "student_template" / NB, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "pip" in first.source and first.source.rstrip().endswith('grader = otter.Notebook("dit_assignment.ipynb")')
    setup = first.source[: first.source.index("import otter")]
    for installed, expected in (({}, ["otter-grader==7.0.0", "diffusers==0.42.1", "safetensors", "matplotlib"]),
                                ({"otter-grader": "7.0.0", "diffusers": "0.42.1", "safetensors": "0.4",
                                  "matplotlib": "3.9"}, [])):
        calls = []

        def version(name, _installed=installed):
            if name not in _installed:
                raise importlib.metadata.PackageNotFoundError(name)
            return _installed[name]

        monkeypatch.setattr(importlib.metadata, "version", version)
        monkeypatch.setattr(subprocess, "check_call", lambda cmd, _calls=calls, **_: _calls.append(cmd))
        exec(compile(setup, "<first cell>", "exec"), {})
        assert (calls[0][-len(expected):] if calls else []) == expected
        assert ("Installing" in capsys.readouterr().out) == bool(expected)


def test_every_predict_prompt_has_a_field_for_the_answer() -> None:
    nb = nbformat.read(REPO / "student_template" / NB, as_version=4)
    prompts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "Predict before you run" in c.source]
    assert len(prompts) == 4
    for i in prompts:
        field = nb.cells[i + 1]
        assert field.cell_type == "markdown" and "prediction" in field.metadata.get("tags", [])
        assert re.match(r"\*\*Your predictions \(Exercise \d\):\*\*", field.source)


def _execute(folder: Path, tmp_path: Path, allow_errors: bool) -> nbformat.NotebookNode:
    import nbclient

    work = tmp_path / folder.name
    shutil.copytree(folder, work)
    nb = nbformat.read(work / NB, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(work)}}).execute()
    return nb


def _check_outputs(nb: nbformat.NotebookNode) -> dict[str, str]:
    """{question: text printed by its grader.check cell}"""
    out = {}
    for cell in nb.cells:
        m = re.fullmatch(r'grader\.check\("(q\d)"\)', cell.source.strip())
        if m:
            out[m.group(1)] = "".join(
                o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))
    return out


@pytest.mark.slow
def test_solutions_notebook_runs_on_cpu_and_passes_public_tests(tmp_path: Path) -> None:
    checks = _check_outputs(_execute(REPO / "solutions", tmp_path, allow_errors=False))
    assert sorted(checks) == ["q1", "q2", "q3", "q4", "q5"]
    for q, text in checks.items():
        assert "All test cases passed" in text, f"{q}: {text[:500]}"


@pytest.mark.slow
def test_template_runs_and_public_tests_fail_readably(tmp_path: Path) -> None:
    nb = _execute(REPO / "student_template", tmp_path, allow_errors=True)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors, "exploration cells should hit the unfinished stubs"
    assert all(e["ename"] == "NotImplementedError" and "TODO(q" in e["evalue"] for e in errors), [
        (e["ename"], e["evalue"]) for e in errors if e["ename"] != "NotImplementedError"]
    checks = _check_outputs(nb)
    assert sorted(checks) == ["q1", "q2", "q3", "q4", "q5"]
    for q, text in checks.items():
        assert f"{q} results:" in text and "All test cases passed" not in text, f"{q}: {text[:300]}"
        assert f"TODO({q})" in text, f"{q}'s failure should name the unfinished stub: {text[:500]}"
