"""``suite.warm_up``: the hidden tests' first-use work, done by ``grading.prepare`` only while the
fork server is still busy, and never able to change what a test then sees."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np

from ditgrade.core import suite
from ditgrade.grading import _warm_up_tests

PACKAGE = "warmcourse"
done: list[str] = []


def _register(name: str, steps: int, *, fail_at: int | None = None):
    def fn():
        for i in range(steps):
            if i == fail_at:
                raise RuntimeError("a warm-up that fails")
            random.random()  # global generators, which the next test must find as it left them
            np.random.random()
            done.append(f"{name}{i}")
            yield

    fn.__module__, fn.__qualname__ = f"{PACKAGE}.hidden.{name}", name
    return suite.warm_up(fn)


_register("a", 2, fail_at=1)
_register("b", 3)
_register("c", 1)


def test_every_step_runs_when_nothing_says_enough_and_a_failure_skips_only_its_own() -> None:
    done.clear()
    _warm_up_tests(SimpleNamespace(package=PACKAGE), lambda: False)
    assert done == ["a0", "b0", "b1", "b2", "c0"]


def test_no_step_starts_once_enough_says_so() -> None:
    """The fork server's readiness is asked before each step: a grade never waits for a warm-up."""
    done.clear()
    asked = iter([False, False, True])  # a0, then a1 fails, then b0 is refused
    _warm_up_tests(SimpleNamespace(package=PACKAGE), lambda: next(asked))
    assert done == ["a0"]


def test_warm_ups_leave_random_and_numpy_as_they_found_them() -> None:
    random.seed(5)
    np.random.seed(5)
    want = random.random(), np.random.random()
    random.seed(5)
    np.random.seed(5)
    _warm_up_tests(SimpleNamespace(package=PACKAGE), lambda: False)
    assert (random.random(), np.random.random()) == want


def test_only_the_packages_own_warm_ups() -> None:
    assert [fn.__qualname__ for fn in suite.warm_ups(PACKAGE)] == ["a", "b", "c"]
    assert suite.warm_ups("otherpackage") == []
