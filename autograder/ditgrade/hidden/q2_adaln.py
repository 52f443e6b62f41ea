"""q2: modulate, gated_residual, AdaLNZero, DiTBlock.

Expected values come from the formulas (numpy, float64) and from diffusers' own DiT block
(``BasicTransformerBlock`` with ``norm_type="ada_norm_zero"``, taken from a tiny
``DiTTransformer2DModel``) with its weights mapped to the DiT names. The DiTBlock tests use only
the student's q2 code (their modulate, gated_residual and AdaLNZero) and the given Attention/Mlp.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from hypothesis import strategies as st

from ..compare import assert_close, fmt_shape, items_of, run_cases, tensor_of
from ..suite import Fail, hidden_test

CHUNKS = ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp")

# (B, L, D, seed)
BLD = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 8), st.integers(0, 2**31 - 1))
BLD_EXPLICIT = ((2, 3, 4, 0), (3, 3, 5, 1), (1, 4, 6, 2), (3, 1, 2, 3))


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@hidden_test("q2 modulate computes x * (1 + scale) + shift with per-sample [B, D] shift and scale", points=1.5)
def test_modulate(runner) -> None:
    def check(case):
        B, L, D, seed = case
        rng = np.random.default_rng(seed)
        x, shift, scale = _rand(rng, B, L, D), _rand(rng, B, D), _rand(rng, B, D)
        where = f"x {fmt_shape(x.shape)}, shift and scale {fmt_shape(shift.shape)} (seed {seed})"
        out = tensor_of(runner.call("modulate", x=x, shift=shift, scale=scale), "modulate", where)
        x64, sh, sc = x.astype(np.float64), shift.astype(np.float64), scale.astype(np.float64)
        expected = x64 * (1 + sc[:, None, :]) + sh[:, None, :]
        assert_close(out, expected, "modulate(x, shift, scale)", where, rtol=1e-5, atol=1e-6)

    run_cases("q2 modulate", BLD, check, max_examples=6, examples=BLD_EXPLICIT)


@hidden_test("q2 gated_residual computes x + gate * out with a per-sample [B, D] gate", points=1.5)
def test_gated_residual(runner) -> None:
    def check(case):
        B, L, D, seed = case
        rng = np.random.default_rng(seed)
        x, gate, out = _rand(rng, B, L, D), _rand(rng, B, D), _rand(rng, B, L, D)
        where = f"x and out {fmt_shape(x.shape)}, gate {fmt_shape(gate.shape)} (seed {seed})"
        got = tensor_of(runner.call("gated_residual", x=x, gate=gate, out=out), "gated_residual", where)
        expected = x.astype(np.float64) + gate.astype(np.float64)[:, None, :] * out.astype(np.float64)
        assert_close(got, expected, "gated_residual(x, gate, out)", where, rtol=1e-5, atol=1e-6)

    run_cases("q2 gated", BLD, check, max_examples=6, examples=BLD_EXPLICIT)


@hidden_test("q2 AdaLNZero is an nn.Sequential of SiLU then Linear(cond_dim, 6 * d_model)", points=1)
def test_adaln_structure(runner) -> None:
    for cond_dim, d_model in ((5, 7), (16, 16)):
        where = f"AdaLNZero({cond_dim}, {d_model})"
        info = runner.call("adaln_structure", cond_dim=cond_dim, d_model=d_model)
        if not info.get("is_sequential"):
            raise Fail(f"{where} is not an nn.Sequential (keep the template's class AdaLNZero(nn.Sequential))")
        if not info.get("silu_first") or not info.get("linear_second"):
            raise Fail(f"{where} holds the layers {info.get('layers')}; expected an nn.SiLU at [0] and an "
                       "nn.Linear at [1]")
        expected = {"1.weight": [6 * d_model, cond_dim], "1.bias": [6 * d_model]}
        if info.get("state") != expected:
            raise Fail(f"{where} has parameters {info.get('state')}; expected exactly {expected}")


def _six(res, where: str, B: int, d: int) -> list[np.ndarray]:
    items = items_of(res, "AdaLNZero's forward", where, expected="a tuple of six [B, d_model] tensors")
    if len(items) != 6:
        raise Fail(f"AdaLNZero's forward returned {len(items)} values for {where}, expected six "
                   f"({', '.join(CHUNKS)})")
    out = []
    for name, item in zip(CHUNKS, items, strict=False):
        t = tensor_of(item, f"AdaLNZero's {name} output", where)
        if tuple(t.shape) != (B, d):
            raise Fail(f"AdaLNZero's {name} output has shape {fmt_shape(t.shape)} for {where}, "
                       f"expected {fmt_shape((B, d))}")
        out.append(t)
    return out


ADALN = st.tuples(st.integers(1, 3), st.integers(1, 8), st.integers(1, 8), st.integers(0, 2**31 - 1))


@hidden_test("q2 AdaLNZero returns six zero [B, d_model] tensors at initialisation", points=1.5)
def test_adaln_zero_init(runner) -> None:
    def check(case):
        B, cond_dim, d, seed = case
        c = _rand(np.random.default_rng(seed), B, cond_dim) * 3
        where = f"AdaLNZero({cond_dim}, {d}) at init, c of shape {fmt_shape(c.shape)} (seed {seed})"
        for name, t in zip(CHUNKS, _six(runner.call("adaln_forward", cond_dim=cond_dim, d_model=d, c=c), where, B, d), strict=False):
            assert_close(t, np.zeros((B, d)), f"AdaLNZero's {name} output", where, rtol=0, atol=0)

    run_cases("q2 adaln init", ADALN, check, max_examples=4, examples=((2, 5, 7, 0), (3, 8, 4, 1)))


@hidden_test("q2 AdaLNZero splits Linear(SiLU(c)) into six chunks in the order shift, scale, gate (msa, mlp)",
             points=2)
def test_adaln_chunks(runner) -> None:
    def check(case):
        B, cond_dim, d, seed = case
        rng = np.random.default_rng(seed)
        c, w, b = _rand(rng, B, cond_dim) * 2, _rand(rng, 6 * d, cond_dim), _rand(rng, 6 * d)
        where = (f"AdaLNZero({cond_dim}, {d}) with random '1.weight' and '1.bias', c of shape "
                 f"{fmt_shape(c.shape)} (seed {seed})")
        res = runner.call("adaln_forward", cond_dim=cond_dim, d_model=d, c=c, weight=w, bias=b)
        c64 = c.astype(np.float64)
        full = (c64 / (1 + np.exp(-c64))) @ w.astype(np.float64).T + b
        for j, (name, t) in enumerate(zip(CHUNKS, _six(res, where, B, d), strict=False)):
            assert_close(t, full[:, j * d:(j + 1) * d], f"AdaLNZero's output {j} ({name})", where,
                         rtol=1e-5, atol=1e-5)

    run_cases("q2 adaln chunks", ADALN, check, max_examples=4, examples=((2, 5, 3, 0), (3, 4, 6, 1)))


def expected_block_state(d: int) -> dict[str, list[int]]:
    return {
        "attn.qkv.weight": [3 * d, d], "attn.qkv.bias": [3 * d],
        "attn.proj.weight": [d, d], "attn.proj.bias": [d],
        "mlp.fc1.weight": [4 * d, d], "mlp.fc1.bias": [4 * d],
        "mlp.fc2.weight": [d, 4 * d], "mlp.fc2.bias": [d],
        "adaLN_modulation.1.weight": [6 * d, d], "adaLN_modulation.1.bias": [6 * d],
    }


@hidden_test("q2 DiTBlock's state_dict has exactly the DiT parameter names and shapes", points=1)
def test_block_state(runner) -> None:
    for d, heads in ((16, 2), (12, 3)):
        got = runner.call("block_state", hidden_size=d, num_heads=heads)
        expected = expected_block_state(d)
        where = f"DiTBlock({d}, num_heads={heads})"
        if not isinstance(got, dict):
            raise Fail(f"the grader could not read {where}'s state_dict")
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        if missing or extra:
            raise Fail(f"{where}'s state_dict keys differ from DiT's: missing {missing}, unexpected {extra}")
        for k, shape in expected.items():
            if got[k] != shape:
                raise Fail(f"{where}'s {k} has shape {fmt_shape(got[k])}, expected {fmt_shape(shape)}")


# (B, L, heads, head_dim, x scale, seed)
BLOCK = st.tuples(st.integers(1, 3), st.integers(1, 6), st.sampled_from([1, 2, 3, 4]), st.sampled_from([4, 8]),
                  st.sampled_from([1.0, 1e-3]), st.integers(0, 2**31 - 1))
BLOCK_EXPLICIT = ((2, 5, 2, 8, 1.0, 0), (3, 4, 4, 4, 1e-3, 1), (2, 2, 3, 4, 1.0, 2))


@hidden_test("q2 DiTBlock is exactly the identity at initialisation", points=1.5)
def test_block_identity(runner) -> None:
    def check(case):
        B, L, heads, hd, scale, seed = case
        d = heads * hd
        rng = np.random.default_rng(seed)
        x, c = _rand(rng, B, L, d) * np.float32(scale), _rand(rng, B, d)
        where = f"a fresh DiTBlock({d}, num_heads={heads}), x {fmt_shape(x.shape)}, c {fmt_shape(c.shape)} (seed {seed})"
        out = tensor_of(runner.call("block_forward", hidden_size=d, num_heads=heads, x=x, c=c), "DiTBlock", where)
        assert_close(out, x, "DiTBlock(x, c) at initialisation (expected x itself)", where, rtol=0, atol=1e-7)

    run_cases("q2 identity", BLOCK, check, max_examples=4, examples=BLOCK_EXPLICIT)


@functools.lru_cache(maxsize=32)
def diffusers_block(heads: int, head_dim: int, seed: int):
    """A randomly initialised DiT block of diffusers (eval mode), from a one-layer DiTTransformer2DModel."""
    from diffusers import DiTTransformer2DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DiTTransformer2DModel(num_attention_heads=heads, attention_head_dim=head_dim, in_channels=4,
                                      out_channels=8, num_layers=1, sample_size=4, patch_size=2,
                                      num_embeds_ada_norm=10, norm_eps=1e-6).eval()
        block = model.transformer_blocks[0]
        for p in block.parameters():
            torch.nn.init.normal_(p, std=0.3)
    return block


def dit_state(block) -> dict[str, np.ndarray]:
    """diffusers' DiT block weights under the DiT (facebookresearch) names."""
    a, ff = block.attn1, block.ff
    pairs = {
        "attn.qkv.weight": torch.cat([a.to_q.weight, a.to_k.weight, a.to_v.weight]),
        "attn.qkv.bias": torch.cat([a.to_q.bias, a.to_k.bias, a.to_v.bias]),
        "attn.proj.weight": a.to_out[0].weight, "attn.proj.bias": a.to_out[0].bias,
        "mlp.fc1.weight": ff.net[0].proj.weight, "mlp.fc1.bias": ff.net[0].proj.bias,
        "mlp.fc2.weight": ff.net[2].weight, "mlp.fc2.bias": ff.net[2].bias,
        "adaLN_modulation.1.weight": block.norm1.linear.weight, "adaLN_modulation.1.bias": block.norm1.linear.bias,
    }
    return {k: v.detach().numpy().copy() for k, v in pairs.items()}


@hidden_test("q2 DiTBlock with random weights matches diffusers' DiT block (adaLN-Zero)", points=2)
def test_block_matches_diffusers(runner) -> None:
    def check(case):
        B, L, heads, hd, scale, seed = case
        d = heads * hd
        block = diffusers_block(heads, hd, seed % 1000)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(B, L, d, generator=g) * scale
        t = torch.randint(0, 1000, (B,), generator=g)
        y = torch.randint(0, 10, (B,), generator=g)
        with torch.no_grad():
            c = block.norm1.emb(t, y, hidden_dtype=torch.float32)
            expected = block(x, timestep=t, class_labels=y).double().numpy()
        where = (f"DiTBlock({d}, num_heads={heads}) loaded with random weights, x {fmt_shape(x.shape)} "
                 f"(x scale {scale:g}), c {fmt_shape(c.shape)} (seed {seed})")
        res = runner.call("block_forward", hidden_size=d, num_heads=heads, x=x.numpy(), c=c.numpy(),
                          state=dit_state(block))
        assert_close(tensor_of(res, "DiTBlock", where), expected, "DiTBlock(x, c)", where, rtol=1e-4, atol=1e-4)

    run_cases("q2 block", BLOCK, check, max_examples=4, examples=BLOCK_EXPLICIT)
