"""Shared fixtures: this project's assignment, its reference, and ``grade``, which runs the CPU
hidden suite in this process on a source text (trusted code only: the reference, the bank).

Points and totals are read from the assignment (``assignment.points``, ``full_marks``), never
written as numbers, so that an instructor's edit of the master's points leaves the tests right.
``$DITGRADE_PROJECT`` names another copy of the course to test (test_project proves the tests
follow the master that way)."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "autograder"))  # the DiT grading folder as the package `dit`


def course_root() -> Path:
    """The course under test: this repository, or the copy ``$DITGRADE_PROJECT`` names."""
    return Path(os.environ.get("DITGRADE_PROJECT") or REPO)


def course_assignment():
    """The course's assignment, for modules that need its points at import (worker processes too)."""
    from ditgrade.core.assignment import Assignment
    from ditgrade.project import Project

    return Assignment.load(Project(course_root()))


@pytest.fixture(scope="session")
def assignment():
    return course_assignment()


@pytest.fixture(scope="session")
def full_marks(assignment) -> float:
    """The assignment's total: the sum of the master's points."""
    return sum(assignment.points.values())


@pytest.fixture(scope="session")
def bank_dir(assignment) -> Path:
    return assignment.bank_dir


def load_bank_module(assignment, name: str):
    """Import bank/<name>.py (the bank is data, not a package on sys.path)."""
    module_name = f"_ditgrade_bank_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, assignment.bank_dir / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@pytest.fixture(scope="session")
def single_thread_torch():
    """One intra-op thread for the in-process suite: the tiny models are ~20x faster than with an
    oversubscribed thread pool on small CI machines. Restored at the end of the session."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def reference_source(assignment) -> str:
    return assignment.reference_path.read_text()


@pytest.fixture(scope="session")
def grade(assignment, single_thread_torch):
    """grade(source or namespace) -> (results, {question: (score, max)}) over the CPU hidden tests."""
    from ditgrade.core.probe_calls import InProcessRunner, namespace_from_source
    from ditgrade.core.suite import question_scores, run_tests

    tests = [t for t in assignment.tests() if not t.public]

    def run(submission, runner_cls=None):
        ns = namespace_from_source(submission) if isinstance(submission, str) else submission
        runner = (runner_cls or (lambda n: InProcessRunner(n, assignment.probes)))(ns)
        results = run_tests(tests, runner, assignment.points)
        return results, {q: (round(s, 4), round(m, 4)) for q, (s, m) in question_scores(results).items()}

    return run


@pytest.fixture(scope="session")
def reference_grade(grade, reference_source):
    """The reference's results, graded once per session, with the wall time it took."""
    start = time.perf_counter()
    results, scores = grade(reference_source)
    return results, scores, time.perf_counter() - start
