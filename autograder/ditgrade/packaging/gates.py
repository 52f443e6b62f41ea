"""The release gates: the evidence that the grader is right, checked before anything is handed out.

    up-to-date    student_template/, solutions/ and generated/ are what the master notebook builds
    reference     the solutions notebook, graded like a submission, scores full marks
    template      the untouched student notebook scores 0, every test failing for its stubs
    correct       every correct solution in the bank scores full marks: the styles derived from the
                  reference, those written from the student notebook alone (bank/independent/correct),
                  and those that take the other reading where the task text allows two (.../readings)
    mutants       every mutant (bank/mutants.py) loses points in its own question and nowhere else
    mistakes      every independently written mistake (bank/independent/mistakes) does the same,
                  except those the bank lists as invisible without a GPU (expected.toml)
    no-leak       no solution line, no distinctive line of the reference or the hidden tests, is
                  in the student package
    reproducible  a second build gives byte-identical zips

Notebook gates grade through the real path (extraction, sandbox), several at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import json
import multiprocessing as mp
import os
import re
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.assignment import Assignment
from ..core.results import graded_tests
from ..core.suite import question_of
from . import otter_format
from .mutate import MutantError, apply


@dataclass
class Gate:
    name: str
    passed: bool
    evidence: str


GradeFn = Callable[..., dict]


def question_totals(results: dict) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for t in graded_tests(results):
        q = question_of(str(t.get("name", "")))
        s, m = out.get(q, (0.0, 0.0))
        out[q] = (s + float(t.get("score") or 0), m + float(t.get("max_score") or 0))
    return out


def _full(results: dict) -> tuple[bool, str]:
    failed = [t.get("name", "?") for t in graded_tests(results) if t.get("status") != "passed"
              and float(t.get("max_score") or 0) > 0]
    score = float(results.get("score") or 0)
    maximum = sum(m for _, m in question_totals(results).values())
    return not failed and maximum > 0, f"{score:g}/{maximum:g}" + (f", failing {failed[:2]}" if failed else "")


def grade_many(paths: list[Path], assignment: Assignment, jobs: int) -> dict[Path, dict]:
    """Grade notebooks/files through the real path on warm workers: {path: results}."""
    from ..batch.discover import Submission
    from ..batch.pool import run_local

    subs = [Submission(f"gate-{i}", p, p) for i, p in enumerate(paths)]
    by_id = {s.id: s.path for s in subs}
    out: dict[Path, dict] = {}

    def done(sub: Any, kind: str, payload: Any, seconds: float) -> None:
        from ..core.results import error_results

        out[by_id[sub.id]] = payload if kind == "ok" else error_results(str(payload))

    run_local(subs, jobs=jobs, grade_fn="ditgrade.core.grade.grade_submission", gpu=False, timeout=1800,
              on_done=done, project=str(assignment.project.root))
    return out


def gate_reference(results: dict) -> Gate:
    ok, evidence = _full(results)
    return Gate("reference", ok, f"the solutions notebook scores {evidence}")


_CRASH_WORDS = re.compile(r"CPU time|wall-clock|without computing|died|out of turn|cannot read|malformed|"
                          r"could not be graded|autograder itself failed", re.I)


def gate_template(results: dict) -> Gate:
    """The untouched template scores 0, and each test fails for the stubs' reason, not a crash."""
    tests = [t for t in graded_tests(results) if float(t.get("max_score") or 0) > 0]
    texts = [str(t.get("output") or "") for t in tests]
    crashed = [t for t in texts if _CRASH_WORDS.search(t)]
    todo = sum(1 for t in texts if re.search(r"not implemented|TODO", t, re.I))
    score = float(results.get("score") or 0)
    ok = bool(tests) and score == 0 and not crashed and todo == len(tests)
    evidence = f"{score:g} points, {todo}/{len(tests)} tests report the unfinished stubs"
    if crashed:
        evidence += f"; {len(crashed)} look like crashes, e.g. {crashed[0][:120]!r}"
    return Gate("template", ok, evidence)


def gate_correct(results: dict[Path, dict]) -> Gate:
    bad = [(p.name, ev) for p, r in results.items() for ok, ev in [_full(r)] if not ok]
    evidence = f"{len(results) - len(bad)}/{len(results)} correct solutions score full marks"
    if bad:
        evidence += f"; {bad[0][0]}: {bad[0][1]}"
    return Gate("correct", bool(results) and not bad, evidence)


def _own_question_only(scores: dict[str, tuple[float, float]], question: str) -> str:
    """'' when the scores lose points in ``question`` and nowhere else; otherwise what is wrong."""
    own = scores.get(question)
    if own is None or own[0] >= own[1] - 1e-6:
        return f"keeps full marks in {question}"
    others = [q for q, (s, m) in scores.items() if q != question and s < m - 1e-6]
    return f"also loses points in {', '.join(others)}" if others else ""


def gate_mistakes(results: dict[Path, dict], expected: dict[str, str]) -> Gate:
    """Independent mistakes, named mistake_<question>_<what>: each loses points in its own question only."""
    problems, exempt = [], []
    for path, r in results.items():
        question = path.stem.split("_")[1]
        why = _own_question_only(question_totals(r), question)
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


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _init_mutant_worker(project_root: str) -> None:
    import torch

    torch.set_num_threads(1)  # the tiny models run many times faster without an oversubscribed pool
    os.environ["DITGRADE_PROJECT"] = project_root


def _grade_mutant(bank: str, index: int, reference: str) -> tuple[str, str, dict, str]:
    """(name, question, {question: (score, max)}, error) for mutant ``index``, graded in-process."""
    from ..core.runner import InProcessRunner, namespace_from_source
    from ..core.suite import question_scores, run_tests

    assignment = Assignment.load()
    mutant = load_module(Path(bank), "_ditgrade_bank_mutants").MUTANTS[index]
    try:
        source = apply(reference, mutant)
    except MutantError as e:
        return mutant.name, mutant.question, {}, f"{bank}: mutant {mutant.name!r}: {e}"
    try:
        tests = [t for t in assignment.tests() if not t.public]
        runner = InProcessRunner(namespace_from_source(source, f"<mutant {mutant.name}>"), assignment.probes)
        scores = question_scores(run_tests(tests, runner, assignment.points))
    except Exception as e:
        return mutant.name, mutant.question, {}, f"{type(e).__name__}: {e}"
    return mutant.name, mutant.question, scores, ""


def gate_mutants(assignment: Assignment, reference: str, jobs: int) -> Gate:
    """Each mutant of the bank loses points in its own question and keeps full marks everywhere else."""
    bank = assignment.bank_dir / "mutants.py"
    if not bank.is_file():
        return Gate("mutants", False, f"no mutation bank at {bank}")
    n = len(load_module(bank, "_ditgrade_bank_mutants").MUTANTS)
    if n == 0:
        return Gate("mutants", False, f"{bank} holds no mutant")
    problems: list[str] = []
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max(1, min(jobs, n)), mp_context=ctx, initializer=_init_mutant_worker,
                                initargs=(str(assignment.project.root),)) as pool:
        for name, question, scores, error in pool.map(_grade_mutant, [str(bank)] * n, range(n), [reference] * n):
            why = error or _own_question_only(scores, question)
            if why:
                problems.append(f"{name} ({question}): {why}")
    evidence = f"{n - len(problems)}/{n} mutants caught in their own question only"
    if problems:
        evidence += f"; {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
    return Gate("mutants", not problems, evidence)


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


def notebook_gates(assignment: Assignment, template: Path, solutions: Path, jobs: int) -> list[Gate]:
    """reference, template, correct and mistakes: every notebook graded through the real path at once."""
    bank = assignment.bank_dir
    correct = sorted((bank / "styles").glob("*.py")) + sorted((bank / "independent" / "correct").glob("*.ipynb")) \
        + sorted((bank / "independent" / "readings").glob("*.ipynb"))
    mistakes = sorted((bank / "independent" / "mistakes").glob("mistake_q*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        # graded as students submit it: the notebook under the assignment's name, in a folder of its own
        paths = {}
        for key, nb in (("solutions", solutions), ("template", template)):
            folder = Path(tmp) / key
            folder.mkdir()
            (folder / assignment.project.notebook_name).write_bytes(nb.read_bytes())
            paths[key] = folder / assignment.project.notebook_name
        results = grade_many([paths["solutions"], paths["template"], *correct, *mistakes], assignment, jobs)
    return [gate_reference(results[paths["solutions"]]), gate_template(results[paths["template"]]),
            gate_correct({p: results[p] for p in correct}),
            gate_mistakes({p: results[p] for p in mistakes}, expected_mistakes(bank))]
