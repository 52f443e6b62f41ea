"""``ditgrade release``: build what is handed out, and refuse unless every release gate passes.

    <name>_student.zip     the student notebook and the tests/ folder grader.check needs
    <name>_solutions.zip   the solutions notebook (plain code, no otter markers) and its tests
    autograder.zip         Gradescope's autograder (``gradescope.build_autograder_zip``)

First the generated files are rebuilt from the master notebook into a temporary folder and compared
with the project's; in a git checkout they and the master must also be committed (what is released
is what a commit rebuilds). When that fails the release stops there, names the fix, and builds
nothing: it never gates or ships stale files. Otherwise the zips are built into a staging folder and
the other gates (``gates``) run, cheapest first; they land in ``out`` when every gate passes, in
``out/rejected/`` otherwise.

The grading gates are slow, so each passing verdict is kept (``audit_cache``) under a key made of
everything that can change it: the grader's fingerprint, the bytes of the files the gate grades, the
installed packages. A release in which none of that changed reuses them and says so; ``use_cache=
False`` checks everything again. The gates that need grading share two pools of warm workers (the
notebooks through the sandbox, the trusted bank in-process), and each gate is reported as soon as
what it grades is done, with a count of what is graded so far in between.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..core.assignment import Assignment
from ..core.results import Grade
from . import audit, audit_cache, audit_review, gates
from .audit_mutants import ToolMissing
from .audit_worker import Outcome, grade_jobs, ticker, wall_backstop
from .build import build
from .gates import Gate, GradingGate
from .gradescope import build_autograder_zip, tree_entries
from .zips import write_zip

GATES = ("up-to-date", "no-leak", "reproducible", "reference", "template", "mistakes", "correct", "mutants",
         "audit")
Log = Callable[[str], None]


def _differences(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two trees (caches ignored)."""
    out = []
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__", ".ipynb_checkpoints"])
    out += [f for f in cmp.left_only + cmp.right_only + cmp.diff_files + cmp.funny_files]
    for name, sub in cmp.subdirs.items():
        out += [f"{name}/{f}" for f in _differences(Path(sub.left), Path(sub.right))]
    return out


def uncommitted(root: Path, paths: list[Path]) -> list[str] | None:
    """The files under ``paths`` that differ from git's last commit (changed, staged or untracked), as
    git names them; None when ``root`` is not in a git checkout (or git cannot say)."""
    def git(*args: str) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None

    inside = git("rev-parse", "--is-inside-work-tree")
    if inside is None or inside.returncode != 0 or inside.stdout.strip() != "true":
        return None
    status = git("status", "--porcelain", "--untracked-files=all", "--", *[str(p) for p in paths])
    if status is None or status.returncode != 0:
        return None
    return [line[3:] for line in status.stdout.splitlines() if line.strip()]


def gate_up_to_date(assignment: Assignment) -> Gate:
    """The generated files are exactly what the master notebook builds today, and (in a git checkout)
    they and the master are committed."""
    project = assignment.project
    with tempfile.TemporaryDirectory(prefix="ditgrade-fresh-") as tmp:
        fresh = build(project, out_root=Path(tmp))
        stale, generated = [], []
        for path in fresh.values():
            committed = project.root / path.relative_to(tmp)
            generated.append(committed)
            if not committed.is_dir() or _differences(committed, path):
                stale.append(str(committed.relative_to(project.root)))
    master = project.master.relative_to(project.root)
    if stale:
        return Gate("up-to-date", False, f"{', '.join(stale)} out of date with {master}: run `ditgrade build`, "
                                         "review the diff, commit, then release")
    changed = uncommitted(project.root, [*generated, project.master])
    if changed:
        shown = ", ".join(changed[:3]) + (f" (+{len(changed) - 3} more)" if len(changed) > 3 else "")
        return Gate("up-to-date", False, f"not committed: {shown}; commit the master and the generated files, "
                                         "then release (what is released is what a commit rebuilds)")
    how = "are committed and " if changed is not None else "(not a git checkout: the files on disk) "
    return Gate("up-to-date", True, f"student_template/, solutions/ and generated/ {how}match the master notebook")


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


# -- the grading gates, with their kept verdicts ---------------------------------------------------


def gate_key(assignment: Assignment, gate: GradingGate) -> str:
    return audit_cache.key(gate.name, assignment.fingerprint, audit_cache.environment(),
                           audit_cache.files_digest(gate.inputs, assignment.project.root))


def _kept(assignment: Assignment, gate: GradingGate) -> Gate | None:
    entry = audit_cache.load(assignment.project.root, f"gate-{gate.name}", gate_key(assignment, gate))
    if entry is None or not entry.get("passed"):
        return None
    return Gate(gate.name, True, entry["evidence"], reused=entry["stored"], details=entry.get("details", {}))


def _keep(assignment: Assignment, gate: GradingGate, verdict: Gate) -> None:
    """Only a pass is kept: a failure is checked again next time (it may have been the machine's)."""
    if verdict.passed:
        audit_cache.store(assignment.project.root, f"gate-{gate.name}", gate_key(assignment, gate),
                          {"passed": True, "evidence": verdict.evidence, "details": verdict.details})


def _audit_gate(assignment: Assignment, found: audit.Audit) -> Gate:
    try:
        reviews = audit_review.load(audit.reviewed_file(assignment))
    except audit_review.ReviewError as e:
        return Gate("audit", False, str(e))
    verdict = audit.judge(found, reviews)
    return Gate("audit", verdict.passed, verdict.summary(found), reused=found.reused)


def check_gates(assignment: Assignment, wanted: Iterable[str], *, staging: Path, jobs: int, log: Log,
                record: Callable[[Gate], None], use_cache: bool = True) -> None:
    """Run the grading gates among ``wanted`` (reference ... audit), reusing kept verdicts, and hand
    each verdict to ``record`` as soon as it is known."""
    wanted = [g for g in GATES[3:] if g in set(wanted)]
    project = assignment.project
    specs = [s for s in gates.grading_gates(assignment, project.student_template / project.notebook_name,
                                            project.solutions / project.notebook_name, staging)
             if s.name in wanted]
    todo: list[GradingGate] = []
    for spec in specs:
        kept = _kept(assignment, spec) if use_cache else None
        if kept is not None:
            record(kept)
        else:
            todo.append(spec)
    audit_plan = None
    if "audit" in wanted:
        try:
            kept_audit = audit.stored(assignment) if use_cache else None
            if kept_audit is not None:
                record(_audit_gate(assignment, kept_audit))
            else:
                audit_plan = audit.plan(assignment)
        except ToolMissing as e:
            record(Gate("audit", False, str(e)))

    notebooks: dict[Path, Grade] = {}
    outcomes: dict[str, Outcome] = {}
    open_gates = list(todo)

    def settle() -> None:  # report every gate whose inputs are all graded
        for spec in list(open_gates):
            if all(p in notebooks for p in spec.notebooks) and all(j.id in outcomes for j in spec.jobs):
                open_gates.remove(spec)
                try:
                    verdict = spec.judge(notebooks, outcomes)
                except Exception as e:  # a gate that cannot judge does not pass
                    verdict = Gate(spec.name, False, f"could not be judged: {type(e).__name__}: {e}")
                _keep(assignment, spec, verdict)
                record(verdict)

    settle()  # gates with nothing to grade
    paths = list(dict.fromkeys(p for s in todo for p in s.notebooks))
    if paths:
        log(f"      grading {len(paths)} notebooks through the sandbox for "
            f"{', '.join(s.name for s in todo if s.notebooks)} on {jobs} worker(s)")
        gates.grade_many(paths, assignment, jobs, progress=ticker(log, "notebooks"),
                         on_result=lambda p, r: (notebooks.__setitem__(p, r), settle()))
    job_list = [j for s in todo for j in s.jobs] + (audit_plan.jobs if audit_plan else [])
    if job_list:
        names = [s.name for s in todo if s.jobs] + (["audit"] if audit_plan else [])
        log(f"      grading {len(job_list)} trusted sources in-process for {', '.join(names)} on {jobs} worker(s)"
            + (f" ({audit.announce(audit_plan, assignment)})" if audit_plan else ""))
        start = time.monotonic()
        grade_jobs(job_list, project=project.root, workers=jobs, timeout=wall_backstop(project.config),
                   progress=ticker(log, "in-process", every=15.0),
                   on_outcome=lambda o: (outcomes.__setitem__(o.id, o), settle()))
        if audit_plan:
            record(_audit_gate(assignment, audit.finish(assignment, audit_plan, outcomes,
                                                        time.monotonic() - start, jobs)))
    for spec in open_gates:  # something it needed never came back
        record(Gate(spec.name, False, "not every entry it grades came back"))


def release(out: str | Path, *, assignment: Assignment | None = None, gates_run: Iterable[str] = GATES,
            jobs: int | None = None, log: Log = print, use_cache: bool = True) -> tuple[list[Gate], dict[str, Path]]:
    """Check that the generated files are current (else stop, building nothing), build the packages
    into a staging folder and run the other gates; move the zips into ``out`` when all pass, into
    ``out/rejected`` otherwise. Returns the gates and where the zips ended up."""
    assignment = assignment or Assignment.load()
    out = Path(out)
    wanted = tuple(g for g in GATES if g in set(gates_run))
    unknown = set(gates_run) - set(GATES)
    if unknown:
        raise ValueError(f"unknown gates {sorted(unknown)}; known: {GATES}")
    jobs = max(1, jobs or os.cpu_count() or 1)
    results: list[Gate] = []
    start = time.monotonic()

    def record(gate: Gate) -> None:
        results.append(gate)
        reused = f"(reused: verdict of {gate.reused}) " if gate.reused else ""
        log(f"  [{len(results)}/{len(wanted)}] {'PASS' if gate.passed else 'FAIL'}  {gate.name:<13}{reused}"
            f"{gate.evidence}  ({time.monotonic() - start:.0f} s)")

    log(f"release gates ({len(wanted)}):")
    if "up-to-date" in wanted:
        record(gate_up_to_date(assignment))
        if not results[-1].passed:  # never gate or ship stale files
            log("  stopped: no package was built")
            return results, {}
    staging = out / ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    packages = build_packages(assignment, staging)
    project = assignment.project
    try:
        if "no-leak" in wanted:
            record(gates.gate_no_leak(packages["student"], assignment, project.master))
        if "reproducible" in wanted:
            record(gate_reproducible(assignment, packages))
        if set(wanted) & set(GATES[3:]):
            with tempfile.TemporaryDirectory(prefix="ditgrade-gates-") as tmp:
                check_gates(assignment, wanted, staging=Path(tmp), jobs=jobs, log=log, record=record,
                            use_cache=use_cache)
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
