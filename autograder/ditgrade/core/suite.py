"""Hidden tests: how they are declared, and how one submission's run of them is scored.

A hidden test is a function ``test(runner)`` registered with ``@hidden_test(name, weight=...)``.
Its name starts with its question's id (``"q1 normalize keeps the dtype"``). It calls student code
only through ``runner.call(probe, ...)`` and computes every expected value itself. It passes by
returning (optionally a short note of what it measured); it fails by raising ``Fail`` (feedback
for the student) or by letting a ``StudentError`` escape. Each test is all-or-nothing.

Points come from the master notebook (``points:`` of each question); a test's ``weight`` says what
share of its question it carries: ``points * weight / sum of the question's weights``, over the
tests that ran (the GPU tests count only in a ``--gpu`` run, and the public checks only when
``public_test_weight`` is above 0).
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import StudentError
from .text import shorten


class Fail(AssertionError):
    """A hidden test found a mistake; the message is the student's feedback."""


def question_of(name: str) -> str:
    """The question id a test name starts with ("q1 normalize ..." -> "q1")."""
    return name.split(maxsplit=1)[0] if name.strip() else ""


@dataclass(frozen=True)
class GradedTest:
    name: str
    weight: float
    fn: Callable[[Any], Any]
    requires_gpu: bool = False
    public: bool = False  # one of the notebook's own public checks, run in the sandbox

    @property
    def question(self) -> str:
        return question_of(self.name)


@dataclass
class TestResult:
    name: str
    question: str
    score: float
    max_score: float
    passed: bool
    output: str
    seconds: float = 0.0
    kind: str = "passed"  # passed | failed | not_implemented | missing | exception | timeout | crash
    public: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, GradedTest] = {}


def hidden_test(name: str, weight: float = 1.0, *, requires_gpu: bool = False) -> Callable:
    """Register ``fn(runner)`` as the hidden test ``name``, carrying ``weight`` within its question."""
    if not question_of(name):
        raise ValueError(f"a hidden test's name starts with its question id: {name!r}")
    if weight < 0:
        raise ValueError(f"{name!r}: weight must be >= 0")

    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        key = f"{fn.__module__}:{name}"
        if key in _REGISTRY and _REGISTRY[key].fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"duplicate hidden test name {name!r}")
        _REGISTRY[key] = GradedTest(name, float(weight), fn, requires_gpu)
        return fn

    return register


_WARM_UPS: dict[str, Callable[[], Iterator[None]]] = {}


def warm_up(fn: Callable[[], Iterator[None]]) -> Callable[[], Iterator[None]]:
    """Register the generator ``fn()``: work the hidden tests would do on first use (expected
    values their own caches keep), done once per grading process by ``grading.prepare`` while the
    fork server does its preload and the grader has nothing else to do. It yields after each piece
    of work, and is not resumed once the fork server is ready. It must compute only what the tests
    compute, with the same functions and arguments, so that a grade is the same whether it ran or
    not (a batch's later submissions find those caches filled either way). Its failure only costs
    its time: the tests compute what it did not."""
    _WARM_UPS[f"{fn.__module__}:{fn.__qualname__}"] = fn
    return fn


def warm_ups(package: str) -> list[Callable[[], Iterator[None]]]:
    """The warm-ups registered by the modules of ``package`` (imported by ``collect``), in file order."""
    return [fn for key, fn in _WARM_UPS.items() if key.split(":", 1)[0].startswith(package + ".")]


def collect(package: str) -> list[GradedTest]:
    """Every hidden test registered by the modules of ``package`` (imported here), in file order."""
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        importlib.import_module(f"{package}.{info.name}")
    return [t for key, t in _REGISTRY.items() if key.split(":", 1)[0].startswith(package + ".")]


def order(tests: Iterable[GradedTest], questions: list[str]) -> list[GradedTest]:
    """Tests question by question (the notebook's order), registration order within a question."""
    rank = {q: i for i, q in enumerate(questions)}
    return sorted(tests, key=lambda t: rank.get(t.question, len(rank)))


# One test's message, whatever the test put in it: feedback a student reads, not a dump of their
# answer (independent attack round 10: 120 buffer names of 100,000 characters each, quoted in a
# failure, made results.json 12 MB and the grader's peak 55 MB higher).
MAX_MESSAGE_CHARS = 2000


def run_test(test: GradedTest, runner: Any, max_score: float) -> TestResult:
    """Run one test; never raises for anything the student's code did."""
    start = time.perf_counter()
    kind, message = "passed", "passed"
    begin = getattr(runner, "begin_test", None)  # the sandbox budgets per question, and leases a GPU
    if begin is not None:
        begin(test)
    try:
        note = test.fn(runner)
        if isinstance(note, str) and note:  # a passing test may report what it measured
            message = f"passed: {note}"
    except Fail as e:
        kind, message = "failed", str(e)
    except StudentError as e:
        kind, message = e.kind, e.message
    except Exception as e:  # a bug in the grader, or student data that broke a comparison
        kind, message = "failed", f"the grader could not check this result ({type(e).__name__}: {str(e)[:300]})"
    passed = kind == "passed"
    return TestResult(name=test.name, question=test.question, score=max_score if passed else 0.0,
                      max_score=max_score, passed=passed, output=shorten(message, MAX_MESSAGE_CHARS),
                      seconds=time.perf_counter() - start,
                      kind=kind, public=test.public)


def max_scores(tests: list[GradedTest], points: dict[str, float]) -> dict[str, float]:
    """{test name: its share of its question's points} over ``tests`` (those that will run), rounded
    to 4 decimals so that each question's shares add up to its points exactly."""
    by_q: dict[str, list[GradedTest]] = {}
    for t in tests:
        by_q.setdefault(t.question, []).append(t)
    shares: dict[str, float] = {}
    for q, group in by_q.items():
        total = sum(t.weight for t in group)
        target = points.get(q, 0.0)
        for t in group:
            shares[t.name] = round(target * t.weight / total, 4) if total else 0.0
        weighted = [t for t in group if t.weight > 0]
        if weighted:  # the rounding remainder goes to the question's last weighted test
            last = weighted[-1].name
            shares[last] = round(target - sum(shares[t.name] for t in group if t.name != last), 4)
    return shares


def run_tests(tests: list[GradedTest], runner: Any, points: dict[str, float]) -> list[TestResult]:
    """Each test's result, in the order of ``tests``; the public checks run first, as they do in the
    notebook, before the student's code has seen any hidden input. Their failure text is shown at
    once (``public_test_visibility``): run after the hidden tests, it could carry what the student's
    code logged of those inputs (independent attack round 14)."""
    shares = max_scores(tests, points)
    ran = {i: run_test(tests[i], runner, shares[tests[i].name])
           for i in sorted(range(len(tests)), key=lambda i: not tests[i].public)}
    return [ran[i] for i in range(len(tests))]


def question_scores(results: list[TestResult]) -> dict[str, tuple[float, float]]:
    """{question: (score, max_score)} over ``results``."""
    out: dict[str, tuple[float, float]] = {}
    for r in results:
        s, m = out.get(r.question, (0.0, 0.0))
        out[r.question] = (s + r.score, m + r.max_score)
    return out
