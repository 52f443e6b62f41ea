"""Comparisons for hidden tests: turn a student's decoded result into a pass or a readable Fail.

Everything here runs in the grader's process on what came back from the student's process
(``ditgrade.core.values``): plain data, numpy arrays, ``TensorValue``s, ``Raised`` and ``Opaque``
records. Each helper raises ``suite.Fail`` with feedback that names the input (``where``) and the
first difference, never the test's code.

``run_cases`` runs a check over hypothesis-drawn cases: the same ones for every submission and
every regrade, drawn from the course's ``seed`` (``use_seed``) and the check's own key.
"""

from __future__ import annotations

import copy
import re
import zlib
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, example, given, seed, settings
from hypothesis.internal.entropy import deterministic_PRNG

from .suite import Fail
from .text import shorten
from .values import TensorValue, type_name

_BASE_SEED = [42]


def use_seed(base: int) -> None:
    """The course's seed (``seed`` in otter_config.json): every case drawn depends on it."""
    _BASE_SEED[0] = int(base)


def fmt_shape(shape: Any) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def fmt_names(names: Any, limit: int = 6) -> str:
    """The first ``limit`` of ``names``, each cut to 80 characters, and how many more: a message
    names a few of what the student's answer holds, never all of it."""
    items = list(names)
    shown = [repr(shorten(str(n), 80)) for n in items[:limit]]
    more = f", and {len(items) - limit} more" if len(items) > limit else ""
    return "[" + ", ".join(shown) + more + "]"


def tensor_of(res: Any, what: str, where: str = "", *, expected: str = "torch.Tensor") -> np.ndarray:
    """The values of a tensor result (or of an array, when ``expected`` says so), or Fail naming what
    came back instead."""
    ctx = f" (for {where})" if where else ""
    if isinstance(res, TensorValue):
        if res.values is None:
            raise Fail(f"{what} returned a tensor the grader cannot read{ctx}: {res.note or 'it has no data'}")
        return res.values
    if expected == "numpy array" and isinstance(res, np.ndarray):
        return res
    article = "an" if expected[:1].lower() in "aeiou" else "a"
    raise Fail(f"{what} returned {type_name(res)}{ctx}, expected {article} {expected}")


def dtype_of(res: Any) -> str | None:
    """The dtype of a tensor or array result ('float16', 'bfloat16' ...), read off the value itself."""
    if isinstance(res, TensorValue):
        return res.dtype
    if isinstance(res, np.ndarray):
        return str(res.dtype)
    return None


def check_shape(actual: np.ndarray, expected_shape: tuple[int, ...], what: str, where: str = "") -> None:
    if tuple(actual.shape) != tuple(expected_shape):
        ctx = f" for {where}" if where else ""
        raise Fail(f"{what} has shape {fmt_shape(actual.shape)}{ctx}, expected {fmt_shape(expected_shape)}")


def _fmt_num(x: Any) -> str:
    try:
        return f"{float(x):.6g}"
    except (TypeError, ValueError):
        return repr(x)


# Entries compared at a time: a comparison holds a few float64 copies of one chunk, never of the
# whole answer (a student's own huge array may be the "expected" side, e.g. two calls compared).
COMPARE_CHUNK = 1 << 20


def assert_close(actual: Any, expected: np.ndarray, what: str, where: str = "", *, rtol: float = 1e-5,
                 atol: float = 1e-6, index_note: Any = None) -> None:
    """Fail unless ``actual`` has ``expected``'s shape and |actual - expected| <= atol + rtol * |expected|.

    ``index_note(idx) -> str`` may add a description of the first mismatching index (e.g. the
    token's grid position). Compared chunk by chunk: memory stays bounded whatever the size.
    """
    ctx = f" for {where}" if where else ""
    if not isinstance(actual, np.ndarray):
        raise Fail(f"{what} is {type_name(actual)}{ctx}, expected an array")
    expected = np.asarray(expected)
    check_shape(actual, expected.shape, what, where)
    if actual.dtype.kind not in "biuf":
        raise Fail(f"{what} has dtype {actual.dtype}{ctx}, expected a numeric dtype")
    flat_a, flat_e = actual.reshape(-1), expected.reshape(-1)
    nan_count, first_nan, bad_count, first_bad, max_err = 0, -1, 0, -1, 0.0
    for start in range(0, flat_a.size, COMPARE_CHUNK):
        a = flat_a[start:start + COMPARE_CHUNK].astype(np.float64)
        e = flat_e[start:start + COMPARE_CHUNK].astype(np.float64)
        finite_expected = np.isfinite(e)
        bad_nan = ~np.isfinite(a) & finite_expected
        if bad_nan.any():
            nan_count += int(bad_nan.sum())
            first_nan = first_nan if first_nan >= 0 else start + int(np.argmax(bad_nan))
        close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
        if not close.all():
            bad_count += int((~close).sum())
            first_bad = first_bad if first_bad >= 0 else start + int(np.argmax(~close))
            err = np.abs(a - e)[finite_expected]
            max_err = max(max_err, float(err.max()) if err.size else 0.0)
    if nan_count:
        idx = tuple(int(i) for i in np.unravel_index(first_nan, actual.shape))
        note = f" ({index_note(idx)})" if index_note else ""
        raise Fail(f"{what} contains {nan_count} NaN/inf value(s){ctx}; the first at index "
                   f"{list(idx)}{note}")
    if bad_count:
        idx = tuple(int(i) for i in np.unravel_index(first_bad, actual.shape))
        note = f" ({index_note(idx)})" if index_note else ""
        tol = "exact comparison" if rtol == 0 and atol == 0 else f"tolerance {atol:g} + {rtol:g}*|expected|"
        raise Fail(
            f"{what} does not match the expected values{ctx}: {bad_count} of {actual.size} entries "
            f"mismatch, max abs error {max_err:.3g} ({tol}); "
            f"first mismatch at index {list(idx)}{note}: got {_fmt_num(float(actual[idx]))}, "
            f"expected {_fmt_num(float(expected[idx]))}"
        )


def assert_close_overall(actual: Any, expected: np.ndarray, what: str, where: str = "", *, rel: float) -> None:
    """Fail unless ``actual`` has ``expected``'s shape and ||actual - expected|| <= rel * ||expected||.

    For results a student computes in float32 by another order of the same operations: rounding
    moves single entries (a backward pass through attention amplifies it), so the test bounds the
    error over the whole result; the feedback shows the entry that differs most.
    """
    ctx = f" for {where}" if where else ""
    if not isinstance(actual, np.ndarray):
        raise Fail(f"{what} is {type_name(actual)}{ctx}, expected an array")
    expected = np.asarray(expected, dtype=np.float64)
    check_shape(actual, expected.shape, what, where)
    a = actual.astype(np.float64)
    if not np.isfinite(a).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise Fail(f"{what} contains NaN/inf values{ctx}; the first at index {list(idx)}")
    err = float(np.linalg.norm(a - expected))
    norm = float(np.linalg.norm(expected))
    if err > rel * max(norm, 1e-30):
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(a - expected)), a.shape))
        raise Fail(f"{what} does not match the expected values{ctx}: relative error {err / max(norm, 1e-30):.2g} "
                   f"(tolerance {rel:g}); the largest difference is at index {list(idx)}: got {_fmt_num(a[idx])}, "
                   f"expected {_fmt_num(expected[idx])}")


def assert_equal(actual: Any, expected: np.ndarray, what: str, where: str = "", *, index_note: Any = None) -> None:
    """Exact equality (shape and every value)."""
    assert_close(actual, expected, what, where, rtol=0.0, atol=0.0, index_note=index_note)


def as_number(value: Any, what: str, where: str = "") -> float | int:
    """A plain number from a student's result (int, float, 0-d array, one-element tensor), or Fail."""
    ctx = f" for {where}" if where else ""
    if isinstance(value, TensorValue):
        if value.values is None or value.values.size != 1 or value.values.dtype.kind not in "iuf":
            raise Fail(f"{what} returned a tensor of shape {fmt_shape(value.shape)}{ctx}, expected a number")
        return value.values.reshape(()).item()
    if isinstance(value, bool):
        raise Fail(f"{what} returned a bool ({value}){ctx}, expected a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return value.reshape(()).item()
    raise Fail(f"{what} returned {type_name(value)}{ctx}, expected a number")


def assert_count(value: Any, expected: int, what: str, where: str = "") -> None:
    """An integer count: the value must equal ``expected`` exactly (an integral float is accepted)."""
    n = as_number(value, what, where)
    ctx = f" for {where}" if where else ""
    if isinstance(n, float) and not np.isfinite(n):
        raise Fail(f"{what} returned {n}{ctx}, expected {expected:,}")
    if n != expected:
        shown = f"{n:,}" if float(n).is_integer() else f"{n}"
        raise Fail(f"{what} returned {shown}{ctx}, expected {expected:,} (off by {n - expected:+,})")


def items_of(res: Any, what: str, where: str = "", *, expected: str = "a list") -> list:
    """The items of a list or tuple result, or Fail."""
    if isinstance(res, (list, tuple)):
        return list(res)
    ctx = f" for {where}" if where else ""
    raise Fail(f"{what} returned {type_name(res)}{ctx}, expected {expected}")


def run_cases(key: str, strategy: Any, check: Any, *, max_examples: int, examples: tuple = ()) -> None:
    """Run ``check(case)`` on hypothesis-drawn cases, in order; the first failure (``Fail``,
    ``StudentError`` or anything else) propagates unchanged and the remaining cases are skipped.

    The same cases for every submission and every regrade: derandomized, seeded from the course's
    seed and ``key``, no database, no shrinking (it would multiply calls into a possibly hostile
    student process). Which cases hypothesis draws therefore never depends on what a check does:
    they are drawn first (``drawn_cases``: once per process where the strategy's text describes
    what it draws), then each check runs outside hypothesis, seeded as hypothesis seeds a test
    (``random`` and numpy's global generator at 0, restored after). A batch's later submissions
    skip hypothesis's engine: 0.13 s of a warm grade's 0.4 s in the grader. A check may not call
    hypothesis itself (``note``, ``assume``, ``data``).
    """
    for case in drawn_cases(key, strategy, max_examples=max_examples, examples=examples):
        with deterministic_PRNG():
            check(case)


def submission_key(runner: Any) -> str:
    """A digest of the submission's own code ("" where the runner has none: the reference, the
    audit's mutants in-process)."""
    return str(getattr(runner, "submission_key", "") or "")


def run_own_cases(runner: Any, key: str, strategy: Any, check: Any, *, max_examples: int) -> None:
    """``run_cases`` on cases drawn from a digest of the submission's own code: other cases for
    other code, the same for a regrade of the same code. A table of the course's fixed cases,
    learnt from feedback one failure at a time, meets cases it has not seen (independent attack
    round 10). Drawn on top of a test's fixed cases, never instead of them. Hypothesis tries the
    simplest case first whatever its seed, the same for every submission: that one is dropped."""
    own = drawn_cases(f"{key} {submission_key(runner)}", strategy, max_examples=max_examples + 1)[1:]
    for case in own:
        with deterministic_PRNG():
            check(case)


_DRAWN: dict[tuple, tuple] = {}
# What a strategy's or the examples' text may hold for it to describe everything they draw: plain
# numbers, brackets and these words. Anything else (a lambda or a function in .map or builds, whose
# captured values the text does not show; an object's address; an array cut short with "...") is
# drawn again for each run instead of kept (an independent review found both kinds).
_PLAIN_WORDS = frozenset({"integers", "floats", "booleans", "tuples", "lists", "sampled_from", "just", "one_of",
                          "none", "min_value", "max_value", "allow_nan", "allow_infinity", "min_size",
                          "max_size", "unique", "exclude_min", "exclude_max", "width", "True", "False", "None",
                          "inf", "nan"})
_NUMBER = re.compile(r"\b\d[\d_]*(\.\d*)?(e[-+]?\d+)?")
_PLAIN_MARKS = frozenset("()[]{},=-+. ")


def _plain_text(obj: Any) -> str | None:
    """``repr(obj)`` when it names every value ``obj`` can draw (see _PLAIN_WORDS), else None."""
    text = repr(obj)
    if "..." in text:
        return None
    rest = _NUMBER.sub(" ", text)
    words = re.findall(r"[A-Za-z_]\w*", rest)
    marks = set(re.sub(r"[A-Za-z_]\w*", " ", rest))
    return text if set(words) <= _PLAIN_WORDS and marks <= _PLAIN_MARKS else None


def drawn_cases(key: str, strategy: Any, *, max_examples: int, examples: tuple = ()) -> tuple:
    """The cases ``run_cases`` checks, explicit ``examples`` first: drawn by hypothesis, and kept
    for the rest of the process when the strategy's and the examples' text describe every value
    they draw (``_plain_text``), by that text, the course's seed, ``key`` and the counts."""
    described = _plain_text(strategy), _plain_text(examples)
    ident = None if None in described else (_BASE_SEED[0], key, *described, max_examples)
    if ident is None or ident not in _DRAWN:
        drawn: list = []

        def body(case: Any) -> None:
            drawn.append(case)

        for ex in reversed(examples):
            body = example(ex)(body)
        wrapped = given(strategy)(body)
        wrapped = settings(derandomize=True, database=None, deadline=None, max_examples=max_examples,
                           phases=[Phase.explicit, Phase.generate], verbosity=Verbosity.quiet,
                           suppress_health_check=list(HealthCheck), print_blob=False)(wrapped)
        wrapped = seed(zlib.crc32(f"{_BASE_SEED[0]}:{key}".encode()))(wrapped)
        wrapped()
        if ident is None:
            return tuple(drawn)
        _DRAWN[ident] = tuple(drawn)
    return copy.deepcopy(_DRAWN[ident])  # plain data: a check that changes its case changes no later run's


def warm_up_cases() -> None:
    """Hypothesis's first test in a process runs a full garbage collection (to check its random
    generator is referenced), a third of a second over torch's heap: a grader does it once while
    its fork server starts instead of inside a student's first test. Draws nothing another
    ``run_cases`` sees (each is seeded from its own key)."""
    from hypothesis import strategies as st

    run_cases("warm-up", st.just(0), lambda _case: None, max_examples=1)
