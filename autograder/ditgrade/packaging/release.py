"""``ditgrade release``: build what is handed out, and refuse unless every release gate passes.

Packages (built from the master notebook through ``ditgrade build`` into a temporary folder):

    dit_assignment_student.zip     the student notebook + the tests/ folder grader.check needs
    dit_assignment_solutions.zip   the solutions notebook + its tests
    autograder.zip                 Gradescope's autograder (ditgrade.gradescope.build_autograder_zip)

Gates:

    reference      the reference solution, graded like a submission, scores 100 %
    template       the untouched student notebook scores 0, every test failing as "not implemented"
    mutants        every mutant of the bank (tests/bank/mutants.py) loses points in its own question only
    no-leak        no solution line of the master, no distinctive line of reference.py or hidden/*.py,
                   appears in the student package
    reproducible   a second build from the same sources gives byte-identical zips

The zips land in ``out`` only when every gate passes; otherwise they go to ``out/rejected/``.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .zips import ZIP_EPOCH, write_zip  # noqa: F401 - ZIP_EPOCH is part of release's interface

STUDENT_ZIP = "dit_assignment_student.zip"
SOLUTIONS_ZIP = "dit_assignment_solutions.zip"
AUTOGRADER_ZIP = "autograder.zip"
GATES = ("reference", "template", "mutants", "no-leak", "reproducible")
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".hypothesis", ".pytest_cache"}


@dataclass
class Gate:
    name: str
    passed: bool
    evidence: str


# ---------------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------------


def tree_entries(root: Path, prefix: str) -> list[tuple[str, bytes]]:
    files = [p for p in sorted(root.rglob("*")) if p.is_file()
             and not _SKIP_PARTS.intersection(p.relative_to(root).parts) and p.suffix != ".pyc"]
    return [(f"{prefix}/{p.relative_to(root).as_posix()}", p.read_bytes()) for p in files]


def build_packages(out: Path, *, autograder: bool = True) -> dict[str, Path]:
    """Build the packages into ``out`` from the master notebook and the grader's sources."""
    from . import build

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        built = build.build(out_root=Path(tmp))
        packages = {
            "student": write_zip(tree_entries(built["student_template"], "dit_assignment"), out / STUDENT_ZIP),
            "solutions": write_zip(tree_entries(built["solutions"], "dit_assignment_solutions"), out / SOLUTIONS_ZIP),
        }
    if autograder:
        from .gradescope import build_autograder_zip

        build_autograder_zip(out / AUTOGRADER_ZIP)
        packages["autograder"] = out / AUTOGRADER_ZIP
    return packages


# ---------------------------------------------------------------------------------------------
# Gates
# ---------------------------------------------------------------------------------------------


def _default_grade_fn() -> Callable[..., dict]:
    from .run import grade_submission

    return grade_submission


def _totals(results: dict) -> tuple[float, float, int, int]:
    tests = results.get("tests") or []
    maximum = sum(float(t.get("max_score") or 0) for t in tests)
    passed = sum(1 for t in tests if float(t.get("score") or 0) >= float(t.get("max_score") or 0) > 0)
    return float(results.get("score") or 0), maximum, passed, len(tests)


def gate_reference(grade_fn: Callable[..., dict], source: str | None = None) -> Gate:
    """The reference module, written out as a student's .py file and graded like one, scores 100 %."""
    source = paths.REFERENCE_MODULE.read_text() if source is None else source
    with tempfile.TemporaryDirectory() as tmp:
        sub = Path(tmp) / "reference_submission.py"
        sub.write_text(source)
        try:
            results = grade_fn(str(sub))
        except Exception as e:
            return Gate("reference", False, f"grading the reference raised {type(e).__name__}: {e}")
    score, maximum, passed, n = _totals(results)
    failed = [t.get("name", "?") for t in results.get("tests") or []
              if float(t.get("score") or 0) < float(t.get("max_score") or 0)]
    ok = n > 0 and maximum > 0 and score == maximum and not failed
    evidence = f"{score:g}/{maximum:g}, {passed}/{n} tests passed"
    if failed:
        evidence += f"; failing: {failed[0]}" + (f" (+{len(failed) - 1} more)" if len(failed) > 1 else "")
    return Gate("reference", ok, evidence)


# How the sandbox words a timeout or a crash (ditgrade.sandbox), and the batch's own failures.
_CRASH_WORDS = re.compile(r"did not finish|time budget|timed? ?out|crash|died|killed|garbage|cannot read"
                          r"|could not (start|be graded)|internal error", re.I)


def gate_template(grade_fn: Callable[..., dict], notebook: Path) -> Gate:
    """The untouched template scores 0, and it fails for the stubs' reason, not a crash."""
    try:
        results = grade_fn(str(notebook))
    except Exception as e:
        return Gate("template", False, f"grading the template raised {type(e).__name__}: {e}")
    score, maximum, _, n = _totals(results)
    texts = [str(t.get("output") or "") for t in results.get("tests") or []]
    crashed = [t for t in texts if _CRASH_WORDS.search(t)]
    todo = sum(1 for t in texts if re.search(r"not implemented|TODO", t, re.I))
    ok = n > 0 and score == 0 and not crashed
    evidence = f"{score:g}/{maximum:g}, {todo}/{n} tests report the unfinished stubs"
    if crashed:
        evidence += f"; {len(crashed)} look like crashes, e.g. {crashed[0][:120]!r}"
    if n == 0:
        evidence += f"; no tests ran ({str(results.get('output', ''))[:120]!r})"
    return Gate("template", ok, evidence)


def _load_bank(bank: Path):
    spec = importlib.util.spec_from_file_location("_ditgrade_release_bank", bank)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _init_mutant_worker() -> None:
    import torch

    torch.set_num_threads(1)  # the tiny models run many times faster without an oversubscribed pool


def _grade_mutant(bank: str, index: int, reference: str) -> tuple[str, str, dict, str]:
    """(name, question, {question: (score, max)}, error) for mutant ``index`` of the bank."""
    from .student import InProcessRunner, namespace_from_source
    from .suite import question_scores, run_suite

    module = _load_bank(Path(bank))
    mutant = module.MUTANTS[index]
    try:
        source = module.apply_mutant(reference, mutant)
        scores = question_scores(run_suite(InProcessRunner(namespace_from_source(source, f"<mutant {mutant.name}>"))))
    except Exception as e:
        return mutant.name, mutant.question, {}, f"{type(e).__name__}: {e}"
    return mutant.name, mutant.question, scores, ""


def gate_mutants(bank: Path | None = None, jobs: int | None = None, reference: str | None = None) -> Gate:
    """Each mutant loses points in its own question and keeps full marks everywhere else."""
    bank = bank or paths.REPO_ROOT / "tests" / "bank" / "mutants.py"
    if not bank.is_file():
        return Gate("mutants", False, f"no mutation bank at {bank}")
    reference = paths.REFERENCE_MODULE.read_text() if reference is None else reference
    n = len(_load_bank(bank).MUTANTS)
    if n == 0:
        return Gate("mutants", False, "the mutation bank is empty")
    jobs = max(1, min(jobs or os.cpu_count() or 1, n))
    problems: list[str] = []
    bad: set[str] = set()
    with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_init_mutant_worker) as pool:
        futures = [pool.submit(_grade_mutant, str(bank), i, reference) for i in range(n)]
        for f in futures:
            name, question, scores, error = f.result()
            if error:
                problems.append(f"{name}: {error}")
                bad.add(name)
                continue
            own = scores.get(question)
            if own is None or own[0] >= own[1]:
                problems.append(f"{name} ({question}) keeps full marks in {question}")
                bad.add(name)
            others = [q for q, (s, m) in scores.items() if q != question and s < m]
            if others:
                problems.append(f"{name} ({question}) also loses points in {', '.join(others)}")
                bad.add(name)
    evidence = f"{n - len(bad)}/{n} mutants caught in their own question only"
    if problems:
        evidence += f"; {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    return Gate("mutants", not problems, evidence)


def _solution_lines(master: Path) -> tuple[list[str], set[str]]:
    """(lines inside `# BEGIN SOLUTION NO PROMPT` ... `# END SOLUTION` blocks, every other line of the master)."""
    import nbformat

    solution, public, inside = [], set(), False
    for cell in nbformat.read(master, as_version=4).cells:
        for raw in cell.source.splitlines():
            line = raw.strip()
            if line == "# BEGIN SOLUTION NO PROMPT":
                inside = True
            elif line == "# END SOLUTION" and inside:
                inside = False
            elif inside:
                if line:
                    solution.append(line)
            else:
                public.add(line)
    return solution, public


def _distinctive(lines: Iterable[str], public: set[str], min_len: int) -> list[str]:
    out = []
    for raw in lines:
        line = raw.strip()
        if (len(line) >= min_len and line not in public and not line.startswith(("import ", "from ", "#"))
                and not re.fullmatch(r"[\W_]*", line)):
            out.append(line)
    return out


def secret_lines(master: Path | None = None) -> dict[str, list[str]]:
    """{where: lines that must never reach a student}: the master's solution lines, and the lines of
    reference.py and hidden/*.py that the master does not show students anyway."""
    master = master or paths.MASTER_NOTEBOOK
    solution, public = _solution_lines(master)
    secrets = {"solution (master notebook)": [s for s in solution if len(s) > 12]}
    secrets["reference.py"] = _distinctive(paths.REFERENCE_MODULE.read_text().splitlines(), public, 16)
    for f in sorted((paths.PACKAGE_DIR / "hidden").glob("*.py")):
        secrets[f"hidden/{f.name}"] = _distinctive(f.read_text().splitlines(), public, 20)
    return secrets


def package_lines(zip_path: Path) -> dict[str, str]:
    """{stripped line: the member it is in} over every text member of a zip, notebook cells decoded."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            try:
                text = z.read(name).decode("utf-8")
            except UnicodeDecodeError:
                continue
            chunks = [text]
            if name.endswith(".ipynb"):
                try:
                    nb = json.loads(text)
                    for cell in nb.get("cells", []):
                        src = cell.get("source", "")
                        chunks.append("".join(src) if isinstance(src, list) else str(src))
                        for o in cell.get("outputs", []):
                            t = o.get("text", "")
                            chunks.append("".join(t) if isinstance(t, list) else str(t))
                except (ValueError, AttributeError):
                    pass
            for chunk in chunks:
                for line in chunk.splitlines():
                    found.setdefault(line.strip(), name)
    return found


def gate_no_leak(student_zip: Path, master: Path | None = None) -> Gate:
    secrets = secret_lines(master)
    lines = package_lines(student_zip)
    leaks = [(where, s, lines[s]) for where, ss in secrets.items() for s in ss if s in lines]
    checked = sum(len(v) for v in secrets.values())
    if leaks:
        where, line, member = leaks[0]
        return Gate("no-leak", False, f"{len(leaks)} secret lines in the student package, e.g. {line!r} "
                                      f"from {where} in {member}")
    if not secrets["solution (master notebook)"]:
        return Gate("no-leak", False, "found no solution lines in the master notebook to check against")
    return Gate("no-leak", True, f"{checked} solution/reference/hidden-test lines checked against "
                                 f"{len(lines)} lines of {student_zip.name}")


def gate_reproducible(first: dict[str, Path]) -> Gate:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            second = build_packages(Path(tmp), autograder="autograder" in first)
        except Exception as e:
            return Gate("reproducible", False, f"the second build failed: {type(e).__name__}: {e}")
        differ = [k for k in first if first[k].read_bytes() != second[k].read_bytes()]
    if differ:
        return Gate("reproducible", False, f"{', '.join(first[k].name for k in differ)} differ between two builds")
    sizes = ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in first.values())
    return Gate("reproducible", True, f"two builds byte-identical: {sizes}")


# ---------------------------------------------------------------------------------------------
# The release
# ---------------------------------------------------------------------------------------------


def release(out: str | Path, *, grade_fn: Callable[..., dict] | None = None, gates: Iterable[str] = GATES,
            jobs: int | None = None, log: Callable[[str], None] = print) -> tuple[list[Gate], dict[str, Path]]:
    """Build the packages into a staging folder, run ``gates``; move the zips into ``out`` when all
    pass, into ``out/rejected`` otherwise. Returns the gates and where the zips ended up."""
    out = Path(out)
    gates = tuple(gates)
    unknown = set(gates) - set(GATES)
    if unknown:
        raise ValueError(f"unknown gates {sorted(unknown)}; known: {GATES}")
    staging = out / ".staging"
    if staging.exists():
        shutil.rmtree(staging)
    results: list[Gate] = []

    def record(gate: Gate) -> None:
        results.append(gate)
        log(f"  {'PASS' if gate.passed else 'FAIL'}  {gate.name:<13}{gate.evidence}")

    try:
        packages = build_packages(staging, autograder=False)
    except Exception as e:
        record(Gate("build", False, f"{type(e).__name__}: {e}"))
        return results, {}
    try:
        from .gradescope import build_autograder_zip

        build_autograder_zip(staging / AUTOGRADER_ZIP)
        packages["autograder"] = staging / AUTOGRADER_ZIP
    except Exception as e:  # the other packages and gates still get checked and reported
        record(Gate("autograder", False, f"building {AUTOGRADER_ZIP} failed: {type(e).__name__}: {e}"))
    log("built " + ", ".join(p.name for p in packages.values()) + "; release gates:")
    fn = grade_fn or (lambda path: _default_grade_fn()(path))
    with tempfile.TemporaryDirectory() as tmp:
        for name in gates:
            try:
                if name == "reference":
                    gate = gate_reference(fn)
                elif name == "template":
                    with zipfile.ZipFile(packages["student"]) as z:
                        z.extractall(tmp)
                    gate = gate_template(fn, Path(tmp) / "dit_assignment" / paths.NOTEBOOK_NAME)
                elif name == "mutants":
                    gate = gate_mutants(jobs=jobs)
                elif name == "no-leak":
                    gate = gate_no_leak(packages["student"])
                else:
                    gate = gate_reproducible(packages)
            except Exception as e:  # a gate that cannot run does not pass
                gate = Gate(name, False, f"the gate itself failed: {type(e).__name__}: {e}")
            record(gate)
    dest = out if all(g.passed for g in results) else out / "rejected"
    dest.mkdir(parents=True, exist_ok=True)
    final = {}
    for key, p in packages.items():
        target = dest / p.name
        os.replace(p, target)
        final[key] = target
    shutil.rmtree(staging, ignore_errors=True)
    return results, final
