"""Shared fixtures: the assignment under test, its reference, and ``grade``, which runs the CPU
hidden suite in this process on a source text (trusted code only: the reference, the bank).

Two groups of tests: ``tests/engine/`` tests ditgrade itself on the tiny second course
(tests/fixtures/tiny_course: two questions, numpy only), where ``assignment`` is that course, built
once per session; the rest tests the DiT assignment, where ``assignment`` is this repository's.
``DITGRADE_TESTS_ENGINE_ONLY=1`` refuses any import of ``diffusers`` or ``dit`` in this process, so
``DITGRADE_TESTS_ENGINE_ONLY=1 pytest tests/engine`` proves the engine's tests need neither (CI).

Points and totals are read from the assignment (``assignment.points``, ``full_marks``), never
written as numbers, so that an instructor's edit of the master's points leaves the tests right.
``$DITGRADE_PROJECT`` names another copy of the course to test (test_project proves the tests
follow the master that way)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
ENGINE_TESTS = REPO / "tests" / "engine"
TINY = REPO / "tests" / "fixtures" / "tiny_course"
sys.path.insert(0, str(REPO / "autograder"))  # the DiT grading folder as the package `dit`


class _NoDiT(importlib.abc.MetaPathFinder):
    """Refuses the DiT assignment and diffusers: the engine's tests must not need them."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("dit", "diffusers"):
            raise ImportError(f"{name}: DITGRADE_TESTS_ENGINE_ONLY is set (the engine's tests run without DiT)")
        return None


if os.environ.get("DITGRADE_TESTS_ENGINE_ONLY"):
    sys.meta_path.insert(0, _NoDiT())


def course_root() -> Path:
    """The course under test: this repository, or the copy ``$DITGRADE_PROJECT`` names."""
    return Path(os.environ.get("DITGRADE_PROJECT") or REPO)


def course_assignment():
    """The course's assignment, for modules that need its points at import (worker processes too)."""
    from ditgrade.core.assignment import Assignment
    from ditgrade.project import Project

    return Assignment.load(Project(course_root()))


@pytest.fixture(scope="session")
def dit_assignment():
    return course_assignment()


@pytest.fixture(scope="session")
def tiny_course(tmp_path_factory) -> Path:
    """A built copy of the tiny second course (its generated folder is not kept in the repository)."""
    from ditgrade.cli import main

    course = tmp_path_factory.mktemp("engine") / "tiny"
    shutil.copytree(TINY, course)
    assert main(["--project", str(course), "build"]) == 0
    return course


@pytest.fixture(scope="session")
def tiny_assignment(tiny_course):
    from ditgrade.core.assignment import Assignment
    from ditgrade.project import Project

    return Assignment.load(Project(tiny_course))


@pytest.fixture(scope="module")
def assignment(request):
    """The course a test module grades: the tiny one for tests/engine/, else this repository's."""
    engine = ENGINE_TESTS in Path(str(request.path)).parents
    return request.getfixturevalue("tiny_assignment" if engine else "dit_assignment")


@pytest.fixture(scope="module")
def full_marks(assignment) -> float:
    """The assignment's total: the sum of the master's points."""
    return sum(assignment.points.values())


@pytest.fixture(scope="module")
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
def reference_source(dit_assignment) -> str:
    return dit_assignment.reference_path.read_text()


@pytest.fixture(scope="session")
def grade(dit_assignment, single_thread_torch):
    """grade(source or namespace) -> (results, {question: (score, max)}) over the CPU hidden tests."""
    from ditgrade.core.probe_calls import InProcessRunner, namespace_from_source
    from ditgrade.core.suite import question_scores, run_tests

    assignment = dit_assignment
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
