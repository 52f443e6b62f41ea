"""q4: find_conv2d, convs_in_blocks.

The probe builds a trusted model (a module tree from a plain spec, or a tiny diffusers DiT /
U-Net on the meta device) in the student's process; the grader builds the same model from the
same data and scans it itself.
"""

from __future__ import annotations

import functools
import json
import random

import torch.nn as nn
from hypothesis import strategies as st

from ..compare import items_of, run_cases
from ..probes import build_model
from ..suite import Fail, hidden_test


def _conv(kind: str, cin: int, cout: int, k: int = 1) -> dict:
    return {"kind": kind, "args": [cin, cout, k]}


def _mod(*children: tuple[str, dict]) -> dict:
    return {"kind": "Module", "children": [[n, c] for n, c in children]}


# A hand-made model with every trap: nesting, containers, Conv2d subclasses (one owning a child
# Conv2d), Conv1d/Conv3d/ConvTranspose2d decoys, convs outside the blocks, and siblings whose names
# start with or contain "transformer_blocks".
DECOY = _mod(
    ("stem", _conv("Conv2d", 3, 8, 3)),
    ("transformer_blocks", {"kind": "ModuleList", "children": [
        _mod(("attn", {"kind": "Linear", "args": [8, 8]}), ("conv", _conv("Conv2d", 8, 8, 1))),
        _mod(("mlp", {"kind": "Sequential", "children": [_conv("ScaledConv2d", 8, 9), {"kind": "SiLU"},
                                                         _conv("Conv1d", 9, 8)]})),
        _conv("AdapterConv2d", 8, 10, 3),
        _mod(("up", _conv("ConvTranspose2d", 8, 8, 2))),
    ]}),
    ("transformer_blocks_extra", _mod(("conv", _conv("Conv2d", 8, 11)))),
    ("not_transformer_blocks", {"kind": "ModuleList", "children": [_conv("Conv2d", 8, 12)]}),
    ("head", {"kind": "Sequential", "children": [_conv("ConvTranspose2d", 8, 3, 2), _conv("Conv3d", 3, 3)]}),
    ("layers", {"kind": "ModuleDict", "children": [["a", _conv("Conv2d", 3, 13)],
                                                   ["b", {"kind": "Linear", "args": [3, 3]}]]}),
    ("transformer", _mod(("conv", _conv("Conv2d", 3, 14)))),
)

TOP_NAMES = ("stem", "transformer_blocks", "transformer_blocks_extra", "not_transformer_blocks", "transformer",
             "blocks", "blocks2", "pre_blocks", "head")
LEAF_KINDS = ("Conv2d", "Conv2d", "ScaledConv2d", "AdapterConv2d", "Conv1d", "Conv3d", "ConvTranspose2d", "Linear")


def _random_sub(rng: random.Random, depth: int) -> dict:
    if depth >= 4 or (depth > 0 and rng.random() < 0.35):
        kind = rng.choice(LEAF_KINDS)
        cin, cout = rng.randint(1, 6), rng.randint(1, 6)
        if kind == "Linear":
            return {"kind": kind, "args": [cin, cout]}
        return _conv(kind, cin, cout, rng.randint(1, 3))
    kind = rng.choice(["Module", "Sequential", "ModuleList", "ModuleDict"])
    children = [_random_sub(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    if kind in ("Module", "ModuleDict"):
        return {"kind": kind, "children": [[rng.choice(["conv", "block", "layer", "proj"]) + str(i), c]
                                           for i, c in enumerate(children)]}
    return {"kind": kind, "children": children}


def random_model(seed: int) -> dict:
    """A random model: a few top-level parts with confusable names, always with transformer_blocks."""
    rng = random.Random(seed)
    names = ["transformer_blocks"] + rng.sample([n for n in TOP_NAMES if n != "transformer_blocks"], rng.randint(1, 4))
    rng.shuffle(names)
    return _mod(*[(n, _random_sub(rng, 1)) for n in names])


@functools.lru_cache(maxsize=64)
def _built(key: str):
    return build_model(json.loads(key))  # key: a plain spec or a model name, as JSON (hashable for the cache)


def model_of(model) -> nn.Module:
    return _built(json.dumps(model, sort_keys=True))


def expected_convs(model) -> list[tuple[str, str, list[int]]]:
    return [(n, type(m).__name__, list(m.weight.shape)) for n, m in model_of(model).named_modules()
            if isinstance(m, nn.Conv2d)]


def expected_in_blocks(model, blocks_attr: str) -> list[str]:
    return [n for n, _, _ in expected_convs(model) if n.startswith(blocks_attr + ".") or n == blocks_attr]


def _check_find(runner, model, where: str) -> None:
    res = runner.call("find_conv2d", model=model)
    items = items_of(res, "find_conv2d", where, expected="a list of (name, module) pairs")
    got = []
    for i, it in enumerate(items):
        if "bad" in it:
            raise Fail(f"find_conv2d's item {i} is {it['bad'].get('type')} for {where}, expected a (name, module) pair")
        if not isinstance(it.get("name"), str):
            raise Fail(f"find_conv2d's item {i} has a name of type {it['name'].get('type')} for {where}, expected a str")
        if not it.get("is_module"):
            raise Fail(f"find_conv2d's item {i} ({it['name']!r}) pairs the name with {it.get('type')}, "
                       f"expected the nn.Conv2d module itself")
        got.append((it["name"], it["type"], it["shape"]))
    expected = expected_convs(model)
    got_names, exp_names = [g[0] for g in got], [e[0] for e in expected]
    missing = [n for n in exp_names if n not in got_names]
    extra = [n for n in got_names if n not in exp_names]
    if missing or extra:
        types = dict((n, t) for n, t, _ in expected)
        miss = ", ".join(f"{n!r} ({types[n]})" for n in missing[:6]) or "none"
        raise Fail(f"find_conv2d on {where} found {len(got)} module(s), expected {len(expected)}: missing {miss}; "
                   f"unexpected {extra[:6] or 'none'}")
    if got_names != exp_names:
        raise Fail(f"find_conv2d on {where} lists the right modules in the wrong order: got {got_names[:8]}, "
                   f"expected named_modules() order {exp_names[:8]}")
    for g, e in zip(got, expected, strict=False):
        if g != e:
            raise Fail(f"find_conv2d on {where} pairs {g[0]!r} with a {g[1]} of weight shape {g[2]}, "
                       f"expected the model's own {e[1]} of weight shape {e[2]}")


def _check_blocks(runner, model, blocks_attr: str | None, where: str) -> None:
    attr = "transformer_blocks" if blocks_attr is None else blocks_attr
    call = "convs_in_blocks(model)" if blocks_attr is None else f"convs_in_blocks(model, {blocks_attr!r})"
    res = runner.call("convs_in_blocks", model=model, blocks_attr=blocks_attr)
    items = items_of(res, call, where, expected="a list of names")
    names = []
    for it in items:
        if it.get("type") == "str":
            names.append(it["value"])
        elif it.get("type") in ("tuple", "list") and it.get("items") and it["items"][0].get("type") == "str":
            raise Fail(f"{call} on {where} returned (name, module) pairs; expected only the names (str)")
        else:
            raise Fail(f"{call} on {where} returned a list containing a {it.get('type')}; expected names (str)")
    expected = expected_in_blocks(model, attr)
    if sorted(names) != sorted(expected):
        missing = [n for n in expected if n not in names]
        extra = [n for n in names if n not in expected]
        raise Fail(f"{call} on {where} returned {len(names)} name(s), expected {len(expected)} (the Conv2d "
                   f"modules inside model.{attr}): missing {missing[:6] or 'none'}; unexpected {extra[:6] or 'none'}")


DECOY_WHERE = ("a model with nested Conv2d layers and subclasses, Conv1d/Conv3d/ConvTranspose2d layers, and "
               "siblings named 'transformer_blocks_extra' and 'not_transformer_blocks'")


@hidden_test("q4 find_conv2d finds every Conv2d (subclasses too) at any depth, in named_modules() order", points=2.5)
def test_find_conv2d(runner) -> None:
    def check(seed):
        model = DECOY if seed < 0 else random_model(seed)
        _check_find(runner, model, DECOY_WHERE if seed < 0 else f"a randomly nested model (model seed {seed})")

    run_cases("q4 find", st.integers(0, 2**31 - 1), check, max_examples=6, examples=(-1,))


@hidden_test("q4 find_conv2d on a tiny diffusers DiT and a tiny U-Net", points=1.5)
def test_find_conv2d_diffusers(runner) -> None:
    _check_find(runner, "tiny_dit", "a tiny DiTTransformer2DModel")
    _check_find(runner, "tiny_unet", "a tiny UNet2DConditionModel")


@hidden_test("q4 convs_in_blocks lists exactly the Conv2d modules inside model.transformer_blocks", points=2)
def test_convs_in_blocks(runner) -> None:
    def check(seed):
        model = DECOY if seed < 0 else random_model(seed)
        _check_blocks(runner, model, None, DECOY_WHERE if seed < 0 else f"a randomly nested model (model seed {seed})")

    run_cases("q4 blocks", st.integers(0, 2**31 - 1), check, max_examples=6, examples=(-1,))


@hidden_test("q4 convs_in_blocks honours a custom blocks_attr", points=1)
def test_convs_in_blocks_custom(runner) -> None:
    for attr in ("layers", "transformer", "stem"):
        _check_blocks(runner, DECOY, attr, DECOY_WHERE)

    def check(seed):
        model = random_model(seed)
        attrs = [n for n, _ in model["children"] if n != "transformer_blocks"]
        _check_blocks(runner, model, attrs[seed % len(attrs)], f"a randomly nested model (model seed {seed})")

    run_cases("q4 blocks custom", st.integers(0, 2**31 - 1), check, max_examples=4)


@hidden_test("q4 convs_in_blocks on a tiny diffusers DiT (none) and a tiny U-Net's down, mid and up blocks", points=1)
def test_convs_in_blocks_diffusers(runner) -> None:
    _check_blocks(runner, "tiny_dit", None, "a tiny DiTTransformer2DModel")
    for attr in ("down_blocks", "mid_block", "up_blocks"):
        _check_blocks(runner, "tiny_unet", attr, "a tiny UNet2DConditionModel")
