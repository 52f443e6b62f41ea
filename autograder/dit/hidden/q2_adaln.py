"""q2: modulate, gated_residual, AdaLNZero, DiTBlock.

Expected values come from the formulas (numpy, float64) and from diffusers' own DiT block
(``BasicTransformerBlock`` with ``norm_type="ada_norm_zero"``, taken from a tiny
``DiTTransformer2DModel``) with its weights mapped to the DiT names. The DiTBlock tests use only
the student's q2 code (their modulate, gated_residual and AdaLNZero) and the given Attention/Mlp.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import torch
from hypothesis import strategies as st

from ditgrade.api import (
    Fail,
    Opaque,
    TensorValue,
    assert_close,
    assert_close_overall,
    drawn_cases,
    fmt_names,
    fmt_shape,
    hidden_test,
    items_of,
    run_cases,
    tensor_of,
    type_name,
    warm_up,
)

CHUNKS = ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp")

# (B, L, D, seed)
BLD = st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 8), st.integers(0, 2**31 - 1))
BLD_EXPLICIT = ((2, 3, 4, 0), (3, 3, 5, 1), (1, 4, 6, 2), (3, 1, 2, 3))


# Relative error (over a whole result) allowed against diffusers' float32 block: another order of
# the same float32 operations gives at most 3.3e-7 forward and 1.5e-5 backward; the smallest real
# mistake measured (the exact GELU in place of the tanh one) 1.8e-5 forward and 1.7e-4 backward.
FORWARD_REL, BACKWARD_REL = 3e-6, 5e-5


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


@hidden_test("q2 modulate computes x * (1 + scale) + shift with per-sample [B, D] shift and scale", weight=1.5)
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


@hidden_test("q2 gated_residual computes x + gate * out with a per-sample [B, D] gate", weight=1.5)
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


@hidden_test("q2 AdaLNZero is an nn.Sequential of SiLU then Linear(cond_dim, 6 * d_model), zero at init", weight=1)
def test_adaln_structure(runner) -> None:
    for cond_dim, d_model in ((5, 7), (16, 16)):
        where = f"AdaLNZero({cond_dim}, {d_model})"
        info = runner.call("adaln_structure", cond_dim=cond_dim, d_model=d_model)
        layers = info.get("layers")
        if not isinstance(layers, list):
            raise Fail(f"{where} is {type_name(info.get('module'))}, not an nn.Sequential (keep the template's "
                       "class AdaLNZero(nn.Sequential))")
        names = [x.type if isinstance(x, Opaque) else type_name(x) for x in layers]
        if len(layers) < 2 or names[0] != "SiLU" or names[1] != "Linear":
            raise Fail(f"{where} holds the layers {fmt_names(names)}; expected an nn.SiLU at [0] and an nn.Linear at [1]")
        params = info.get("parameters") or {}
        expected = {"1.weight": (6 * d_model, cond_dim), "1.bias": (6 * d_model,)}
        got = {k: v.shape for k, v in params.items() if isinstance(v, TensorValue)}
        if got != expected:
            raise Fail(f"{where} has parameters {got}; expected exactly {expected}")
        for name in expected:
            values = tensor_of(params[name], f"{where}'s {name}", where)
            if np.any(values != 0):
                raise Fail(f"{where}'s Linear {name.split('.')[1]} is not all zero at initialisation "
                           f"({int(np.count_nonzero(values))} of {values.size} entries are not): adaLN-Zero starts "
                           "every gate, shift and scale at 0")


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


@hidden_test("q2 AdaLNZero returns six zero [B, d_model] tensors at initialisation", weight=1.5)
def test_adaln_zero_init(runner) -> None:
    def check(case):
        B, cond_dim, d, seed = case
        c = _rand(np.random.default_rng(seed), B, cond_dim) * 3
        where = f"AdaLNZero({cond_dim}, {d}) at init, c of shape {fmt_shape(c.shape)} (seed {seed})"
        for name, t in zip(CHUNKS, _six(runner.call("adaln_forward", cond_dim=cond_dim, d_model=d, c=c), where, B, d), strict=False):
            assert_close(t, np.zeros((B, d)), f"AdaLNZero's {name} output", where, rtol=0, atol=0)

    run_cases("q2 adaln init", ADALN, check, max_examples=4, examples=((2, 5, 7, 0), (3, 8, 4, 1)))
    _not_zero_with_weights(runner)


def _not_zero_with_weights(runner) -> None:
    """Zeros at init must come from the zero-initialised Linear: with random '1.weight' and
    '1.bias' (the names the task gives) each of the six outputs is a chunk of Linear(SiLU(c)), in
    any order, or of the Linear with its SiLU misplaced (before it, or missing): the order of the
    chunks and where the SiLU sits are other tests' business. A module that returns zeros whatever
    its weights, the bias cut in six (independent attack round 10), or any other function of c, the
    weight and the bias (round 11) has not been written."""
    rng = np.random.default_rng(7)
    c, w, b = _rand(rng, 2, 4) * 2, _rand(rng, 18, 4), _rand(rng, 18)
    where = "AdaLNZero(4, 3) with random '1.weight' and '1.bias', c of shape [2, 4]"
    six = [t.astype(np.float64) for t in
           _six(runner.call("adaln_forward", cond_dim=4, d_model=3, c=c, weight=w, bias=b), where, 2, 3)]
    if all(not np.any(t) for t in six):
        raise Fail(f"AdaLNZero returned six zero tensors for {where}: its outputs must be the chunks of "
                   "Linear(SiLU(c)), zero only while that Linear is")
    c64, w64 = c.astype(np.float64), w.astype(np.float64)
    linear = c64 @ w64.T + b
    readings = (_silu(c64) @ w64.T + b, linear, _silu(linear))
    chunks = [full[:, j * 3:(j + 1) * 3] for full in readings for j in range(6)]
    for i, t in enumerate(six):
        if not any(np.allclose(t, chunk, rtol=1e-4, atol=1e-5) for chunk in chunks):
            raise Fail(f"AdaLNZero's output {i} for {where} is none of the six chunks of Linear(SiLU(c)): "
                       "the outputs must be those chunks (zero only while that Linear is)")


def _silu(v: np.ndarray) -> np.ndarray:
    return v / (1 + np.exp(-v))


@hidden_test("q2 AdaLNZero splits Linear(SiLU(c)) into six chunks in the order shift, scale, gate (msa, mlp)",
             weight=2)
def test_adaln_chunks(runner) -> None:
    def check(case):
        B, cond_dim, d, seed = case
        rng = np.random.default_rng(seed)
        c, w, b = _rand(rng, B, cond_dim) * 2, _rand(rng, 6 * d, cond_dim), _rand(rng, 6 * d)
        where = (f"AdaLNZero({cond_dim}, {d}) with random '1.weight' and '1.bias', c of shape "
                 f"{fmt_shape(c.shape)} (seed {seed})")
        res = runner.call("adaln_forward", cond_dim=cond_dim, d_model=d, c=c, weight=w, bias=b)
        c64 = c.astype(np.float64)
        full = _silu(c64) @ w.astype(np.float64).T + b
        for j, (name, t) in enumerate(zip(CHUNKS, _six(res, where, B, d), strict=False)):
            assert_close(t, full[:, j * d:(j + 1) * d], f"AdaLNZero's output {j} ({name})", where,
                         rtol=1e-5, atol=1e-5)

    run_cases("q2 adaln chunks", ADALN, check, max_examples=4, examples=((2, 5, 3, 0), (3, 4, 6, 1)))


@hidden_test("q2 AdaLNZero returns a tuple (the task asks for a tuple of six tensors)", weight=0.5)
def test_adaln_returns_tuple(runner) -> None:
    res = runner.call("adaln_forward", cond_dim=4, d_model=3, c=np.ones((2, 4), dtype=np.float32))
    where = "AdaLNZero(4, 3), c of shape [2, 4]"
    _six(res, where, 2, 3)
    if not isinstance(res, tuple):
        raise Fail(f"AdaLNZero(4, 3)(c) returned {type_name(res)}; the task asks for a tuple of six [B, d_model] "
                   "tensors (tuple(...) around it does it)")
    _not_zero_with_weights(runner)


def expected_block_state(d: int) -> dict[str, list[int]]:
    return {
        "attn.qkv.weight": [3 * d, d], "attn.qkv.bias": [3 * d],
        "attn.proj.weight": [d, d], "attn.proj.bias": [d],
        "mlp.fc1.weight": [4 * d, d], "mlp.fc1.bias": [4 * d],
        "mlp.fc2.weight": [d, 4 * d], "mlp.fc2.bias": [d],
        "adaLN_modulation.1.weight": [6 * d, d], "adaLN_modulation.1.bias": [6 * d],
    }


@hidden_test("q2 DiTBlock's state_dict has exactly the DiT parameter names and shapes", weight=1)
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
            raise Fail(f"{where}'s state_dict keys differ from DiT's: missing {fmt_names(missing)}, "
                       f"unexpected {fmt_names(extra)}")
        for k, shape in expected.items():
            if got[k] != shape:
                raise Fail(f"{where}'s {k} has shape {fmt_shape(got[k])}, expected {fmt_shape(shape)}")


# (B, L, heads, head_dim, x scale, seed)
BLOCK = st.tuples(st.integers(1, 3), st.integers(1, 6), st.sampled_from([1, 2, 3, 4]), st.sampled_from([4, 8]),
                  st.sampled_from([1.0, 1e-3]), st.integers(0, 2**31 - 1))
BLOCK_EXPLICIT = ((2, 5, 2, 8, 1.0, 0), (3, 4, 4, 4, 1e-3, 1), (2, 2, 3, 4, 1.0, 2))
BLOCK_CASES = dict(max_examples=4, examples=BLOCK_EXPLICIT)  # the forward against diffusers' block
BACKWARD_CASES = dict(max_examples=2, examples=BLOCK_EXPLICIT[:2])


@hidden_test("q2 DiTBlock is exactly the identity at initialisation", weight=1.5)
def test_block_identity(runner) -> None:
    def check(case):
        B, L, heads, hd, scale, seed = case
        d = heads * hd
        rng = np.random.default_rng(seed)
        x, c = _rand(rng, B, L, d) * np.float32(scale), _rand(rng, B, d)
        where = f"a fresh DiTBlock({d}, num_heads={heads}), x {fmt_shape(x.shape)}, c {fmt_shape(c.shape)} (seed {seed})"
        res = runner.call("block_forward", hidden_size=d, num_heads=heads, x=x, c=c)
        out = tensor_of(res["out"], "DiTBlock", where)
        assert_close(out, x, "DiTBlock(x, c) at initialisation (expected x itself)", where, rtol=0, atol=1e-7)

    run_cases("q2 identity", BLOCK, check, max_examples=4, examples=BLOCK_EXPLICIT)
    # The identity must come from the zero-initialised modulation: with random weights (under the
    # DiT names the task gives) the same block changes x. A forward that returns x has not been written.
    block, x, c, _t, _y, where = block_case(BLOCK_EXPLICIT[0])
    res = runner.call("block_forward", hidden_size=x.shape[-1], num_heads=BLOCK_EXPLICIT[0][2], x=x.numpy(),
                      c=c.numpy(), state=dit_state(block))
    out = tensor_of(res["out"], "DiTBlock", where)
    if out.shape == tuple(x.shape) and np.allclose(out.astype(np.float64), x.numpy().astype(np.float64),
                                                   rtol=0, atol=1e-6):
        raise Fail(f"DiTBlock(x, c) returned x itself for {where}: it is the identity only while its "
                   "adaLN modulation is zero")
    # ... and from zero gates on its two sublayers: with either one's input or output layer zeroed,
    # the output changes. x plus a modulation vector (round 9), or plus the gated output biases
    # (round 10), with no attention and no MLP, earned this test.
    heads = BLOCK_EXPLICIT[0][2]
    for part, names in (("attention", ("attn.qkv.weight", "attn.qkv.bias")),
                        ("attention", ("attn.proj.weight", "attn.proj.bias")),
                        ("MLP", ("mlp.fc1.weight", "mlp.fc1.bias")), ("MLP", ("mlp.fc2.weight", "mlp.fc2.bias"))):
        state = {k: np.zeros_like(v) if k in names else v for k, v in dit_state(block).items()}
        res = runner.call("block_forward", hidden_size=x.shape[-1], num_heads=heads, x=x.numpy(), c=c.numpy(),
                          state=state)
        without = tensor_of(res["out"], "DiTBlock", where)
        if without.shape == out.shape and np.allclose(without.astype(np.float64), out.astype(np.float64), rtol=0,
                                                      atol=1e-6):
            raise Fail(f"DiTBlock(x, c) for {where} did not change when its {part}'s layer {names[0][:-7]} was "
                       f"zeroed: the block must add the gated {part} of x to x")
    # ... and the attention mixes the tokens: another first token changes the others' outputs
    # (x plus anything computed token by token, such as a gated sum of weights times x, earned this
    # test: rounds 10 and 11)
    x2 = x.numpy().copy()
    x2[:, 0] += 1
    res = runner.call("block_forward", hidden_size=x.shape[-1], num_heads=heads, x=x2, c=c.numpy(),
                      state=dit_state(block))
    out2 = tensor_of(res["out"], "DiTBlock", where)
    if out2.shape == out.shape and np.allclose(out2[:, 1:].astype(np.float64), out[:, 1:].astype(np.float64),
                                               rtol=0, atol=1e-6):
        raise Fail(f"DiTBlock(x, c) for {where}: adding 1 to token 0 of x changed no other token's output; the "
                   "block's self-attention mixes the tokens")


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


@warm_up
def _diffusers_blocks() -> Iterator[None]:
    """diffusers' blocks the block tests compare with (about 0.2 s), built while the fork server
    starts."""
    for key, cases in (("q2 block", BLOCK_CASES), ("q2 backward", BACKWARD_CASES)):
        for case in drawn_cases(key, BLOCK, **cases):
            case_block(case)
            yield


DIT_NAMES = {  # DiT (facebookresearch) name -> how to read it off diffusers' block
    "attn.qkv.weight": lambda b: torch.cat([b.attn1.to_q.weight, b.attn1.to_k.weight, b.attn1.to_v.weight]),
    "attn.qkv.bias": lambda b: torch.cat([b.attn1.to_q.bias, b.attn1.to_k.bias, b.attn1.to_v.bias]),
    "attn.proj.weight": lambda b: b.attn1.to_out[0].weight, "attn.proj.bias": lambda b: b.attn1.to_out[0].bias,
    "mlp.fc1.weight": lambda b: b.ff.net[0].proj.weight, "mlp.fc1.bias": lambda b: b.ff.net[0].proj.bias,
    "mlp.fc2.weight": lambda b: b.ff.net[2].weight, "mlp.fc2.bias": lambda b: b.ff.net[2].bias,
    "adaLN_modulation.1.weight": lambda b: b.norm1.linear.weight,
    "adaLN_modulation.1.bias": lambda b: b.norm1.linear.bias,
}


def dit_state(block) -> dict[str, np.ndarray]:
    """diffusers' DiT block weights under the DiT names."""
    return {k: get(block).detach().numpy().copy() for k, get in DIT_NAMES.items()}


def dit_grads(block) -> dict[str, np.ndarray]:
    """The gradients diffusers' block holds after a backward pass, under the DiT names."""
    grads = {}
    with torch.no_grad():
        for k, get in DIT_NAMES.items():
            parts = {"attn.qkv.weight": ("to_q", "to_k", "to_v"), "attn.qkv.bias": ("to_q", "to_k", "to_v")}.get(k)
            if parts:
                attr = k.rsplit(".", 1)[1]
                grads[k] = torch.cat([getattr(getattr(block.attn1, n), attr).grad for n in parts]).numpy().copy()
            else:
                grads[k] = get(block).grad.numpy().copy()
    return grads


def case_block(case: tuple):
    """diffusers' block for ``case`` (B, L, heads, head_dim, scale, seed)."""
    _B, _L, heads, hd, _scale, seed = case
    return diffusers_block(heads, hd, seed % 1000)


def block_case(case: tuple) -> tuple:
    """diffusers' block for ``case``, its inputs (x, its conditioning c, t, y) and where-text."""
    B, L, heads, hd, scale, seed = case
    d = heads * hd
    block = case_block(case)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, L, d, generator=g) * scale
    t = torch.randint(0, 1000, (B,), generator=g)
    y = torch.randint(0, 10, (B,), generator=g)
    with torch.no_grad():
        c = block.norm1.emb(t, y, hidden_dtype=torch.float32)
    where = (f"DiTBlock({d}, num_heads={heads}) loaded with random weights, x {fmt_shape(x.shape)} "
             f"(x scale {scale:g}), c {fmt_shape(c.shape)} (seed {seed})")
    return block, x, c, t, y, where


def expected_stages(block, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> dict[str, np.ndarray]:
    """What diffusers' block feeds its attention and its MLP, and what it returns."""
    seen: dict[str, torch.Tensor] = {}

    def attn_input(module, args, kwargs):
        seen.setdefault("attn_in", args[0] if args else kwargs["hidden_states"])

    def mlp_input(module, args):
        seen.setdefault("mlp_in", args[0])

    hooks = [block.attn1.register_forward_pre_hook(attn_input, with_kwargs=True),
             block.ff.register_forward_pre_hook(mlp_input)]
    try:
        with torch.no_grad():
            out = block(x, timestep=t, class_labels=y)
    finally:
        for h in hooks:
            h.remove()
    return {"attn_in": seen["attn_in"].double().numpy(), "mlp_in": seen["mlp_in"].double().numpy(),
            "out": out.double().numpy()}


def expected_backward(block, x: torch.Tensor, c: torch.Tensor, t: torch.Tensor, y: torch.Tensor,
                      upstream: torch.Tensor) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """diffusers' gradients for one backward pass with conditioning ``c`` given directly:
    (parameter grads under DiT names, x.grad, c.grad)."""
    xg, cg = x.clone().requires_grad_(True), c.clone().requires_grad_(True)
    hook = block.norm1.emb.register_forward_hook(lambda module, args, output: cg)  # use c, not emb(t, y)
    block.zero_grad(set_to_none=True)
    try:
        block(xg, timestep=t, class_labels=y).backward(upstream)
        grads = dit_grads(block)
    finally:
        hook.remove()
        block.zero_grad(set_to_none=True)
    return grads, xg.grad.double().numpy(), cg.grad.double().numpy()


STAGES = (("attn_in", "the attention's input, modulate(norm1(x), shift_msa, scale_msa)", "self.attn"),
          ("mlp_in", "the MLP's input, modulate(norm2(x + gate_msa * attn(...)), shift_mlp, scale_mlp)", "self.mlp"))


@hidden_test("q2 DiTBlock with random weights matches diffusers' DiT block (adaLN-Zero)", weight=2)
def test_block_matches_diffusers(runner) -> None:
    def check(case):
        block, x, c, t, y, where = block_case(case)
        d = x.shape[-1]
        expected = expected_stages(block, x, t, y)
        res = runner.call("block_forward", hidden_size=d, num_heads=case[2], x=x.numpy(), c=c.numpy(),
                          state=dit_state(block))
        out = tensor_of(res["out"], "DiTBlock", where)
        try:
            assert_close_overall(out, expected["out"], "DiTBlock(x, c)", where, rel=FORWARD_REL)
        except Fail as failure:
            raise Fail(f"{failure}. {_first_departure(res, expected)}") from None

    run_cases("q2 block", BLOCK, check, **BLOCK_CASES)


def _first_departure(res: dict, expected: dict[str, np.ndarray]) -> str:
    """Which branch of the student's forward first departs from diffusers' (for feedback)."""
    for key, what, module in STAGES:
        got = res.get(key)
        if not isinstance(got, TensorValue) or got.values is None:
            return f"Your forward never called {module}, whose input is {what}."
        try:
            assert_close_overall(got.values, expected[key], what, rel=FORWARD_REL)
        except Fail as e:
            return f"The first place it departs: {e}"
    return "Both sub-layers receive the right inputs, so the MLP's gated residual (x + gate_mlp * mlp(...)) departs."


@hidden_test("q2 DiTBlock learns: one backward pass gives every parameter, x and c diffusers' gradients", weight=1.5)
def test_block_backward(runner) -> None:
    def check(case):
        block, x, c, t, y, where = block_case(case)
        d = x.shape[-1]
        upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(case[-1] + 7))
        expected, x_grad, c_grad = expected_backward(block, x, c, t, y, upstream)
        res = runner.call("block_backward", hidden_size=d, num_heads=case[2], x=x.numpy(), c=c.numpy(),
                          state=dit_state(block), upstream=upstream.numpy())
        out_student = res.get("out")
        tensor_of(out_student, "DiTBlock", where)
        if not out_student.requires_grad:
            raise Fail(f"DiTBlock's output does not require grad for {where}: it is cut from its parameters and "
                       "inputs (torch.no_grad, .detach() or .data inside forward?)")
        grads = res.get("grads") or {}
        for name in DIT_NAMES:
            g = grads.get(name)
            if not isinstance(g, TensorValue):
                raise Fail(f"after backward through DiTBlock for {where}, {name}.grad is {type_name(g)}: the "
                           "parameter received no gradient (is it frozen with requires_grad_(False), or unused?)")
            assert_close_overall(tensor_of(g, f"{name}.grad", where), expected[name], f"{name}.grad after backward",
                                 where, rel=BACKWARD_REL)
        for key, ref, what in (("x_grad", x_grad, "x.grad"), ("c_grad", c_grad, "c.grad")):
            got = res.get(key)
            if not isinstance(got, TensorValue):
                raise Fail(f"{what} is {type_name(got)} after backward through DiTBlock for {where}")
            assert_close_overall(tensor_of(got, what, where), ref, f"{what} after backward", where, rel=BACKWARD_REL)

    run_cases("q2 backward", BLOCK, check, **BACKWARD_CASES)
