"""q1: patchify, unpatchify, sequence_length.

Expected values are computed here with numpy (reshape/transpose) or with diffusers' PatchEmbed;
the student's code is reached only through ``runner.call``. What the task text asks of unpatchify's
errors is a ValueError when the number or width of the tokens does not fit; tokens that are not
3-D are not mentioned, so no test demands anything of them.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from ditgrade.api import (
    Fail,
    Raised,
    TensorValue,
    assert_close,
    assert_count,
    assert_equal,
    dtype_of,
    fmt_shape,
    hidden_test,
    run_cases,
    tensor_of,
    type_name,
)

# (B, C, gh, gw, p, seed): the latent is [B, C, gh * p, gw * p].
SHAPES = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
                   st.integers(0, 2**31 - 1))
EXPLICIT = (
    (2, 4, 4, 4, 2, 0),  # the lesson's square case
    (1, 3, 2, 5, 2, 1),  # non-square grid
    (3, 2, 3, 2, 1, 2),  # p = 1
    (2, 1, 1, 3, 4, 3),  # one row of big patches
)


def np_patchify(z: np.ndarray, p: int) -> np.ndarray:
    B, C, H, W = z.shape
    x = z.reshape(B, C, H // p, p, W // p, p).transpose(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def np_unpatchify(t: np.ndarray, p: int, c: int, h: int, w: int) -> np.ndarray:
    B = t.shape[0]
    return t.reshape(B, h // p, w // p, c, p, p).transpose(0, 3, 1, 4, 2, 5).reshape(B, c, h, w)


def latent(case: tuple, dtype: type = np.float32) -> tuple[np.ndarray, int, str]:
    B, C, gh, gw, p, seed = case
    z = np.random.default_rng(seed).standard_normal((B, C, gh * p, gw * p)).astype(dtype)
    return z, p, f"z of shape {fmt_shape(z.shape)} ({np.dtype(dtype).name}, seed {seed}), p={p}"


def position_latent(B: int, C: int, H: int, W: int) -> np.ndarray:
    """z[b, c, y, x] = b*1e6 + c*1e4 + y*100 + x: every value says where it came from."""
    b, c, y, x = np.meshgrid(np.arange(B), np.arange(C), np.arange(H), np.arange(W), indexing="ij")
    return (b * 1_000_000 + c * 10_000 + y * 100 + x).astype(np.float64)


def where_from(v: float) -> str:
    """Decode a position_latent value into 'z[b, c, y, x]' (or the raw number)."""
    if not np.isfinite(v) or v != round(v) or v < 0:
        return f"{v:.6g}"
    v = int(round(v))
    return f"z[{v // 1_000_000}, {v // 10_000 % 100}, {v // 100 % 100}, {v % 100}]"


def patchify_out(runner, z: np.ndarray, p: int, where: str) -> tuple[np.ndarray, dict]:
    res = runner.call("patchify", z=z, p=p)
    return tensor_of(res["out"], "patchify", where), res


@hidden_test("q1 patchify returns [B, (H/p)*(W/p), C*p*p] tokens for square and non-square latents", weight=1)
def test_patchify_shapes(runner) -> None:
    def check(case):
        z, p, where = latent(case)
        out, _ = patchify_out(runner, z, p, where)
        B, C, H, W = z.shape
        expected = (B, (H // p) * (W // p), C * p * p)
        if tuple(out.shape) != expected:
            raise Fail(f"patchify returned shape {fmt_shape(out.shape)} for {where}, expected {fmt_shape(expected)}")
        # tokens of the latent: its values, in whatever order (the order is the next test's), so that
        # a tensor of zeros of the right shape is not taken for a patchify
        got, want = np.sort(out.astype(np.float64).ravel()), np.sort(np.asarray(z, dtype=np.float64).ravel())
        if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            raise Fail(f"patchify's tokens for {where} do not hold the latent's values (in any order): "
                       "each token is a patch of z, flattened")

    run_cases("q1 shapes", SHAPES, check, max_examples=8, examples=EXPLICIT)


@hidden_test("q1 patchify orders tokens row-major over the patch grid, each token in (C, p, p) order", weight=2)
def test_patchify_order(runner) -> None:
    def check(case):
        B, C, gh, gw, p, _ = case
        z = position_latent(B, C, gh * p, gw * p)
        where = f"z of shape {fmt_shape(z.shape)} whose entries encode their position (b, c, y, x), p={p}"
        out, _ = patchify_out(runner, z, p, where)
        expected = np_patchify(z, p)

        def note(idx):
            b, t, k = idx
            c, i, j = k // (p * p), k // p % p, k % p
            got = float(out[idx]) if out.shape == expected.shape else float("nan")
            return (f"sample {b}, token {t} = patch at grid row {t // gw}, column {t % gw}; entry {k} = "
                    f"(c={c}, i={i}, j={j}) should hold {where_from(expected[idx])} but holds {where_from(got)}")

        assert_equal(out, expected, "patchify's tokens", where, index_note=note)

    run_cases("q1 order", SHAPES, check, max_examples=6, examples=EXPLICIT)


@hidden_test("q1 patchify followed by a linear layer equals diffusers' PatchEmbed (strided Conv2d)", weight=1)
def test_patchify_matches_patch_embed(runner) -> None:
    from diffusers.models.embeddings import PatchEmbed

    def check(case):
        B, C, gh, gw, p, seed = case
        d = 8
        z, p, where = latent(case, np.float64)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            pe = PatchEmbed(height=gh * p, width=gw * p, patch_size=p, in_channels=C, embed_dim=d,
                            pos_embed_type=None, layer_norm=False, flatten=True).double().eval()
        with torch.no_grad():
            expected = pe(torch.from_numpy(z)).numpy()
            W = pe.proj.weight.reshape(d, -1).numpy()
            b = pe.proj.bias.numpy()
        tokens, _ = patchify_out(runner, z, p, where)
        if tokens.ndim != 3 or tokens.shape[-1] != W.shape[1]:
            raise Fail(f"patchify returned shape {fmt_shape(tokens.shape)} for {where}; the tokens cannot be "
                       f"projected with Conv2d({C}, {d}, {p}, stride={p})'s weight reshaped to [{d}, {W.shape[1]}]")
        projected = tokens.astype(np.float64) @ W.T + b
        assert_close(projected, expected, "patchify(z) @ W.reshape(d, -1).T + b", where + f", d={d}",
                     rtol=1e-5, atol=1e-6)

    run_cases("q1 conv", SHAPES, check, max_examples=5, examples=EXPLICIT[:3])


@hidden_test("q1 unpatchify puts every token value back where patchify took it from", weight=1)
def test_unpatchify_inverse(runner) -> None:
    def check(case):
        B, C, gh, gw, p, _ = case
        H, W = gh * p, gw * p
        z = position_latent(B, C, H, W)
        tokens = np_patchify(z, p)
        where = f"tokens of shape {fmt_shape(tokens.shape)}, p={p}, c={C}, h={H}, w={W}"
        out = tensor_of(runner.call("unpatchify", tokens=tokens, p=p, c=C, h=H, w=W), "unpatchify", where)

        def note(idx):
            got = float(out[idx]) if out.shape == z.shape else float("nan")
            return f"should hold {where_from(z[idx])} but holds {where_from(got)}"

        assert_equal(out, z, "unpatchify's output", where, index_note=note)

    run_cases("q1 unpatchify", SHAPES, check, max_examples=6, examples=EXPLICIT)
    # and values float32 cannot hold: every position above is an integer float32 holds exactly, so
    # an unpatchify that fills a float32 buffer was never an exact inverse (attack round 17)
    z, p, _ = latent((2, 3, 2, 3, 2, 17), np.float64)
    tokens = np_patchify(z, p)
    where = f"float64 tokens of shape {fmt_shape(tokens.shape)} (random values), p={p}, c=3, h=4, w=6"
    out = tensor_of(runner.call("unpatchify", tokens=tokens, p=p, c=3, h=4, w=6), "unpatchify", where)
    assert_equal(out, z, "unpatchify's output", where)


@hidden_test("q1 sequence_length gives (h/p)*(w/p)", weight=1)
def test_sequence_length(runner) -> None:
    def check(case):
        gh, gw, p = case
        h, w = gh * p, gw * p
        assert_count(runner.call("sequence_length", h=h, w=w, p=p), gh * gw, "sequence_length",
                     f"h={h}, w={w}, p={p}")

    cases = st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 8))
    run_cases("q1 seqlen", cases, check, max_examples=8, examples=((16, 16, 2), (32, 8, 4), (5, 7, 1)))


def _expect_no_error(res: dict, what: str, where: str) -> None:
    raised = res.get("raised")
    if isinstance(raised, Raised):
        raise Fail(f"{what} raised {raised.type} for {where}; only inputs that do not fit may raise")


def _expect_value_error(res: dict, what: str, where: str) -> None:
    raised = res.get("raised")
    if not isinstance(raised, Raised):
        raise Fail(f"{what} accepted {where} (returned {type_name(res.get('returned'))}); expected a ValueError")
    if not raised.is_a("ValueError"):
        raise Fail(f"{what} raised {raised.type} for {where}; expected a ValueError")


@hidden_test("q1 patchify raises ValueError for a non-4-D latent or H, W not divisible by p", weight=1)
def test_patchify_value_error(runner) -> None:
    cases = [
        ([4, 8, 8], 2, "a 3-D latent"),
        ([1, 2, 4, 8, 8], 2, "a 5-D latent"),
        ([2, 4, 7, 8], 2, "H=7 not divisible by p=2"),
        ([1, 3, 8, 6], 4, "W=6 not divisible by p=4"),
        ([1, 1, 9, 9], 2, "H=W=9 not divisible by p=2"),
    ]
    _expect_no_error(runner.call("patchify_error", shape=[2, 4, 8, 8], p=2), "patchify",
                     "z of shape [2, 4, 8, 8] and p=2 (a valid latent)")
    for shape, p, why in cases:
        where = f"z of shape {fmt_shape(shape)} and p={p} ({why})"
        _expect_value_error(runner.call("patchify_error", shape=shape, p=p), "patchify", where)


@hidden_test("q1 unpatchify raises ValueError when the tokens do not fit p, c, h, w", weight=1)
def test_unpatchify_value_error(runner) -> None:
    cases = [
        ([2, 15, 16], 2, 4, 8, 8, "one token too few"),
        ([2, 16, 12], 2, 4, 8, 8, "token width 12, expected c*p*p=16"),
        ([2, 8, 32], 2, 4, 8, 8, "8 tokens of width 32: the right number of values, but L=16 and D=16 expected"),
        ([2, 16, 16], 2, 4, 8, 16, "16 tokens for h=8, w=16, which needs 32"),
        ([3, 12, 27], 3, 3, 9, 9, "width 27 fits c=3, p=3, but a 9x9 latent has 9 patches, not 12"),
    ]
    _expect_no_error(runner.call("unpatchify_error", shape=[2, 16, 16], p=2, c=4, h=8, w=8), "unpatchify",
                     "tokens of shape [2, 16, 16], p=2, c=4, h=8, w=8 (tokens that fit)")
    for shape, p, c, h, w, why in cases:
        where = f"tokens of shape {fmt_shape(shape)}, p={p}, c={c}, h={h}, w={w} ({why})"
        _expect_value_error(runner.call("unpatchify_error", shape=shape, p=p, c=c, h=h, w=w), "unpatchify", where)


@hidden_test("q1 patchify keeps the dtype (float16, float32, float64) and leaves its input unchanged", weight=1)
def test_patchify_dtype_and_input(runner) -> None:
    for i, dtype in enumerate((np.float16, np.float64, np.float32)):
        z, p, where = latent((2, 3, 2, 3, 2, 100 + i), dtype)
        res = runner.call("patchify", z=z, p=p)
        assert_equal(tensor_of(res["z_after"], "z", where), z, "the input z after calling patchify", where)
        out = tensor_of(res["out"], "patchify", where)
        got = dtype_of(res["out"])
        if got != np.dtype(dtype).name:
            raise Fail(f"patchify returned dtype {got} for {where}; expected the input's dtype {np.dtype(dtype).name}")
        assert_equal(out, np_patchify(z, p), "patchify's tokens", where)


@hidden_test("q1 gradients flow back through patchify to the latent", weight=1)
def test_patchify_gradients(runner) -> None:
    def check(case):
        z, p, where = latent(case, np.float64)
        B, C, H, W = z.shape
        upstream = np.random.default_rng(case[-1] + 1).standard_normal(
            (B, (H // p) * (W // p), C * p * p))
        res = runner.call("patchify_grad", z=z, p=p, upstream=upstream)
        out = res.get("out")
        tokens = tensor_of(out, "patchify", where)
        if not out.requires_grad:
            raise Fail(f"patchify's output does not require grad for {where} although z does: it is detached "
                       "from z (e.g. .detach(), .data, torch.no_grad or a numpy round trip)")
        if tuple(tokens.shape) != upstream.shape:
            raise Fail(f"patchify returned shape {fmt_shape(tokens.shape)} for {where}, expected "
                       f"{fmt_shape(upstream.shape)}")
        grad = res.get("grad")
        if not isinstance(grad, TensorValue):
            raise Fail(f"z.grad is {type_name(grad)} after backpropagating through patchify for {where}")
        expected = np_unpatchify(upstream, p, C, H, W)
        assert_close(tensor_of(grad, "z.grad", where), expected, "z.grad after backward through patchify", where,
                     rtol=1e-6, atol=1e-9)

    run_cases("q1 grad", SHAPES, check, max_examples=3, examples=EXPLICIT[:2])


# Gaps found by `ditgrade audit` (cosmic-ray's mutants of the reference that no test above killed).


@hidden_test("q1 unpatchify raises ValueError for tokens wider than c*p*p, even when their number fits", weight=0.5)
def test_unpatchify_rejects_wide_tokens(runner) -> None:
    """Kills `D < c * p * p` for `D != c * p * p`: the cases above only try tokens too narrow, or of a
    wrong number."""
    # First, tokens that fit: an unpatchify that raises for everything has not told wide tokens apart.
    fit = "tokens of shape [2, 16, 16], p=2, c=4, h=8, w=8 (they fit)"
    _expect_no_error(runner.call("unpatchify_error", shape=[2, 16, 16], p=2, c=4, h=8, w=8), "unpatchify", fit)
    cases = [
        ([2, 16, 20], 2, 4, 8, 8, "16 tokens as h=8, w=8, p=2 needs, each of width 20 instead of c*p*p=16"),
        ([1, 4, 32], 4, 1, 8, 8, "4 tokens as h=8, w=8, p=4 needs, each of width 32 instead of c*p*p=16"),
    ]
    for shape, p, c, h, w, why in cases:
        where = f"tokens of shape {fmt_shape(shape)}, p={p}, c={c}, h={h}, w={w} ({why})"
        _expect_value_error(runner.call("unpatchify_error", shape=shape, p=p, c=c, h=h, w=w), "unpatchify", where)


@hidden_test("q1 unpatchify inverts patchify at DiT sizes: 1024 tokens, and tokens of 512 values", weight=0.5)
def test_unpatchify_large(runner) -> None:
    """Kills `L is not gh * gw` and `D is not c * p * p`: Python caches the ints up to 256, so sizes
    compared by identity pass every smaller case. A 64x64 latent cut with p=2 (DiT-XL/2 at 512 px)
    has 1024 tokens; c=8, p=8 makes tokens of 512 values."""
    for B, C, H, W, p in ((1, 4, 64, 64, 2), (1, 8, 16, 24, 8)):
        z = position_latent(B, C, H, W)
        tokens = np_patchify(z, p)
        where = f"tokens of shape {fmt_shape(tokens.shape)}, p={p}, c={C}, h={H}, w={W}"
        out = tensor_of(runner.call("unpatchify", tokens=tokens, p=p, c=C, h=H, w=W), "unpatchify", where)
        assert_equal(out, z, "unpatchify's output", where)
