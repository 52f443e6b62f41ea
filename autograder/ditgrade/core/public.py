"""The master notebook's public checks as tests of the suite (what ``grader.check`` runs).

Each question's public cases become one test, named ``<q> public checks``, run in the sandbox like
any hidden test (``ditgrade.worker.checks``). Its weight is ``public_test_weight`` (0 by default:
the result is shown to the student before grades are published, and carries no points, because
the student already has these checks and their code runs in the student's own process).
"""

from __future__ import annotations

from typing import Any

from ..worker.checks import PROBE
from .suite import Fail, HiddenTest


def checks(public_tests: dict[str, list[str]], weight: float) -> list[HiddenTest]:
    """One test per question that has public cases."""
    return [HiddenTest(f"{q} public checks (the notebook's grader.check)", weight, _runner_of(q, cases), public=True)
            for q, cases in public_tests.items() if cases]


def _runner_of(question: str, cases: list[str]):
    def run(runner: Any) -> str:
        result = runner.call(PROBE.name, cases=list(cases), question=question)
        if not isinstance(result, dict) or not isinstance(result.get("passed"), bool):
            raise Fail("the public checks returned nothing readable")
        if not result["passed"]:
            raise Fail(f"public check {result.get('case')} of {len(cases)} failed: {result.get('message')}")
        return f"{len(cases)} of {len(cases)} public checks pass"

    return run
