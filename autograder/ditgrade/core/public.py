"""The master notebook's public checks as tests of the suite (what ``grader.check`` runs).

Each question's public cases become one test, named ``<q> public checks``. The student's process
runs each example and reports, raw, what it printed or raised (``ditgrade.worker.checks``); the
verdict is reached here, in the grader, with doctest's own parser and output checker, like every
hidden test's. Its weight is ``public_test_weight`` (0 by default: the result is shown to the
student before grades are published and carries no points; the student has these checks and their
expected output, so a score on them rewards what can be copied from the notebook).
"""

from __future__ import annotations

import doctest
from typing import Any

from ..worker.checks import PROBE
from .suite import Fail, GradedTest
from .values import Raised

_parse = doctest.DocTestParser().get_examples
_checker = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def checks(public_tests: dict[str, list[str]], weight: float) -> list[GradedTest]:
    """One test per question that has public cases."""
    return [GradedTest(f"{q} public checks (the notebook's grader.check)", weight, _runner_of(cases), public=True)
            for q, cases in public_tests.items() if cases]


def judge(cases: list[str], reported: Any) -> str:
    """'' when every case passed; otherwise the first failure, for the student. ``reported`` is what
    the student's process said each example printed or raised (checked here, not trusted)."""
    if not isinstance(reported, list) or len(reported) != len(cases):
        return "the public checks' results could not be read"
    for number, (code, got) in enumerate(zip(cases, reported, strict=True), start=1):
        examples = _parse(code)
        if not isinstance(got, list) or not got or len(got) > len(examples):
            return f"public check {number} of {len(cases)} did not report its results"
        for example, record in zip(examples, got, strict=False):
            if not isinstance(record, dict) or record.get("source") != example.source \
                    or not isinstance(record.get("printed"), str):
                return f"public check {number} of {len(cases)} reported something else than it was asked to run"
            first = example.source.strip().splitlines()[0]
            raised = record.get("raised")
            if isinstance(raised, Raised):
                return f"public check {number} of {len(cases)} failed: `{first}` raised {raised.type}: {raised.message}"
            if raised is not None:
                return f"public check {number} of {len(cases)} reported something else than it was asked to run"
            if example.want and not _checker.check_output(example.want, record["printed"], _FLAGS):
                return (f"public check {number} of {len(cases)} failed: `{example.source.strip()}` printed "
                        f"{record['printed'].strip()[:300]!r}, expected {example.want.strip()!r}")
        if len(got) < len(examples):
            return f"public check {number} of {len(cases)} stopped before its end"
    return ""


def _runner_of(cases: list[str]):
    def run(runner: Any) -> str:
        why = judge(cases, runner.call(PROBE.name, cases=list(cases)))
        if why:
            raise Fail(why)
        return f"{len(cases)} of {len(cases)} public checks pass"

    return run
