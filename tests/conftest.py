"""Shared fixtures for the project's tests.

Hidden-suite fixtures: the reference solution's source, the bank of test submissions
(tests/bank: stubs, alternative correct styles, the mutation bank) and ``grade``, which runs the
CPU hidden suite in-process on a source text.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

TESTS_DIR = Path(__file__).resolve().parent
BANK_DIR = TESTS_DIR / "bank"
REFERENCE_PATH = TESTS_DIR.parent / "autograder" / "ditgrade" / "reference.py"


def load_bank_module(name: str):
    """Import tests/bank/<name>.py (the bank is data, not a package on sys.path)."""
    module_name = f"_ditgrade_bank_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, BANK_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def single_thread_torch():
    """One intra-op thread for the in-process suite: the tiny models are ~20x faster than with an
    oversubscribed thread pool on small CI machines. Restored at the end of the session."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def reference_source() -> str:
    return REFERENCE_PATH.read_text()


@pytest.fixture(scope="session")
def grade(single_thread_torch):
    """grade(source or namespace dict) -> (results, {question: (score, max)}) over the CPU hidden suite."""
    from ditgrade import suite
    from ditgrade.student import InProcessRunner, namespace_from_source

    def run(submission, runner_cls=InProcessRunner):
        ns = namespace_from_source(submission) if isinstance(submission, str) else submission
        results = suite.run_suite(runner_cls(ns))
        return results, suite.question_scores(results)

    return run


@pytest.fixture(scope="session")
def reference_grade(grade, reference_source):
    """The reference's results, graded once per session, with the wall time it took."""
    import time

    start = time.perf_counter()
    results, scores = grade(reference_source)
    return results, scores, time.perf_counter() - start
