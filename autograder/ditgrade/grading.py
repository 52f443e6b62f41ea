"""Grade one submission: read it in the sandbox, load its statements there, run the suite against them.

``grade_submission`` may be called many times in one process (a batch worker does): the fork
server is started once and reused, and its start overlaps the grader's own imports.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from .core import taint
from .core.assignment import Assignment
from .core.extract import ExplorationCells, Extracted, Statement
from .core.results import Grade, build_results, unreadable_results
from .core.suite import TestResult, run_tests, warm_ups
from .core.text import clean_tree
from .sandbox import Limits, SandboxRunner, fork_server
from .sandbox.runner import GIVEN

_NAME_ERROR = re.compile(r"NameError: name '(\w+)' is not defined")
MAX_EXPLAINED = 3  # statements named in one test's feedback


def drivers_of(assignment: Assignment) -> ExplorationCells:
    d = assignment.generated.get("driver_cells", {})
    return ExplorationCells(frozenset(d.get("ids", [])), frozenset(d.get("sources", [])))


def given_of(assignment: Assignment) -> list[Statement]:
    """The template's given (non-answer) code, run before the student's in every submission format."""
    return [Statement(g["label"], g["source"], tuple(g["names"]), bool(g["definition"]))
            for g in assignment.generated.get("given", [])]


def limits_for(assignment: Assignment, *, gpu: bool) -> Limits:
    limits = Limits.from_settings(assignment.project.config, gpu=gpu)
    limits.hide = assignment.project.secret_paths()
    limits.readable = list(assignment.hooks.readable_paths(gpu))
    return limits


def gpu_available(assignment: Assignment) -> bool:
    """Whether the GPU tests can run here, as the assignment's hooks say (an assignment may offer a
    dry run of the same sandboxed path on the CPU).

    Asking may start the CUDA driver in this process, after which no fork of it can use CUDA: the
    process is marked, so a fork server it starts later is a fresh interpreter (``taint``)."""
    taint.mark("the CUDA driver")
    return assignment.hooks.gpu_available()


def _first_line(source: str) -> str:
    line = source.strip().split("\n", 1)[0].strip()
    return line if len(line) <= 80 else line[:77] + "..."


def explain_failures(results: list[TestResult], extracted: Extracted, problems: dict[str, str]) -> None:
    """Each failed test says which of the student's top-level statements that bind or change a name
    its question's code uses did not run to its end, and why, whatever the test's own error was
    (a skipped loop that fills a table shows as a bare ``KeyError`` otherwise)."""
    sources = {s.label: s for s in extracted.statements}
    for r in results:
        if r.passed:
            continue
        used = extracted.uses.get(r.question, frozenset())
        match = _NAME_ERROR.search(r.output)
        if match:
            used = used | {match.group(1)}
        lines = [f"{label} `{_first_line(sources[label].source)}` {why}" for label, why in problems.items()
                 if label in sources and set(sources[label].names) & used]
        lines += [f"{s.label} `{s.text}` was not run: {s.reason}" for s in extracted.skipped if set(s.names) & used]
        if lines:
            more = len(lines) - MAX_EXPLAINED
            r.output += "\n" + "\n".join(lines[:MAX_EXPLAINED]) + (f"\n(and {more} more)" if more > 0 else "")


def student_notes(extracted: Extracted, problems: dict[str, str]) -> list[str]:
    """What went wrong with the student's own statements (the given code's problems are for staff)."""
    notes = list(extracted.notes)
    sources = {s.label: s for s in extracted.statements}
    notes += [f"{label} `{_first_line(sources[label].source)}` {why} (the rest was still graded)"
              for label, why in list(problems.items())[:20] if label in sources]
    return notes


def grade_submission(path: str | Path, *, gpu: bool = False, assignment: Assignment | None = None,
                     sub: str = "submission") -> Grade:
    """The Gradescope results.json dict for the submission at ``path``; never raises for its content.
    (``sub`` names the submission in the grader's own logs; it never reaches a sandbox.)"""
    start = time.monotonic()
    assignment = assignment or Assignment.load()
    cfg = assignment.project.config
    notes: list[str] = []
    server = fork_server(assignment)  # before this process reads any student data or starts CUDA
    prepare(assignment, enough=server.answered)  # while the fork server finishes its preload
    if gpu and not gpu_available(assignment):
        notes.append("--gpu was given but there is no CUDA device: the GPU tests were not run.")
        gpu = False
    taint.mark("a submission")
    runner = SandboxRunner(assignment, limits_for(assignment, gpu=gpu), given=given_of(assignment))
    try:
        extracted = runner.read(path, drivers=drivers_of(assignment), notebook_name=assignment.project.notebook_name,
                                graded={q.id: list(q.names) for q in assignment.questions})
        results = [] if extracted.unreadable else run_tests(assignment.tests(gpu=gpu), runner, assignment.points)
    finally:
        runner.close()
    report = runner.report()
    if extracted.unreadable:
        return unreadable_results(extracted.unreadable, cfg=cfg).with_info(
            sandbox=report, fingerprint=assignment.fingerprint, gpu=gpu, file=extracted.file)
    problems = runner.problems()
    explain_failures(results, extracted, problems)
    given_problems = {k: v for k, v in problems.items() if k.startswith(GIVEN)}
    if given_problems:
        report["given_code_problems"] = given_problems
    grade = build_results(results, cfg=cfg, seconds=time.monotonic() - start,
                          student_notes=notes + student_notes(extracted, problems), sandbox=report, gpu=gpu,
                          gpu_note=assignment.gpu_note, stdout=runner.output, fingerprint=assignment.fingerprint,
                          graded_file=extracted.file)
    # staff read them; not graded (read with the statements: the notebook is parsed once)
    return grade.with_info(predictions=clean_tree(extracted.predictions))


def prepare(assignment: Assignment, enough: Callable[[], bool] = lambda: False) -> None:
    """The grader's own preparation, done once per process after its fork server was forked (and
    so beside that server's own preload, on another core): the assignment's warm-up (the models
    the hidden tests build), the hidden tests imported, hypothesis's first-use cost paid, then the
    hidden tests' own warm-ups (``suite.warm_up``: expected values they would compute on first
    use), step by step until ``enough()`` says to stop (the fork server is ready: the tests then
    compute the rest when they need it). On the project's 2-core VM the fork server's preload
    outlasted the rest of this by about a second."""
    from .core.compare import warm_up_cases

    if _PREPARED.get(assignment.folder):
        return
    try:
        assignment.hooks.warm()
    except Exception:  # noqa: BLE001 - an optimisation: a warm-up that fails only costs its time
        pass
    assignment.tests(gpu=True)
    warm_up_cases()
    assignment.fingerprint  # noqa: B018 - computed once, before the first submission
    _PREPARED[assignment.folder] = True
    _warm_up_tests(assignment, enough)


def _warm_up_tests(assignment: Assignment, enough: Callable[[], bool]) -> None:
    from .core.compare import deterministic_PRNG

    for fn in warm_ups(assignment.package):
        steps = fn()
        try:
            while not enough():
                with deterministic_PRNG():  # random's and numpy's generators as a test finds them
                    next(steps)
        except StopIteration:
            continue
        except Exception:  # noqa: BLE001, S112 - an optimisation: the tests compute what it did not
            continue
        return


_PREPARED: dict[Path, bool] = {}


def warmup(assignment: Assignment | None = None) -> Assignment:
    """What a batch worker does once before its first submission: start the fork server, prepare
    the grader (``prepare``), one torch thread per grading process (N workers on N cores otherwise
    oversubscribe the CPU)."""
    import torch

    torch.set_num_threads(1)
    assignment = assignment or Assignment.load()
    fork_server(assignment, many=True)
    prepare(assignment)
    return assignment
