"""The hidden test registry and the loop that runs it against one submission.

A hidden test is a function ``test(runner)`` registered with ``@hidden_test(name, points)``.
It calls student code only through ``runner.call(probe, ...)`` and computes every expected
value itself, in the grader's process. It passes by returning (optionally a
short note, e.g. what it measured, shown with the result); it fails by raising ``Fail``
(feedback for the student) or by letting a ``StudentError`` escape (the student's code
raised, hung, crashed or is missing). Each test is all-or-nothing; a question's partial credit
is the sum of its tests.

Test names start with the question id (``q1 ...``): Gradescope shows them and tools read the id.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .student import NOT_IMPLEMENTED, Runner, StudentError

QUESTIONS = ("q1", "q2", "q3", "q4", "q5")
# Modules that register hidden tests, imported on first use so that importing ditgrade stays cheap
# and the sandboxed child (forked before this import) never has the tests in memory.
HIDDEN_MODULES = (
    "ditgrade.hidden.q1_patchify",
    "ditgrade.hidden.q2_adaln",
    "ditgrade.hidden.q3_params",
    "ditgrade.hidden.q4_convs",
    "ditgrade.hidden.q5_sampling",
    "ditgrade.hidden.q5_gpu",
)


class Fail(AssertionError):
    """A hidden test found a mistake; the message is the student's feedback."""


@dataclass(frozen=True)
class HiddenTest:
    name: str
    points: float
    fn: Callable[[Runner], None]
    requires_gpu: bool = False

    @property
    def question(self) -> str:
        return self.name.split()[0]


@dataclass
class TestResult:
    name: str
    question: str
    score: float
    max_score: float
    passed: bool
    output: str
    seconds: float = 0.0
    kind: str = "passed"  # passed | failed | not_implemented | missing | exception | timeout | crash | skipped
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, HiddenTest] = {}


def hidden_test(name: str, points: float, *, requires_gpu: bool = False) -> Callable:
    """Register ``fn(runner)`` as a hidden test called ``name`` worth ``points``."""
    if name.split()[0] not in QUESTIONS:
        raise ValueError(f"hidden test name must start with a question id {QUESTIONS}: {name!r}")

    def register(fn: Callable[[Runner], None]) -> Callable[[Runner], None]:
        if name in _REGISTRY:
            raise ValueError(f"duplicate hidden test name {name!r}")
        _REGISTRY[name] = HiddenTest(name, float(points), fn, requires_gpu)
        return fn

    return register


def all_tests(*, gpu: bool = False) -> list[HiddenTest]:
    """Every registered hidden test, in question order then registration order."""
    for mod in HIDDEN_MODULES:
        importlib.import_module(mod)
    tests = [t for t in _REGISTRY.values() if gpu or not t.requires_gpu]
    return sorted(tests, key=lambda t: QUESTIONS.index(t.question))


def run_test(test: HiddenTest, runner: Runner) -> TestResult:
    """Run one hidden test; never raises for anything the student's code did."""
    start = time.perf_counter()
    kind, message = "passed", "passed"
    begin = getattr(runner, "begin_test", None)  # the sandbox budgets time per question
    if begin is not None:
        begin(test.name)
    try:
        note = test.fn(runner)
        if isinstance(note, str) and note:  # a passing test may report what it measured
            message = f"passed: {note}"
    except Fail as e:
        kind, message = "failed", str(e)
    except StudentError as e:
        kind = e.kind
        message = e.message if e.kind != NOT_IMPLEMENTED else f"not implemented: {e.message}"
    except Exception as e:  # a bug in the grader, or student data that broke a comparison
        kind, message = "failed", f"the grader could not check this result ({type(e).__name__}: {str(e)[:300]})"
    passed = kind == "passed"
    return TestResult(
        name=test.name,
        question=test.question,
        score=test.points if passed else 0.0,
        max_score=test.points,
        passed=passed,
        output=message,
        seconds=time.perf_counter() - start,
        kind=kind,
    )


def run_suite(runner: Runner, *, gpu: bool = False, only: Callable[[HiddenTest], bool] | None = None) -> list[TestResult]:
    """Run every hidden test (those needing a GPU only when ``gpu``) against ``runner``."""
    return [run_test(t, runner) for t in all_tests(gpu=gpu) if only is None or only(t)]


def question_scores(results: list[TestResult]) -> dict[str, tuple[float, float]]:
    """{question: (score, max_score)} over ``results``."""
    out: dict[str, tuple[float, float]] = {}
    for r in results:
        s, m = out.get(r.question, (0.0, 0.0))
        out[r.question] = (s + r.score, m + r.max_score)
    return out
