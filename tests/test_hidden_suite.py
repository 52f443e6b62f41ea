"""The hidden grading suite (q1-q5, CPU part): full marks for correct code in any style, zero for the
stubs and for junk, readable feedback, the same cases for every run, and only plain data on the wire."""

from __future__ import annotations

import collections
import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import BANK_DIR
from hypothesis import strategies as st

from ditgrade import api, codec, suite
from ditgrade.compare import run_cases
from ditgrade.student import MISSING, NOT_IMPLEMENTED, InProcessRunner, StudentError

POINTS = {"q1": 10.0, "q2": 12.0, "q3": 8.0, "q4": 8.0, "q5": 8.0}
GRADER_ERROR = "the grader could not check"
STYLES = sorted(p.name for p in (BANK_DIR / "styles").glob("*.py"))


def cpu_tests() -> list[suite.HiddenTest]:
    return suite.all_tests(gpu=False)


def test_registry_names_and_points() -> None:
    tests = cpu_tests()
    names = [t.name for t in tests]
    assert len(names) == len(set(names))
    totals = collections.Counter()
    for t in tests:
        assert t.question in POINTS and t.name.startswith(t.question + " "), t.name
        assert 1 <= t.points <= 3, t.name
        totals[t.question] += t.points
    assert dict(totals) == POINTS
    for q in POINTS:
        assert sum(t.question == q for t in tests) >= 5, q


def test_reference_scores_full_marks(reference_grade) -> None:
    results, scores, seconds = reference_grade
    failed = [(r.name, r.kind, r.output) for r in results if not r.passed]
    assert not failed
    assert scores == {q: (p, p) for q, p in POINTS.items()}
    slowest = sorted(results, key=lambda r: -r.seconds)[:3]
    print(f"\nreference graded in {seconds:.2f} s in-process; slowest: "
          + ", ".join(f"{r.name!r} {r.seconds:.2f} s" for r in slowest))
    assert seconds < 30


def test_reference_grades_fast_when_warm(grade, reference_source) -> None:
    start = time.perf_counter()
    results, _ = grade(reference_source)
    seconds = time.perf_counter() - start
    print(f"\nreference graded again (imports and caches warm) in {seconds:.2f} s")
    assert all(r.passed for r in results) and seconds < 15


@pytest.mark.parametrize("style", STYLES)
def test_correct_styles_score_full_marks(grade, style) -> None:
    results, scores = grade((BANK_DIR / "styles" / style).read_text())
    failed = [(r.name, r.kind, r.output) for r in results if not r.passed]
    assert not failed, f"{style}: {failed}"
    assert len(STYLES) >= 3


def test_stub_submission_scores_zero_as_not_implemented(grade) -> None:
    results, scores = grade((BANK_DIR / "stubs.py").read_text())
    assert all(s == 0 for s, _ in scores.values())
    for r in results:
        assert r.kind in (NOT_IMPLEMENTED, MISSING), (r.name, r.kind, r.output)
        assert "not implemented" in r.output


def test_stub_defines_the_whole_api() -> None:
    source = (BANK_DIR / "stubs.py").read_text()
    for name in api.ALL_NAMES + api.GIVEN:
        assert f"def {name}(" in source or f"class {name}(" in source, name


def test_empty_submission_scores_zero_as_missing(grade) -> None:
    results, scores = grade({"__name__": "submission"})
    assert all(s == 0 for s, _ in scores.values())
    for r in results:
        assert r.kind == MISSING, (r.name, r.kind, r.output)
        assert "is not defined" in r.output


JUNK_TEMPLATE = '''
import math
import numpy as np
import torch
import torch.nn as nn

def junk(*args, **kwargs):
    return {junk}

patchify = unpatchify = sequence_length = modulate = gated_residual = junk
count_parameters = estimate_dit_params = exact_dit_params = find_conv2d = convs_in_blocks = junk
cfg_combine = generate = junk

class AdaLNZero(nn.Sequential):
    def __init__(self, cond_dim, d_model):
        super().__init__(nn.SiLU(), nn.Linear(cond_dim, 6 * d_model + 1))
    def forward(self, c):
        return junk()

class DiTBlock(nn.Module):
    def __init__(self, hidden_size, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.extra = nn.Linear(hidden_size, hidden_size)
    def forward(self, x, c):
        return junk()
'''
JUNK = {
    "none": "None",
    "list": "[1, 2, 3]",
    "string": "'oops'",
    "nan_tensor": "torch.full((2, 3), float('nan'))",
    "nan_scalar": "float('nan')",
    "dict": "{'a': 1}",
    "object": "object()",
    "bool": "True",
    "tuple_of_junk": "(None, 'x', [1])",
    "bfloat16_ones": "torch.ones(2, 2, dtype=torch.bfloat16)",
    "complex": "torch.ones(2, dtype=torch.complex64)",
    "meta_tensor": "torch.empty(3, device='meta')",
    "huge_int": "10**40",
}


@pytest.mark.parametrize("kind", sorted(JUNK))
def test_junk_results_fail_with_readable_feedback(grade, kind) -> None:
    results, scores = grade(JUNK_TEMPLATE.format(junk=JUNK[kind]))
    assert all(s == 0 for s, _ in scores.values()), [r.name for r in results if r.passed]
    for r in results:
        assert GRADER_ERROR not in r.output, (r.name, r.output)
        assert r.kind in ("failed", "exception", "crash"), (r.name, r.kind, r.output)


def test_wrong_type_feedback_names_the_type(grade, reference_source) -> None:
    source = reference_source.replace("    return x.reshape(B, gh * gw, C * p * p)",
                                      "    return x.reshape(B, gh * gw, C * p * p).tolist()")
    results, _ = grade(source)
    shapes = next(r for r in results if r.name.startswith("q1 patchify returns"))
    assert "patchify returned a list" in shapes.output and "expected a torch.Tensor" in shapes.output


def test_feedback_names_the_input_and_the_difference(grade, reference_source) -> None:
    source = reference_source.replace("x.permute(0, 2, 4, 1, 3, 5)", "x.permute(0, 4, 2, 1, 3, 5)")
    results, _ = grade(source)
    order = next(r for r in results if r.name.startswith("q1 patchify orders"))
    assert not order.passed
    for needle in ("shape [", "p=", "token", "grid row", "first mismatch"):
        assert needle in order.output, order.output
    assert "def " not in order.output and "runner" not in order.output


# --- the cases: plain data only, the same every run ---------------------------------------------


def _plain(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, np.ndarray):
        return v.dtype.kind in "biuf"
    if isinstance(v, (list, tuple)):
        return all(_plain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(x) for k, x in v.items())
    return False


class RecordingRunner(InProcessRunner):
    def __init__(self, namespace):
        super().__init__(namespace)
        self.calls: list[str] = []

    def call(self, probe, /, **kwargs):
        assert _plain(kwargs), (probe, {k: type(v).__name__ for k, v in kwargs.items()})
        digest = hashlib.sha256(codec.encode(kwargs)).hexdigest()[:16]
        self.calls.append(f"{probe}:{digest}")
        return super().call(probe, **kwargs)


def test_probes_get_plain_data_and_every_run_sees_the_same_cases(grade, reference_source) -> None:
    runs = []
    for _ in range(2):
        runner_box = []

        def make(ns, _box=runner_box):
            _box.append(RecordingRunner(ns))
            return _box[0]

        results, _ = grade(reference_source, runner_cls=make)
        assert all(r.passed for r in results)
        runs.append(runner_box[0].calls)
    assert runs[0] == runs[1]
    assert len(runs[0]) > 100


# --- run_cases: hypothesis without its failure machinery -----------------------------------------


def test_run_cases_reraises_the_first_failure_unchanged_and_prints_nothing(capsys) -> None:
    seen = []
    fail = suite.Fail("feedback for the student")

    def check(case):
        seen.append(case)
        if len(seen) == 3:
            raise fail

    with pytest.raises(suite.Fail) as info:
        run_cases("t fail", st.integers(0, 100), check, max_examples=10)
    assert info.value is fail and str(info.value) == "feedback for the student"
    assert len(seen) == 3  # no more calls after the first failure: no replay, no shrinking
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_run_cases_passes_student_errors_through() -> None:
    err = StudentError(NOT_IMPLEMENTED, "not implemented yet (TODO)")

    def check(case):
        raise err

    with pytest.raises(StudentError) as info:
        run_cases("t stub", st.integers(), check, max_examples=5, examples=(7,))
    assert info.value is err


def test_run_cases_are_deterministic_and_include_the_explicit_examples() -> None:
    def collect(key):
        out = []
        run_cases(key, st.tuples(st.integers(1, 9), st.integers(0, 2**31 - 1)), out.append, max_examples=8,
                  examples=((4, 4),))
        return out

    a, b = collect("t key"), collect("t key")
    assert a == b and (4, 4) in a and len(set(a)) >= 5


def test_every_hidden_module_exists() -> None:
    root = Path(suite.__file__).parent / "hidden"
    for mod in ("q1_patchify", "q2_adaln", "q3_params", "q4_convs", "q5_sampling"):
        assert (root / f"{mod}.py").exists()
        assert f"ditgrade.hidden.{mod}" in suite.HIDDEN_MODULES


def test_grading_a_failing_submission_prints_nothing(grade, reference_source, capsys) -> None:
    source = reference_source.replace("return eps_uncond + scale * (eps_cond - eps_uncond)",
                                      "return eps_cond + scale * (eps_uncond - eps_cond)")
    results, scores = grade(source)
    assert scores["q5"][0] < scores["q5"][1]
    captured = capsys.readouterr()
    assert captured.out == "", captured.out[:500]


# --- compare: the feedback text ---------------------------------------------------------------


def test_assert_close_reports_shape_nan_and_first_mismatch() -> None:
    from ditgrade.compare import assert_close, assert_count, tensor_of

    expected = np.arange(6.0).reshape(2, 3)
    with pytest.raises(suite.Fail, match=r"has shape \[3, 2\] for z=1, expected \[2, 3\]"):
        assert_close(expected.T.copy(), expected, "out", "z=1")
    nan = expected.copy()
    nan[1, 2] = np.nan
    with pytest.raises(suite.Fail, match=r"1 NaN/inf value\(s\).*index \[1, 2\]"):
        assert_close(nan, expected, "out")
    off = expected.copy()
    off[0, 1] += 0.5
    with pytest.raises(suite.Fail, match=r"1 of 6 entries mismatch, max abs error 0.5 .*index \[0, 1\]: got 1.5, expected 1"):
        assert_close(off, expected, "out", rtol=1e-5, atol=1e-6)
    assert_close(expected + 1e-9, expected, "out", rtol=1e-5, atol=1e-6)
    with pytest.raises(suite.Fail, match="returned a list, expected a torch.Tensor"):
        tensor_of({"type": "list", "items": []}, "patchify")
    with pytest.raises(suite.Fail, match=r"returned 12 for h=1, expected 13 \(off by -1\)"):
        assert_count({"type": "int", "value": 12}, 13, "f", "h=1")
    assert_count({"type": "float", "value": 13.0}, 13, "f")
    with pytest.raises(suite.Fail, match="returned a bool"):
        assert_count({"type": "bool", "value": True}, 1, "f")


def test_hidden_tests_reach_students_only_through_the_runner() -> None:
    """Static guard: hidden tests never import the reference or touch a namespace; probes never judge."""
    root = Path(suite.__file__).parent
    for mod in ("q1_patchify", "q2_adaln", "q3_params", "q4_convs", "q5_sampling"):
        text = (root / "hidden" / f"{mod}.py").read_text()
        for banned in ("reference", "namespace", "get_student", "PROBES["):
            assert banned not in text, (mod, banned)
    probes = (root / "probes.py").read_text()
    for banned in ("from .compare", "from .suite", "Fail(", "from .reference"):
        assert banned not in probes, banned
