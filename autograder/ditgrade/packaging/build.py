"""``ditgrade build``: generate everything that derives from the master notebook.

    assignment/<name>.ipynb --otter assign--> student_template/    what students get
                                              solutions/           the filled-in notebook and its tests
                            --this module---> <grading folder>/generated/
                                                  reference.py     the reference solution (graders only)
                                                  assignment.json  questions, points, graded names,
                                                                   the template's driver cells and given
                                                                   code, public checks

Everything is built in a temporary folder first and swapped in only when all of it succeeded, so
a failing build leaves the previous files as they were. ``tests/test_assignment.py`` rebuilds into
a temporary folder and fails on any drift from the committed files.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from ..core.assignment import SCHEMA
from ..core.extract import ExplorationCells, read_trusted, source_digest
from ..project import Project
from ..worker.ipython_cells import strip_magics
from ..worker.read import binds
from . import otter_format

REFERENCE_HEADER = '''"""Reference solution of the assignment.

GENERATED from the master notebook by `ditgrade build`: do not edit by hand.
The graders import it; student processes never see it.
"""
'''
ANSWER_TAG = "otter_answer_cell"
PLUMBING = frozenset({"grader", "otter"})


class BuildError(RuntimeError):
    """The master notebook could not be turned into the generated files."""


def run_otter_assign(master: Path, out_dir: Path) -> None:
    """``otter assign`` without its self-test (tests/test_assignment.py runs the notebooks)."""
    cmd = [sys.executable, "-m", "otter", "assign", str(master), str(out_dir), "--no-run-tests"]
    # otter assign writes its tests into a tempfile.mkdtemp() that it never removes: give it a
    # TMPDIR inside the build's own temporary folder (out_dir's parent), which goes with it
    scratch = out_dir.parent / "otter-tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(scratch)})
    if proc.returncode != 0:
        raise BuildError(f"otter assign failed:\n{proc.stdout}\n{proc.stderr}")


def _stable_cell_ids(notebook: Path, *, clean_solutions: bool = False) -> None:
    """otter gives the cells it inserts random ids; derive every id from position and content instead.
    With ``clean_solutions``, also drop otter's solution markers and the students' prompt strings from
    the code (the solutions notebook reads as plain, finished code)."""
    nb = nbformat.read(notebook, as_version=4)
    for i, cell in enumerate(nb.cells):
        if clean_solutions and cell.cell_type == "code" and "# BEGIN" in cell.source:
            cell.source = otter_format.solution_source(cell.source).rstrip("\n")
        cell.id = hashlib.sha1(f"{i}:{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
    nbformat.write(nb, notebook)


def reference_and_names(master: Path) -> tuple[str, list[dict[str, Any]]]:
    """The reference module (the definitions of every question's solution cells, and the imports
    of the whole notebook that they use) and the questions: [{"id", "points", "names"}]."""
    nb = nbformat.read(master, as_version=4)
    imports: list[str] = []
    defs: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            try:
                tree = ast.parse(otter_format.solution_source(cell.source))
            except SyntaxError:  # a cell of IPython magics
                continue
            imports += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
                        and ast.unparse(n) not in imports]
    questions = []
    for q in otter_format.questions(nb):
        names = []
        for source in q.solution_cells:
            try:
                tree = ast.parse(source)
            except SyntaxError as e:
                raise BuildError(f"{master.name}, question {q.id}: a solution cell does not parse ({e})") from None
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    defs.append(ast.get_source_segment(source, node))
                    names.append(node.name)
        if not names:
            raise BuildError(f"{master.name}: question {q.id} has no solution cell defining a function or class")
        questions.append({"id": q.id, "points": q.points, "names": names})
    used = {n.id for d in defs for n in ast.walk(ast.parse(d)) if isinstance(n, ast.Name)}
    imports = [i for i in imports if set(binds(ast.parse(i).body[0])) & used]
    stdlib = sorted(i for i in imports if i.split()[1].split(".")[0] in sys.stdlib_module_names)
    third = sorted(i for i in imports if i not in stdlib)
    body = "\n".join(stdlib) + ("\n\n" if stdlib else "") + "\n".join(third) + "\n\n\n" + "\n\n\n".join(defs) + "\n"
    return REFERENCE_HEADER + "\n" + body, questions


def driver_cells(template: Path, graded: set[str]) -> dict[str, list[str]]:
    """The template's code cells that drive the student's functions (exploration, grader.check):
    not answer cells, and running something besides definitions that names a graded function."""
    nb = nbformat.read(template, as_version=4)
    ids, sources = [], []
    for cell in nb.cells:
        if cell.cell_type != "code" or ANSWER_TAG in cell.metadata.get("tags", []):
            continue
        try:
            tree = ast.parse(strip_magics(cell.source) or "")
        except SyntaxError:
            continue
        runs = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                                           ast.AsyncFunctionDef, ast.ClassDef))]
        named = {x.id for n in runs for x in ast.walk(n) if isinstance(x, ast.Name)}
        if named & (graded | PLUMBING):
            ids.append(cell.id)
            sources.append(source_digest(cell.source))
    return {"ids": ids, "sources": sources}


def given_code(template: Path, drivers: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The template's given code: what the grader's reader runs of its cells that are not answer
    cells (imports, helpers, the tiny pipeline ...), as plain statements. Every submission gets it
    before its own statements, so a check that needs a helper the notebook gives (not one the
    student writes) finds it in a .py submission too."""
    nb = nbformat.read(template, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and ANSWER_TAG in cell.metadata.get("tags", []):
            cell.source = ""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / template.name
        nbformat.write(nb, path)
        read = read_trusted(path, drivers=ExplorationCells(frozenset(drivers["ids"]), frozenset(drivers["sources"])))
    if read.unreadable or read.notes:
        raise BuildError(f"the template's given code cannot be read: {read.unreadable or read.notes}")
    return [{"label": s.label, "source": s.source, "names": list(s.names), "definition": s.definition}
            for s in read.statements]


def public_tests(tests_dir: Path) -> dict[str, list[str]]:
    """{question: [case code, ...]} of otter's generated test files (the cases students can see)."""
    out: dict[str, list[str]] = {}
    for f in sorted(tests_dir.glob("*.py")):
        tree = ast.parse(f.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "test" for t in node.targets):
                test = ast.literal_eval(node.value)
                cases = [c["code"] for s in test.get("suites", []) for c in s.get("cases", []) if not c.get("hidden")]
                out[str(test.get("name", f.stem))] = cases
    return out


def build(project: Project | None = None, out_root: Path | None = None) -> dict[str, Path]:
    """Regenerate student_template/, solutions/ and the grading folder's generated/ under
    ``out_root`` (default: the project itself). Returns where each was written."""
    project = project or Project.find()
    master = project.master
    if not master.is_file():
        raise BuildError(f"no master notebook at {master} (the name in otter_config.json is {project.name!r})")
    out_root = Path(out_root) if out_root is not None else project.root
    grading = out_root / project.grading_folder.relative_to(project.root)
    targets = {"student_template": out_root / "student_template", "solutions": out_root / "solutions",
               "generated": grading / "generated"}
    with tempfile.TemporaryDirectory(prefix="ditgrade-build-") as tmp:
        stage = Path(tmp)
        run_otter_assign(master, stage / "otter")
        shutil.copytree(stage / "otter" / "student", stage / "student_template")
        shutil.copytree(stage / "otter" / "autograder", stage / "solutions")
        _stable_cell_ids(stage / "student_template" / master.name)
        _stable_cell_ids(stage / "solutions" / master.name, clean_solutions=True)
        reference, questions = reference_and_names(master)
        graded = {n for q in questions for n in q["names"]}
        generated = stage / "generated"
        generated.mkdir()
        (generated / "reference.py").write_text(reference)
        drivers = driver_cells(stage / "student_template" / master.name, graded)
        data = {"schema": SCHEMA, "notebook": master.name, "questions": questions, "driver_cells": drivers,
                "given": given_code(stage / "student_template" / master.name, drivers),
                "public_tests": public_tests(stage / "student_template" / "tests")}
        (generated / "assignment.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        for key, dst in targets.items():  # everything built: now swap it in
            dst.parent.mkdir(parents=True, exist_ok=True)
            old = dst.with_name(dst.name + ".old")
            if old.exists():
                shutil.rmtree(old)
            if dst.exists():
                os.replace(dst, old)
            shutil.copytree(stage / key, dst)
            shutil.rmtree(old, ignore_errors=True)
    return targets
