"""Grader-side comparisons (``core.compare``) hold bounded memory whatever the answer's size: two
answers of a student's may be compared with each other (the same call twice), so neither side's
size is the grader's to choose (independent round 2: a 28 Mi-entry uint8 answer, 1 byte an entry
on the wire, made a float64 comparison take 1.5 GB and a 1 GiB grader die)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from ditgrade.core.compare import COMPARE_CHUNK, assert_close, fmt_names
from ditgrade.core.suite import MAX_MESSAGE_CHARS, Fail, GradedTest, run_test, run_tests

N = 28 << 20


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def test_comparing_two_huge_answers_holds_a_few_chunks_not_copies_of_the_answers() -> None:
    a = np.broadcast_to(np.uint8(3), (N,))
    same, other = np.broadcast_to(np.uint8(3), (N,)), np.broadcast_to(np.uint8(4), (N,))
    assert _peak_mb(lambda: assert_close(a, same, "x", rtol=0, atol=0)) < 100  # float64 copies: 448 MB

    def mismatch() -> None:
        with pytest.raises(Fail, match=f"{N} of {N} entries mismatch, max abs error 1"):
            assert_close(a, other, "x", rtol=0, atol=0)

    assert _peak_mb(mismatch) < 100


@pytest.mark.parametrize("where", [0, COMPARE_CHUNK - 1, COMPARE_CHUNK, 3 * COMPARE_CHUNK + 5])
def test_the_first_difference_and_nan_are_found_in_any_chunk(where: int) -> None:
    e = np.zeros(4 * COMPARE_CHUNK, dtype=np.float32).reshape(4, -1)
    a = e.copy()
    a.reshape(-1)[where] = 2.0
    a.reshape(-1)[-1] = 0.5
    idx = list(np.unravel_index(where, e.shape))
    with pytest.raises(Fail, match=rf"2 of {e.size} entries mismatch, max abs error 2 .* first mismatch at index "
                                   rf"\[{idx[0]}, {idx[1]}\]: got 2, expected 0"):
        assert_close(a, e, "x")
    a.reshape(-1)[where] = np.nan
    with pytest.raises(Fail, match=rf"contains 1 NaN/inf value\(s\); the first at index \[{idx[0]}, {idx[1]}\]"):
        assert_close(a, e, "x")


@pytest.mark.parametrize("raised", ["fail", "grader"])
def test_a_message_quoting_a_huge_answer_is_cut_to_a_few_names(raised: str) -> None:
    """However much of the answer a test quotes, a result's message stays short (independent round
    10: 120 buffer names of 100,000 characters each, all quoted, made results.json 12 MB)."""
    names = [f"buf{i}_" + "x" * 100_000 for i in range(120)]

    def test(runner) -> None:
        if raised == "fail":
            raise Fail(f"unexpected {names}")
        raise KeyError(" ".join(names))

    got = run_test(GradedTest("q9 quotes the answer", 1.0, test), None, 1.0)
    assert not got.passed and got.output.startswith(("unexpected ['buf0_", "the grader could not"))
    assert len(got.output) <= MAX_MESSAGE_CHARS
    shown = fmt_names(names)
    assert shown.count("'buf") == 6 and shown.endswith(", and 114 more]") and len(shown) < 600


def test_the_public_checks_run_first_and_results_keep_the_suites_order() -> None:
    """The public checks run before any hidden test, as in the notebook: their failure text is shown
    to the student at once, and after the hidden tests it could carry what the student's code logged
    of their inputs (independent attack round 14). The results keep the suite's order."""
    seen: list[str] = []

    class Runner:
        def begin_test(self, test: GradedTest) -> None:
            seen.append(test.name)

    def fn(runner) -> None:
        return None

    tests = [GradedTest("q1 hidden a", 1.0, fn), GradedTest("q1 public checks", 0.0, fn, public=True),
             GradedTest("q2 hidden b", 1.0, fn), GradedTest("q2 public checks", 0.0, fn, public=True)]
    results = run_tests(tests, Runner(), {"q1": 1.0, "q2": 1.0})
    assert seen == ["q1 public checks", "q2 public checks", "q1 hidden a", "q2 hidden b"]
    assert [r.name for r in results] == [t.name for t in tests] and all(r.passed for r in results)
