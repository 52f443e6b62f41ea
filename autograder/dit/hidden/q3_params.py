"""q3: count_parameters, estimate_dit_params, exact_dit_params.

Expected counts come from the grader's own count over the same module tree (built from the same
plain spec) and from diffusers' DiTTransformer2DModel instantiated on the meta device.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Iterator

import torch
from hypothesis import strategies as st

from ditgrade.api import assert_count, drawn_cases, hidden_test, run_cases, run_own_cases, warm_up

from ..models import build_model

VARIANTS = (("DiT-S", 384, 12), ("DiT-B", 768, 12), ("DiT-L", 1024, 24), ("DiT-XL", 1152, 28))


@hidden_test("q3 estimate_dit_params gives 18 * d^2 * N for DiT-S, DiT-B, DiT-L and DiT-XL", weight=1)
def test_estimate_variants(runner) -> None:
    for name, d, n in VARIANTS:
        assert_count(runner.call("estimate_dit_params", hidden_size=d, depth=n), 18 * d * d * n,
                     "estimate_dit_params", f"{name} (hidden_size={d}, depth={n})")


@hidden_test("q3 estimate_dit_params gives 18 * d^2 * N for other sizes", weight=1)
def test_estimate_random(runner) -> None:
    def check(case):
        d, n = case
        assert_count(runner.call("estimate_dit_params", hidden_size=d, depth=n), 18 * d * d * n,
                     "estimate_dit_params", f"hidden_size={d}, depth={n}")

    run_cases("q3 estimate", st.tuples(st.integers(1, 4096), st.integers(1, 64)), check, max_examples=6,
              examples=((1, 1), (64, 3)))


def _leaf(rng: random.Random, frozen: float = 0.0) -> dict:
    spec = _plain_leaf(rng)
    if frozen and spec["kind"] not in ("SiLU", "Dropout") and rng.random() < frozen:
        spec["frozen"] = True  # requires_grad_(False): still parameters of the model
    return spec


def _plain_leaf(rng: random.Random) -> dict:
    kind = rng.choice(["Linear", "Linear", "Conv2d", "LayerNorm", "BatchNorm2d", "Embedding", "GroupNorm",
                       "SiLU", "Dropout", "Conv1d"])
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    if kind == "Linear":
        return {"kind": kind, "args": [a, b], "kwargs": {"bias": rng.random() < 0.7}}
    if kind in ("Conv2d", "Conv1d"):
        return {"kind": kind, "args": [a, b, rng.randint(1, 3)], "kwargs": {"bias": rng.random() < 0.7}}
    if kind == "LayerNorm":
        return {"kind": kind, "args": [a], "kwargs": {"elementwise_affine": rng.random() < 0.7}}
    if kind == "BatchNorm2d":  # running statistics are buffers, not parameters
        return {"kind": kind, "args": [a]}
    if kind == "Embedding":
        return {"kind": kind, "args": [a, b]}
    if kind == "GroupNorm":
        return {"kind": kind, "args": [1, a]}
    return {"kind": kind}


def random_tree(rng: random.Random, depth: int = 0, frozen: float = 0.0) -> dict:
    """A random nested module spec for ``build_tree`` (Module, Sequential, ModuleList, ModuleDict);
    each leaf frozen with probability ``frozen``."""
    if depth >= 3 or (depth > 0 and rng.random() < 0.3):
        return _leaf(rng, frozen)
    kind = rng.choice(["Module", "Sequential", "ModuleList", "ModuleDict"])
    children = [random_tree(rng, depth + 1, frozen) for _ in range(rng.randint(1, 4))]
    if kind in ("Module", "ModuleDict"):
        return {"kind": kind, "children": [[f"part{i}", c] for i, c in enumerate(children)]}
    return {"kind": kind, "children": children}


@functools.lru_cache(maxsize=64)
def _own_count(key: str) -> int:
    return sum(p.numel() for p in build_model(json.loads(key), meta=True, shared=True).parameters())


def own_count(spec) -> int:
    """Every parameter of the model built from ``spec`` (built on the meta device: shapes are enough)."""
    return _own_count(json.dumps(spec, sort_keys=True))


MIXED_SPEC = {"kind": "Module", "children": [
    ["embed", {"kind": "Embedding", "args": [11, 6]}],
    ["norm", {"kind": "BatchNorm2d", "args": [6]}],
    ["blocks", {"kind": "ModuleList", "children": [
        {"kind": "Sequential", "children": [{"kind": "Linear", "args": [6, 7]}, {"kind": "SiLU"},
                                            {"kind": "Linear", "args": [7, 6], "kwargs": {"bias": False}}]},
        {"kind": "ModuleDict", "children": [["ln", {"kind": "LayerNorm", "args": [6]}],
                                            ["conv", {"kind": "Conv2d", "args": [6, 3, 3]}]]},
    ]}],
    ["head", {"kind": "Linear", "args": [6, 2]}],
]}


@hidden_test("q3 count_parameters counts every parameter of nested modules (and no buffers)", weight=1.5)
def test_count_parameters(runner) -> None:
    def check(seed):
        spec = MIXED_SPEC if seed < 0 else random_tree(random.Random(seed))
        where = "a model with an embedding, batch norm, blocks in a ModuleList/Sequential/ModuleDict and a head" \
            if seed < 0 else f"a randomly nested module tree (tree seed {seed})"
        assert_count(runner.call("count_parameters", spec=spec), own_count(spec), "count_parameters", where)

    run_cases("q3 count", st.integers(0, 2**31 - 1), check, max_examples=6, examples=(-1,))


@hidden_test("q3 count_parameters counts frozen parameters too (requires_grad=False)", weight=1)
def test_count_parameters_frozen(runner) -> None:
    frozen = {"kind": "Module", "children": [
        ["backbone", {"kind": "Linear", "args": [8, 8], "frozen": True}],
        ["head", {"kind": "Linear", "args": [8, 3]}],
    ]}
    assert_count(runner.call("count_parameters", spec=frozen), own_count(frozen), "count_parameters",
                 "a model whose backbone is frozen with requires_grad_(False) (its parameters still count)")

    def check(seed):
        spec = random_tree(random.Random(seed), frozen=0.5)
        assert_count(runner.call("count_parameters", spec=spec), own_count(spec), "count_parameters",
                     f"a randomly nested module tree with about half its layers frozen (tree seed {seed})")

    run_cases("q3 count frozen", st.integers(0, 2**31 - 1), check, max_examples=4)


@hidden_test("q3 count_parameters works on meta-device models (tiny diffusers DiT, U-Net, VAE; random trees)",
             weight=1)
def test_count_parameters_meta(runner) -> None:
    for name, what in (("tiny_dit", "DiTTransformer2DModel"), ("tiny_unet", "UNet2DConditionModel"),
                       ("tiny_vae", "AutoencoderKL")):
        assert_count(runner.call("count_parameters", spec=name, meta=True), own_count(name),
                     "count_parameters", f"a tiny {what} on the meta device")

    def check(seed):
        spec = random_tree(random.Random(seed))
        assert_count(runner.call("count_parameters", spec=spec, meta=True), own_count(spec), "count_parameters",
                     f"a randomly nested module tree on the meta device (tree seed {seed})")

    run_cases("q3 count meta", st.integers(0, 2**31 - 1), check, max_examples=3)


@functools.lru_cache(maxsize=64)
def diffusers_dit_params(depth: int, heads: int, head_dim: int, patch: int, cin: int, cout: int, classes: int) -> int:
    from diffusers import DiTTransformer2DModel

    with torch.device("meta"):
        model = DiTTransformer2DModel(num_attention_heads=heads, attention_head_dim=head_dim, in_channels=cin,
                                      out_channels=cout, num_layers=depth, sample_size=4 * patch,
                                      patch_size=patch, num_embeds_ada_norm=classes)
    return sum(p.numel() for p in model.parameters())


@hidden_test("q3 exact_dit_params gives 749,826,464 for DiT-XL/2 with the default arguments", weight=1.5)
def test_exact_xl2(runner) -> None:
    assert_count(runner.call("exact_dit_params", args=[28, 1152, 2]), 749_826_464, "exact_dit_params",
                 "exact_dit_params(28, 1152, 2) (DiT-XL/2, in_channels=4, out_channels=8, num_classes=1000)")
    # The count must be computed: the notebook prints this number, and a function returning it
    # whatever its arguments (round 9), or scaled by the depth (round 10), earned this test.
    where = "exact_dit_params(27, 1152, 2) (DiT-XL/2 with one block fewer)"
    assert_count(runner.call("exact_dit_params", args=[27, 1152, 2]), dit_formula(27, 1152, 2), "exact_dit_params",
                 where)


# (depth, heads, head_dim, patch, in_channels, out_channels, num_classes)
CONFIGS = st.tuples(st.integers(1, 4), st.integers(1, 4), st.sampled_from([4, 8, 12]), st.sampled_from([1, 2, 4]),
                    st.integers(1, 6), st.integers(1, 8), st.sampled_from([1, 2, 7, 10, 100, 1000]))


EXACT_CASES = dict(max_examples=6, examples=((2, 2, 8, 2, 4, 8, 1000), (1, 1, 4, 4, 3, 5, 10), (3, 3, 4, 1, 4, 4, 7)))


@warm_up
def _diffusers_counts() -> Iterator[None]:
    """The model's own counts that test_exact_small compares with (a meta build each, about 0.26 s
    in all), computed while the fork server starts."""
    for depth, heads, hd, patch, cin, cout, classes in drawn_cases("q3 exact", CONFIGS, **EXACT_CASES):
        diffusers_dit_params(depth, heads, hd, patch, cin, cout, classes)
        yield


@hidden_test("q3 exact_dit_params matches diffusers' DiTTransformer2DModel for other configurations", weight=2)
def test_exact_small(runner) -> None:
    def check(case):
        depth, heads, hd, patch, cin, cout, classes = case
        d = heads * hd
        where = (f"exact_dit_params({depth}, {d}, {patch}, in_channels={cin}, out_channels={cout}, "
                 f"num_classes={classes})")
        assert_count(runner.call("exact_dit_params", args=[depth, d, patch, cin, cout, classes]),
                     diffusers_dit_params(depth, heads, hd, patch, cin, cout, classes), "exact_dit_params", where)

    run_cases("q3 exact", CONFIGS, check, **EXACT_CASES)

    # and two of this submission's own: a table of the cases above, learnt from feedback one
    # failure at a time, meets two it has not seen (independent attack round 10). Their counts
    # come from the closed form (equal to the model's for every configuration CONFIGS draws,
    # tests/test_hidden_suite.py): two meta builds a submission cost a warm lane about 70 ms.
    def check_own(case):
        depth, heads, hd, patch, cin, cout, classes = case
        d = heads * hd
        assert_count(runner.call("exact_dit_params", args=[depth, d, patch, cin, cout, classes]),
                     dit_formula(depth, d, patch, cin, cout, classes), "exact_dit_params",
                     f"exact_dit_params({depth}, {d}, {patch}, in_channels={cin}, out_channels={cout}, "
                     f"num_classes={classes})")

    run_own_cases(runner, "q3 exact", CONFIGS, check_own, max_examples=2)


def dit_formula(depth: int, d: int, p: int, cin: int = 4, cout: int = 8, classes: int = 1000) -> int:
    """diffusers' DiTTransformer2DModel parameter count in closed form (checked against the model
    itself for every configuration the test above draws)."""
    def linear(i: int, o: int) -> int:
        return i * o + o

    block = linear(256, d) + linear(d, d) + (classes + 1) * d + 4 * linear(d, d) + linear(d, 4 * d) \
        + linear(4 * d, d) + linear(d, 6 * d)
    return cin * p * p * d + d + depth * block + linear(d, 2 * d) + linear(d, p * p * cout)


# Sizes no machine could build: (depth, hidden_size, patch, in_channels, out_channels, num_classes)
HUGE = st.tuples(st.integers(64, 4096), st.integers(8192, 1 << 17), st.integers(1, 16), st.integers(1, 64),
                 st.integers(1, 64), st.integers(1, 1 << 20))


@hidden_test("q3 exact_dit_params is arithmetic: exact for sizes no machine could build (no overflow)", weight=1)
def test_exact_huge(runner) -> None:
    def check(args):
        assert_count(runner.call("exact_dit_params", args=list(args)), dit_formula(*args), "exact_dit_params",
                     f"exact_dit_params{tuple(args)} (about {dit_formula(*args) / 1e9:,.0f} billion parameters)")

    for args in ((96, 12288, 2), (64, 16384, 1, 16, 32, 21843), (1000, 65536, 8, 4, 8, 100000)):
        check(args)
    run_own_cases(runner, "q3 huge", HUGE, check, max_examples=1)  # and one of its own
