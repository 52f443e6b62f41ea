"""``ditgrade release``: build what is handed out, and refuse unless every release gate passes.

    <name>_student.zip     the student notebook and the tests/ folder grader.check needs
    <name>_solutions.zip   the solutions notebook (plain code, no otter markers) and its tests
    autograder.zip         Gradescope's autograder (``gradescope.build_autograder_zip``)

First the generated files are rebuilt from the master notebook into a temporary folder and compared
with the committed ones: when anything is out of date the release stops and names the command that
fixes it (``ditgrade build``), so it never gates or ships stale files. The gates are in
``ditgrade.packaging.gates``. The zips land in ``out`` only when every gate passes; otherwise in
``out/rejected/``.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..core.assignment import Assignment
from . import gates
from .build import build
from .gates import Gate
from .gradescope import build_autograder_zip, tree_entries
from .zips import write_zip

GATES = ("up-to-date", "reference", "template", "correct", "mutants", "mistakes", "no-leak", "reproducible")


def _differences(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two trees (caches ignored)."""
    out = []
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__", ".ipynb_checkpoints"])
    out += [f for f in cmp.left_only + cmp.right_only + cmp.diff_files + cmp.funny_files]
    for name, sub in cmp.subdirs.items():
        out += [f"{name}/{f}" for f in _differences(Path(sub.left), Path(sub.right))]
    return out


def gate_up_to_date(assignment: Assignment) -> Gate:
    """The committed generated files are exactly what the master notebook builds today."""
    project = assignment.project
    with tempfile.TemporaryDirectory(prefix="ditgrade-fresh-") as tmp:
        fresh = build(project, out_root=Path(tmp))
        stale = []
        for path in fresh.values():
            committed = project.root / path.relative_to(tmp)
            if not committed.is_dir() or _differences(committed, path):
                stale.append(str(committed.relative_to(project.root)))
    if stale:
        return Gate("up-to-date", False, f"{', '.join(stale)} out of date with {project.master.relative_to(project.root)}:"
                                         " run `ditgrade build`, review the diff, then release")
    return Gate("up-to-date", True, "student_template/, solutions/ and generated/ match the master notebook")


def build_packages(assignment: Assignment, out: Path) -> dict[str, Path]:
    """The three zips, from the committed (and checked) generated files."""
    project = assignment.project
    out.mkdir(parents=True, exist_ok=True)
    name = project.name
    return {
        "student": write_zip(tree_entries(project.student_template, name), out / f"{name}_student.zip"),
        "solutions": write_zip(tree_entries(project.solutions, f"{name}_solutions"), out / f"{name}_solutions.zip"),
        "autograder": build_autograder_zip(out / "autograder.zip", project),
    }


def gate_reproducible(assignment: Assignment, first: dict[str, Path]) -> Gate:
    with tempfile.TemporaryDirectory() as tmp:
        second = build_packages(assignment, Path(tmp))
        differ = [k for k in first if first[k].read_bytes() != second[k].read_bytes()]
    if differ:
        return Gate("reproducible", False, f"{', '.join(first[k].name for k in differ)} differ between two builds")
    sizes = ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in first.values())
    return Gate("reproducible", True, f"two builds byte-identical: {sizes}")


def release(out: str | Path, *, assignment: Assignment | None = None, gates_run: Iterable[str] = GATES,
            jobs: int | None = None, log: Callable[[str], None] = print) -> tuple[list[Gate], dict[str, Path]]:
    """Build the packages into a staging folder and run the gates; move the zips into ``out`` when all
    pass, into ``out/rejected`` otherwise. Returns the gates and where the zips ended up."""
    assignment = assignment or Assignment.load()
    out = Path(out)
    wanted = tuple(gates_run)
    unknown = set(wanted) - set(GATES)
    if unknown:
        raise ValueError(f"unknown gates {sorted(unknown)}; known: {GATES}")
    jobs = max(1, jobs or os.cpu_count() or 1)
    results: list[Gate] = []

    def record(gate: Gate) -> None:
        results.append(gate)
        log(f"  {'PASS' if gate.passed else 'FAIL'}  {gate.name:<13}{gate.evidence}")

    log("release gates:")
    if "up-to-date" in wanted:
        record(gate_up_to_date(assignment))
        if not results[-1].passed:  # never gate or ship stale files
            return results, {}
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    packages = build_packages(assignment, staging)
    project = assignment.project
    try:
        if {"reference", "template", "correct", "mistakes"} & set(wanted):
            for gate in gates.notebook_gates(assignment, project.student_template / project.notebook_name,
                                             project.solutions / project.notebook_name, jobs):
                if gate.name in wanted:
                    record(gate)
        if "mutants" in wanted:
            record(gates.gate_mutants(assignment, assignment.reference_path.read_text(), jobs))
        if "no-leak" in wanted:
            record(gates.gate_no_leak(packages["student"], assignment, project.master))
        if "reproducible" in wanted:
            record(gate_reproducible(assignment, packages))
    except Exception as e:  # a gate that cannot run does not pass
        record(Gate("gates", False, f"a gate could not run: {type(e).__name__}: {e}"))
    dest = out if all(g.passed for g in results) else out / "rejected"
    dest.mkdir(parents=True, exist_ok=True)
    final = {}
    for key, p in packages.items():
        target = dest / p.name
        os.replace(p, target)
        final[key] = target
    shutil.rmtree(staging, ignore_errors=True)
    return results, final
