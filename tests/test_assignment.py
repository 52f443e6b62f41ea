"""The assignment itself: one master notebook, and everything derived from it stays in step.

* student_template/, solutions/ and the reference module regenerate byte for byte (no drift);
* no line of a solution reaches the student template;
* the solutions notebook runs end to end on a CPU and passes its public tests;
* the untouched template runs, and its public tests fail with readable "not implemented" messages.
"""

from __future__ import annotations

import filecmp
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from ditgrade import build, paths
from ditgrade.api import ALL_NAMES

NB = paths.NOTEBOOK_NAME


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rebuilt")
    build.build(out_root=out)
    return out


def _tree(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("folder", ["student_template", "solutions"])
def test_generated_folders_have_no_drift(rebuilt: Path, folder: str) -> None:
    committed, fresh = _tree(paths.REPO_ROOT / folder), _tree(rebuilt / folder)
    assert sorted(committed) == sorted(fresh), f"{folder}/ lists other files than `ditgrade build` makes"
    drifted = [name for name in fresh if not filecmp.cmp(committed[name], fresh[name], shallow=False)]
    assert not drifted, f"{folder}/ differs from the master notebook; run `ditgrade build`: {drifted}"


def test_reference_module_has_no_drift(rebuilt: Path) -> None:
    fresh = (rebuilt / "autograder" / "ditgrade" / "reference.py").read_text()
    assert paths.REFERENCE_MODULE.read_text() == fresh, "reference.py differs from the master notebook; run `ditgrade build`"


def test_reference_defines_the_whole_api() -> None:
    source = paths.REFERENCE_MODULE.read_text()
    for name in ALL_NAMES:
        assert re.search(rf"^(def|class) {name}\b", source, re.M), f"reference.py lacks {name}"


def _solution_lines(master: Path) -> list[str]:
    """Every line inside a `# BEGIN SOLUTION NO PROMPT` ... `# END SOLUTION` block of the master."""
    lines, inside = [], False
    for cell in nbformat.read(master, as_version=4).cells:
        for line in cell.source.splitlines():
            if line.strip() == "# BEGIN SOLUTION NO PROMPT":
                inside = True
            elif line.strip() == "# END SOLUTION":
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


def test_no_solution_line_reaches_the_student_template() -> None:
    solution = _solution_lines(paths.MASTER_NOTEBOOK)
    assert len(solution) > 40, "the master notebook should hold the solutions"
    template_text = "\n".join(
        line.strip() for p in _tree(paths.STUDENT_TEMPLATE_DIR).values() for line in p.read_text().splitlines()
    )
    template_lines = set(template_text.splitlines())
    # json-encoded notebook lines carry quotes and \n; compare against decoded sources too
    nb = nbformat.read(paths.STUDENT_TEMPLATE_DIR / NB, as_version=4)
    template_lines |= {line.strip() for c in nb.cells for line in c.source.splitlines()}
    # Lines that are not solutions anywhere (a bare `return x` also closes a given helper)
    leaked = [line for line in solution if line in template_lines and len(line) > 12]
    assert not leaked, f"solution lines found in student_template/: {leaked}"


def test_template_stubs_carry_todo_hints() -> None:
    nb = nbformat.read(paths.STUDENT_TEMPLATE_DIR / NB, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for q in ("q1", "q2", "q3", "q4", "q5"):
        assert f'NotImplementedError("TODO({q})' in source, f"the template has no TODO stub for {q}"
    assert "BEGIN SOLUTION" not in source and "BEGIN PROMPT" not in source
    for q in ("q1", "q2", "q3", "q4", "q5"):
        assert f'grader.check("{q}")' in source


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
                o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", [])
            )
    return out


@pytest.mark.slow
def test_solutions_notebook_runs_on_cpu_and_passes_public_tests(tmp_path: Path) -> None:
    nb = _execute(paths.SOLUTIONS_DIR, tmp_path, allow_errors=False)
    checks = _check_outputs(nb)
    assert sorted(checks) == ["q1", "q2", "q3", "q4", "q5"]
    for q, text in checks.items():
        assert "All test cases passed" in text, f"{q}: {text[:500]}"


@pytest.mark.slow
def test_template_runs_and_public_tests_fail_readably(tmp_path: Path) -> None:
    nb = _execute(paths.STUDENT_TEMPLATE_DIR, tmp_path, allow_errors=True)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # Exploration cells that call an unfinished stub stop with the stub's own TODO message, nothing else.
    assert errors, "exploration cells should hit the unfinished stubs"
    assert all(e["ename"] == "NotImplementedError" and "TODO(q" in e["evalue"] for e in errors), [
        (e["ename"], e["evalue"]) for e in errors if e["ename"] != "NotImplementedError"
    ]
    checks = _check_outputs(nb)
    assert sorted(checks) == ["q1", "q2", "q3", "q4", "q5"]
    for q, text in checks.items():
        assert f"{q} results:" in text and "All test cases passed" not in text, f"{q}: {text[:300]}"
        assert f"TODO({q})" in text, f"{q}'s failure should name the unfinished stub: {text[:500]}"
