"""The release gates: the evidence that the grader is right, checked before anything is handed out.

    up-to-date    student_template/, solutions/ and generated/ are what the master notebook builds,
                  and, in a git checkout, they and the master are committed (``release``)
    no-leak       no solution line, no distinctive line of the reference or the hidden tests, is
                  in the student package
    reproducible  a second build gives byte-identical zips (``release``)
    reference     the solutions notebook, graded like a submission, scores full marks
    template      the untouched student notebook scores 0, every test failing for its stubs
    mistakes      every independently written mistake (bank/independent/mistakes) loses points in its
                  own question and nowhere else, except those the bank lists as invisible without a
                  GPU (expected.toml)
    correct       every correct solution in the bank scores full marks: the styles derived from the
                  reference, those written from the student notebook alone (bank/independent/correct),
                  and those that take the other reading where the task text allows two (.../readings)
    mutants       every mutant (bank/mutants.py) loses points in its own question and nowhere else
    audit         every mutant a pinned mutation tool makes of the reference is killed, or reviewed
                  as equivalent (``audit``)

Notebooks (the solutions, the template, the independent bank) are graded through the real path
(extraction, sandbox), several at once. The styles and the mutants are the reference or derived
from it, trusted code: they are graded in-process on warm workers by the same hidden tests and
scoring (``audit_worker``), which is what the gate is about, without a sandbox per source.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.assignment import Assignment
from ..core.errors import NOT_IMPLEMENTED
from ..core.results import Grade, error_results
from . import otter_format
from .audit_worker import Job, Outcome, grade_jobs, wall_backstop
from .mutate import Mutant, load_module


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    evidence: str
    reused: str = ""  # when its verdict was stored, if it was reused instead of checked again
    details: dict[str, Any] = field(default_factory=dict, compare=False)  # per-entry rows (mutants)


def full_marks(grade: Grade) -> tuple[bool, str]:
    """(full marks?, evidence) of a notebook graded through the real path."""
    failed = [t.name for t in grade.tests if not t.passed and t.max_score > 0]
    ok = not failed and grade.max_score > 0
    return ok, f"{grade.score:g}/{grade.max_score:g}" + (f", failing {failed[:2]}" if failed else "")


def grade_many(paths: list[Path], assignment: Assignment, jobs: int,
               progress: Callable[[int, int], None] | None = None,
               on_result: Callable[[Path, Grade], None] | None = None) -> dict[Path, Grade]:
    """Grade notebooks/files through the real path on warm workers: {path: results}. ``on_result`` is
    called as each one is graded, then ``progress(done, total)``."""
    from ..batch.discover import Submission
    from ..batch.pool import run_local

    subs = [Submission(f"gate-{i}", p, p) for i, p in enumerate(paths)]
    by_id = {s.id: s.path for s in subs}
    out: dict[Path, Grade] = {}

    def done(sub: Any, kind: str, payload: Any, seconds: float) -> None:
        out[by_id[sub.id]] = payload if kind == "ok" else error_results(str(payload))
        if on_result:
            on_result(by_id[sub.id], out[by_id[sub.id]])
        if progress:
            progress(len(out), len(subs))

    if not subs:
        return out
    run_local(subs, jobs=jobs, grade_fn="ditgrade.grading.grade_submission", gpu=False, timeout=1800,
              on_done=done, project=str(assignment.project.root))
    return out


def gate_reference(results: Grade) -> Gate:
    ok, evidence = full_marks(results)
    return Gate("reference", ok, f"the solutions notebook scores {evidence}")


def gate_template(results: Grade) -> Gate:
    """The untouched template scores 0, and each test fails for the stubs' reason (its kind:
    ``not_implemented``), not a crash, a timeout or anything else."""
    tests = [t for t in results.tests if t.max_score > 0]
    todo = [t for t in tests if t.kind == NOT_IMPLEMENTED]
    other = [t for t in tests if t.kind != NOT_IMPLEMENTED]
    ok = bool(tests) and results.score == 0 and not other and not results.grader_error
    evidence = f"{results.score:g} points, {len(todo)}/{len(tests)} tests report the unfinished stubs"
    if other:
        evidence += f"; {len(other)} failed otherwise, e.g. {other[0].kind}: {other[0].output[:120]!r}"
    return Gate("template", ok, evidence)


def full_marks_in_process(outcome: Outcome) -> tuple[bool, str]:
    """(full marks?, evidence) of a trusted source graded in-process (up to its first failure)."""
    if outcome.kind in ("error", "load", "timeout", "crash") and not outcome.failed_test:
        return False, f"{outcome.kind}: {outcome.output[:200]}"
    if outcome.failed_test:
        return False, f"fails {outcome.failed_test!r}: {outcome.output[:200]}"
    return True, f"passes all {outcome.ran} tests"


def gate_correct(verdicts: dict[Path, tuple[bool, str]]) -> Gate:
    """``verdicts``: {solution: (full marks?, evidence)} (``full_marks``, ``full_marks_in_process``)."""
    bad = [(p.name, ev) for p, (ok, ev) in verdicts.items() if not ok]
    evidence = f"{len(verdicts) - len(bad)}/{len(verdicts)} correct solutions score full marks"
    if bad:
        evidence += f"; {bad[0][0]}: {bad[0][1]}"
    return Gate("correct", bool(verdicts) and not bad, evidence)


def _own_question_only(scores: dict[str, tuple[float, float]], question: str) -> str:
    """'' when the scores lose points in ``question`` and nowhere else; otherwise what is wrong."""
    own = scores.get(question)
    if own is None or own[0] >= own[1] - 1e-6:
        return f"keeps full marks in {question}"
    others = [q for q, (s, m) in scores.items() if q != question and s < m - 1e-6]
    return f"also loses points in {', '.join(others)}" if others else ""


def gate_mistakes(results: dict[Path, Grade], expected: dict[str, str]) -> Gate:
    """Independent mistakes, named mistake_<question>_<what>: each loses points in its own question only."""
    problems, exempt = [], []
    for path, r in results.items():
        question = path.stem.split("_")[1]
        why = _own_question_only(r.questions(), question)
        if why and path.stem in expected:
            exempt.append(path.stem)
        elif why:
            problems.append(f"{path.name} ({question}) {why}")
    if not results:
        return Gate("mistakes", True, "the bank holds no independently written mistakes (bank/independent/mistakes)")
    caught = len(results) - len(problems) - len(exempt)
    evidence = f"{caught}/{len(results)} caught in their own question only"
    if exempt:
        evidence += f"; {len(exempt)} need a GPU to show ({', '.join(exempt)})"
    if problems:
        evidence += f"; {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    return Gate("mistakes", not problems, evidence)


def bank_mutants(bank: Path) -> tuple[Mutant, ...]:
    return tuple(load_module(bank, "_ditgrade_bank_mutants").MUTANTS)


def _qualname(reference: str, target: str) -> str:
    """The qualified name Python gives the code of ``target`` ("Block.forward", "f.<locals>.g"); "" when
    the target is the module or is not found (then every test may see the edit)."""
    scope: ast.AST = ast.parse(reference)
    name = ""
    for part in target.split(".") if target else []:
        found = [n for n in getattr(scope, "body", []) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                        ast.ClassDef)) and n.name == part]
        if len(found) != 1:
            return ""
        if name:
            name += ".<locals>." if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)) else "."
        name += part
        scope = found[0]
    return name


def mutant_jobs(bank: Path, reference: str) -> list[Job]:
    """One in-process job per bank mutant: the tests that reach its target, other questions' first."""
    return [Job(f"mutant:{m.name}", "bank", file=str(bank), index=i, function=_qualname(reference, m.target),
                question=m.question) for i, m in enumerate(bank_mutants(bank))]


def _mutant_problem(mutant: Mutant, outcome: Outcome | None) -> str:
    """'' when the mutant lost points in its own question and nowhere else; otherwise what is wrong.
    Its job ran the tests of other questions first, and stopped at the first failure."""
    if outcome is None:
        return "was not graded"
    if outcome.kind == "error":
        return outcome.output
    if outcome.kind == "load":
        return f"does not load ({outcome.output[:120]}), so it loses points everywhere"
    if outcome.kind in ("timeout", "crash") and not outcome.failed_test:
        return f"{outcome.kind}: {outcome.output[:120]}"
    if not outcome.failed_test:
        return f"keeps full marks in {mutant.question}"
    if outcome.failed_question != mutant.question:
        return f"also loses points in {outcome.failed_question} ({outcome.failed_test!r})"
    if outcome.output.startswith("the grader could not check"):  # a bug in the test, not a catch
        return f"caught only by a grader error in {outcome.failed_test!r}: {outcome.output[:120]}"
    return ""


def judge_bank_mutants(mutants: tuple[Mutant, ...], outcomes: dict[str, Outcome]) -> Gate:
    """Each mutant of the bank loses points in its own question and keeps full marks everywhere else."""
    rows, problems = [], []
    for m in mutants:
        outcome = outcomes.get(f"mutant:{m.name}")
        why = _mutant_problem(m, outcome)
        rows.append({"name": m.name, "question": m.question, "caught_by": outcome.failed_test if outcome else "",
                     "ran": outcome.ran if outcome else 0, "skipped": outcome.skipped if outcome else 0,
                     "problem": why})
        if why:
            problems.append(f"{m.name} ({m.question}): {why}")
    n = len(mutants)
    evidence = f"{n - len(problems)}/{n} mutants caught in their own question only"
    if problems:
        evidence += f"; {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    return Gate("mutants", bool(mutants) and not problems, evidence, details={"mutants": rows})


def gate_mutants(assignment: Assignment, reference: str, jobs: int,
                 progress: Callable[[int, int], None] | None = None) -> Gate:
    """The mutants gate on its own (``release`` grades its jobs with the other gates')."""
    bank = assignment.bank_dir / "mutants.py"
    if not bank.is_file():
        return Gate("mutants", False, f"no mutation bank at {bank}")
    mutants = bank_mutants(bank)
    if not mutants:
        return Gate("mutants", False, f"{bank} holds no mutant")
    outcomes = grade_jobs(mutant_jobs(bank, reference), project=assignment.project.root, workers=jobs,
                          timeout=wall_backstop(assignment.project.config), progress=progress)
    return judge_bank_mutants(mutants, outcomes)


def _distinctive(lines: Iterable[str], public: set[str], min_len: int) -> list[str]:
    out = []
    for raw in lines:
        line = raw.strip()
        if (len(line) >= min_len and line not in public and not line.startswith(("import ", "from ", "#"))
                and not re.fullmatch(r"[\W_]*", line)):
            out.append(line)
    return out


def secret_lines(assignment: Assignment, master: Path) -> dict[str, list[str]]:
    """{where: lines that must never reach a student}: the master's solution lines, and the lines of
    the reference and the hidden tests that the master does not show students anyway."""
    import nbformat

    solution, public = otter_format.solution_lines(nbformat.read(master, as_version=4))
    secrets = {"solution (master notebook)": [s for s in solution if len(s) > 12]}
    secrets["reference.py"] = _distinctive(assignment.reference_path.read_text().splitlines(), public, 16)
    for f in sorted((assignment.folder / "hidden").glob("*.py")):
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
                    for cell in json.loads(text).get("cells", []):
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


def gate_no_leak(student_zip: Path, assignment: Assignment, master: Path) -> Gate:
    secrets = secret_lines(assignment, master)
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


def expected_mistakes(bank: Path) -> dict[str, str]:
    """{mistake file stem: why the CPU suite cannot see it} from bank/independent/mistakes/expected.toml."""
    path = bank / "independent" / "mistakes" / "expected.toml"
    if not path.is_file():
        return {}
    return {k: str(v) for k, v in tomllib.loads(path.read_text()).get("needs_gpu", {}).items()}


@dataclass(frozen=True)
class GradingGate:
    """A gate decided by grading: what it grades, and how it judges what came back."""

    name: str
    inputs: tuple[Path, ...]  # the files whose bytes its verdict depends on, besides the grader itself
    notebooks: tuple[Path, ...]  # graded through the real path (extraction, sandbox)
    jobs: tuple[Job, ...]  # trusted sources graded in-process
    judge: Callable[[dict[Path, Grade], dict[str, Outcome]], Gate]


def _as_submitted(notebook: Path, folder: Path, name: str) -> Path:
    """A copy of ``notebook`` as a student submits it: under the assignment's name, in a folder of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(notebook.read_bytes())
    return folder / name


def grading_gates(assignment: Assignment, template: Path, solutions: Path, staging: Path) -> list[GradingGate]:
    """reference, template, mistakes, correct and mutants, in that order (copies are made in ``staging``)."""
    bank = assignment.bank_dir
    name = assignment.project.notebook_name
    graded_solutions = _as_submitted(solutions, staging / "solutions", name)
    graded_template = _as_submitted(template, staging / "template", name)
    styles = tuple(sorted((bank / "styles").glob("*.py")))
    correct = tuple(sorted((bank / "independent" / "correct").glob("*.ipynb"))
                    + sorted((bank / "independent" / "readings").glob("*.ipynb")))
    mistakes = tuple(sorted((bank / "independent" / "mistakes").glob("mistake_q*.ipynb")))
    expected_file = bank / "independent" / "mistakes" / "expected.toml"
    style_jobs = tuple(Job(f"style:{p.name}", "file", file=str(p)) for p in styles)
    mutants_file = bank / "mutants.py"
    reference = assignment.reference_path.read_text()
    mutant_list = bank_mutants(mutants_file) if mutants_file.is_file() else ()

    def judge_correct(notebooks: dict[Path, Grade], outcomes: dict[str, Outcome]) -> Gate:
        verdicts = {p: full_marks_in_process(outcomes[f"style:{p.name}"]) for p in styles}
        verdicts.update({p: full_marks(notebooks[p]) for p in correct})
        return gate_correct(verdicts)

    def judge_mutants(_: dict[Path, Grade], outcomes: dict[str, Outcome]) -> Gate:
        if not mutant_list:
            return Gate("mutants", False, f"no mutant in {mutants_file}")
        return judge_bank_mutants(mutant_list, outcomes)

    return [
        GradingGate("reference", (solutions,), (graded_solutions,), (),
                    lambda nb, _: gate_reference(nb[graded_solutions])),
        GradingGate("template", (template,), (graded_template,), (),
                    lambda nb, _: gate_template(nb[graded_template])),
        GradingGate("mistakes", (*mistakes, expected_file), mistakes, (),
                    lambda nb, _: gate_mistakes({p: nb[p] for p in mistakes}, expected_mistakes(bank))),
        GradingGate("correct", styles + correct, correct, style_jobs, judge_correct),
        GradingGate("mutants", (mutants_file,), (),
                    tuple(mutant_jobs(mutants_file, reference)) if mutant_list else (), judge_mutants),
    ]
