"""q5: cfg_combine and generate (CPU part; the DiT-XL/2 GPU tests live in their own module).

``generate`` runs in the student's process on ``tiny_dit_pipeline(pipe_seed)``; the grader builds
the identical pipeline from the same seed and samples it itself for the expected images.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import torch
from hypothesis import strategies as st

from ditgrade.api import Fail, assert_close, fmt_shape, hidden_test, run_cases, tensor_of, type_name, warm_up

from ..pipelines import tiny_dit_pipeline

# (B, C, H, W, scale, seed)
CFG = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6),
                st.floats(-2.0, 12.0, allow_nan=False, allow_infinity=False), st.integers(0, 2**31 - 1))


def _eps(case: tuple) -> tuple[np.ndarray, np.ndarray, str]:
    B, C, H, W, scale, seed = case
    rng = np.random.default_rng(seed)
    cond = rng.standard_normal((B, C, H, W)).astype(np.float32)
    uncond = rng.standard_normal((B, C, H, W)).astype(np.float32)
    return cond, uncond, f"eps_cond and eps_uncond of shape {fmt_shape(cond.shape)}, scale={scale!r} (seed {seed})"


@hidden_test("q5 cfg_combine computes eps_uncond + scale * (eps_cond - eps_uncond)", weight=1.5)
def test_cfg_formula(runner) -> None:
    def check(case):
        cond, uncond, where = _eps(case)
        scale = case[4]
        got = tensor_of(runner.call("cfg_combine", eps_cond=cond, eps_uncond=uncond, scale=scale), "cfg_combine", where)
        c64, u64 = cond.astype(np.float64), uncond.astype(np.float64)
        assert_close(got, u64 + scale * (c64 - u64), "cfg_combine(eps_cond, eps_uncond, scale)", where,
                     rtol=1e-5, atol=1e-5)

    run_cases("q5 cfg", CFG, check, max_examples=6, examples=((2, 4, 4, 4, 4.0, 0), (1, 3, 2, 5, 1.5, 1)))


@hidden_test("q5 cfg_combine gives eps_cond at scale 1 and eps_uncond at scale 0", weight=1)
def test_cfg_identities(runner) -> None:
    for i, (scale, name) in enumerate(((1.0, "eps_cond"), (0.0, "eps_uncond"))):
        cond, uncond, where = _eps((2, 4, 3, 5, scale, 10 + i))
        got = tensor_of(runner.call("cfg_combine", eps_cond=cond, eps_uncond=uncond, scale=scale), "cfg_combine", where)
        assert_close(got, cond if scale == 1.0 else uncond, f"cfg_combine at scale {scale:g} (expected {name})",
                     where, rtol=1e-6, atol=1e-6)


@hidden_test("q5 cfg_combine broadcasts as usual (eps_cond and eps_uncond of different shapes)", weight=1)
def test_cfg_broadcasting(runner) -> None:
    rng = np.random.default_rng(5)
    for cond_shape, uncond_shape, scale in (((2, 4, 3, 3), (1, 4, 3, 3), 4.0), ((3, 1, 5), (3, 6, 1), 2.5),
                                            ((5,), (2, 1), 7.5)):
        cond = rng.standard_normal(cond_shape).astype(np.float32)
        uncond = rng.standard_normal(uncond_shape).astype(np.float32)
        where = f"eps_cond {fmt_shape(cond_shape)}, eps_uncond {fmt_shape(uncond_shape)}, scale={scale:g}"
        got = tensor_of(runner.call("cfg_combine", eps_cond=cond, eps_uncond=uncond, scale=scale), "cfg_combine",
                        where)
        c64, u64 = cond.astype(np.float64), uncond.astype(np.float64)
        assert_close(got, u64 + scale * (c64 - u64), "cfg_combine(eps_cond, eps_uncond, scale)", where,
                     rtol=1e-5, atol=1e-5)


@functools.lru_cache(maxsize=4)
def _pipe(pipe_seed: int):
    return tiny_dit_pipeline(pipe_seed)


@functools.lru_cache(maxsize=64)
def expected_pixels(pipe_seed: int, labels: tuple, guidance_scale: float, steps: int, seed: int) -> np.ndarray:
    """The pipeline's own images times 255 (float32 [N, H, W, 3]) for a CPU generator seeded with seed.

    DiTPipeline's PIL output is exactly ``round`` of this; truncating is accepted too (see _pixels).
    """
    out = _pipe(pipe_seed)(class_labels=list(labels), guidance_scale=guidance_scale, num_inference_steps=steps,
                           generator=torch.Generator(device="cpu").manual_seed(seed), output_type="np")
    return (out.images * 255).astype(np.float32)


def _call(runner, labels: list, where: str, **kwargs) -> np.ndarray:
    res = runner.call("generate", pipe_seed=0, class_labels=labels, kwargs=kwargs)
    if not isinstance(res, np.ndarray):
        raise Fail(f"generate returned {type_name(res)} for {where}, expected a uint8 numpy array [N, H, W, 3]")
    return res


def _where(labels: list, **kwargs) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"generate(tiny_pipe, class_labels={labels}{', ' + args if args else ''})"


# Each test's (class_labels, guidance_scale, num_inference_steps, seed): generate must return
# DiTPipeline's own images for them.
FORMAT = ([1, 2, 3], 4.0, 2, 0)  # guidance_scale not passed: generate's default
SEEDS = ([4, 9], 4.0, 3, 7)
MATCHES = (([5, 980], 4.0, 3, 123), ([0], 4.0, 3, 2024))
SETTINGS = (([3], 100.0, 4, 11), ([7, 7, 200], 20.0, 2, 5), ([999, 1], 4.0, 5, 3), ([3], 1.0, 4, 11))
DEFAULTS = ([17], 4.0, 50, 42)  # nothing passed but the labels: the task's defaults


@warm_up
def _pipeline_images() -> Iterator[None]:
    """The pipeline's own images for every test's case (about 0.6 s), computed while the fork
    server starts."""
    for labels, guidance_scale, steps, seed in (FORMAT, SEEDS, *MATCHES, *SETTINGS, DEFAULTS):
        expected_pixels(0, tuple(labels), guidance_scale, steps, seed)
        yield


@hidden_test("q5 generate returns the pipeline's images as a uint8 numpy array of shape [N, H, W, 3]", weight=1)
def test_generate_format(runner) -> None:
    labels, guidance_scale, steps, seed = FORMAT
    kw = dict(num_inference_steps=steps, seed=seed)
    where = _where(labels, **kw)
    img = _call(runner, labels, where, **kw)
    if img.dtype != np.uint8:
        raise Fail(f"{where} returned dtype {img.dtype}, expected uint8 (values 0..255)")
    if tuple(img.shape) != (3, 16, 16, 3):
        raise Fail(f"{where} returned shape {fmt_shape(img.shape)}, expected [3, 16, 16, 3] (N, H, W, RGB)")
    # the pipeline's images in that format, not noise of that shape: they depend on the class labels
    other = [7, 8, 9]
    again = _call(runner, other, _where(other, **kw), **kw)
    if again.shape == img.shape and np.array_equal(again, img):
        raise Fail(f"{_where(other, **kw)} returned exactly the images of class_labels={labels}: these are not "
                   "images of the classes asked for")
    _sampled(runner, img, labels, guidance_scale, steps, seed, where)


def _mismatch(img: np.ndarray, x: np.ndarray, what: str, where: str) -> str:
    """'' when each pixel is the pipeline's value x (0..255 float) rounded (as its PIL output) or
    truncated; otherwise the first difference, for the student."""
    if tuple(img.shape) != tuple(x.shape):
        return f"{what} have shape {fmt_shape(img.shape)} for {where}, expected {fmt_shape(x.shape)}"
    v = img.astype(np.float64)
    ok = np.zeros(x.shape, dtype=bool)
    for dx in (0.0, -1e-3, 1e-3):  # float noise at a rounding boundary
        ok |= (v == np.round(x + dx)) | (v == np.floor(x + dx))
    if ok.all():
        return ""
    idx = tuple(int(i) for i in np.argwhere(~ok)[0])
    expected = np.round(x)
    return (f"{what} differ from DiTPipeline's own output for {where}: {int((~ok).sum())} of {ok.size} "
            f"values, max abs difference {float(np.abs(v - expected).max()):.3g} grey levels; first at "
            f"[image, row, column, channel] = {list(idx)}: got {v[idx]:g}, expected {expected[idx]:g}")


@functools.lru_cache(maxsize=64)
def expected_pixels_per_label(pipe_seed: int, labels: tuple, guidance_scale: float, steps: int,
                              seed: int) -> np.ndarray:
    """The lesson's way: one pipeline call per label, each with a CPU generator seeded with seed anew."""
    return np.concatenate([expected_pixels(pipe_seed, (label,), guidance_scale, steps, seed) for label in labels])


def _pixels(img: np.ndarray, labels: list, guidance_scale: float, steps: int, seed: int, where: str) -> None:
    """The images must be the pipeline's own for a CPU generator seeded with ``seed``, read either way
    the task text allows ("sample one image per class label ... using a CPU torch.Generator seeded with
    seed"): one call for all labels with one generator, or, as the lesson samples, one call per label,
    each with a generator seeded with ``seed`` anew (the two differ from the second image on)."""
    why = _pixel_problem(img, labels, guidance_scale, steps, seed, "generate's images", where)
    if why:
        raise Fail(why + (" (one image per label from a generator seeded anew for each is accepted too)"
                          if len(labels) > 1 else ""))


def _pixel_problem(img: np.ndarray, labels: list, guidance_scale: float, steps: int, seed: int, what: str,
                   where: str) -> str:
    """'' when ``img`` is the pipeline's own images read either way _pixels allows; else the first
    difference from the one-call reading."""
    why = _mismatch(img, expected_pixels(0, tuple(labels), guidance_scale, steps, seed), what, where)
    if why and len(labels) > 1 and not _mismatch(
            img, expected_pixels_per_label(0, tuple(labels), guidance_scale, steps, seed), what, where):
        return ""
    return why


# Where the test's own call gave other images than the pipeline's: (guidance_scale, steps) under
# which the common slips (guidance or the null class handled wrongly, a fixed step count, the
# defaults used for every argument) still give the pipeline's own images, asked for with the same
# labels (a generate that sampled only single labels passed a single-label fallback: attack round
# 9) and the test's own seed (one that sampled only for seed 42 passed fallbacks seeded 42: round 10).
FALLBACKS = ((1.0, 2), (4.0, 50))
FIXED_SEED = 42  # the lesson's seed: a generate that ignores ``seed`` and always uses it


def _sampled(runner, img: np.ndarray, labels: list, guidance_scale: float, steps: int, seed: int,
             where: str) -> None:
    """Fail unless ``generate`` samples the pipeline at all: its images for the test's own call
    (``img``) are DiTPipeline's own (either reading, see _pixels) for these arguments, or for the
    lesson's fixed seed; or else its images for one of ``FALLBACKS`` are. Format and
    reproducibility are properties of images the pipeline sampled: noise of the right shape keyed
    on the labels and the seed has both (independent attack round 8 earned these two tests with
    it), and is not what generate is asked for."""
    if "" in (_pixel_problem(img, labels, guidance_scale, steps, s, "", where) for s in (seed, FIXED_SEED)):
        return
    for gs, n in FALLBACKS:
        kw = dict(guidance_scale=gs, num_inference_steps=n, seed=seed)
        if _pixel_problem(_call(runner, labels, _where(labels, **kw), **kw), labels, gs, n, seed, "", "") == "":
            return
    tried = "; ".join(_where(labels, guidance_scale=gs, num_inference_steps=n, seed=seed) for gs, n in FALLBACKS)
    raise Fail(f"{where} returned images of the right format, but neither they nor those of {tried} are "
               "DiTPipeline's own output for these arguments: this test checks the pipeline's images, so generate "
               "must sample with the pipeline it is given")


@hidden_test("q5 generate is reproducible: the same seed gives the same sampled images, another seed different ones",
             weight=1)
def test_generate_seeds(runner) -> None:
    labels, guidance_scale, steps, seed = SEEDS
    kw = dict(num_inference_steps=steps, guidance_scale=guidance_scale)
    where = _where(labels, seed=seed, **kw)
    a = _call(runner, labels, where, seed=seed, **kw)
    if tuple(a.shape) != (2, 16, 16, 3):  # before comparing: its size is the student's to choose
        raise Fail(f"{where} returned shape {fmt_shape(a.shape)}, expected [2, 16, 16, 3] (N, H, W, RGB)")
    b = _call(runner, labels, where, seed=seed, **kw)
    assert_close(b, a, "a second call with the same seed", where, rtol=0, atol=0)
    c = _call(runner, labels, _where(labels, seed=seed + 1, **kw), seed=seed + 1, **kw)
    if c.shape == a.shape and np.array_equal(c, a):
        raise Fail(f"{_where(labels, seed=seed + 1, **kw)} returned exactly the images of seed={seed}: the seed is not "
                   "used")
    _sampled(runner, a, labels, guidance_scale, steps, seed, where)
    # Images of these classes, not noise drawn from the seed: other labels, same seed, other images.
    other = [30, 500]
    d = _call(runner, other, _where(other, seed=seed, **kw), seed=seed, **kw)
    if d.shape == a.shape and np.array_equal(d, a):
        raise Fail(f"{_where(other, seed=7, **kw)} returned exactly the images of class_labels={labels}: "
                   "the images do not depend on the class labels")


@hidden_test("q5 generate equals the pipeline's own output for a CPU generator seeded with seed", weight=1)
def test_generate_matches_pipeline(runner) -> None:
    for labels, gs, steps, seed in MATCHES:
        kw = dict(guidance_scale=gs, num_inference_steps=steps, seed=seed)
        where = _where(labels, **kw)
        _pixels(_call(runner, labels, where, **kw), labels, gs, steps, seed, where)


@hidden_test("q5 generate respects guidance_scale, num_inference_steps and class_labels", weight=1.5)
def test_generate_settings(runner) -> None:
    for labels, gs, steps, seed in SETTINGS:
        kw = dict(guidance_scale=gs, num_inference_steps=steps, seed=seed)
        where = _where(labels, **kw)
        _pixels(_call(runner, labels, where, **kw), labels, gs, steps, seed, where)


@hidden_test("q5 generate's defaults are guidance_scale=4.0, num_inference_steps=50, seed=42", weight=1)
def test_generate_defaults(runner) -> None:
    labels, guidance_scale, steps, seed = DEFAULTS
    where = _where(labels)
    _pixels(_call(runner, labels, where), labels, guidance_scale, steps, seed, where)
