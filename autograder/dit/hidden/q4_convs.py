"""q4: find_conv2d, convs_in_blocks.

The student's process builds a trusted model from a spec (``dit.models``); the grader builds the
identical model (same spec, same seed) and scans it itself. A module the student returns is
recognised by its weights. The trees mix every trap the task text names (nesting in lists and
dicts, Conv2d subclasses, Conv1d/Conv3d/ConvTranspose2d, siblings whose names start with or contain
the container's name) with diffusers' own models.

One reading the text leaves open: when ``getattr(model, blocks_attr)`` is itself a Conv2d, is it
"inside" the container? Both answers pass.
"""

from __future__ import annotations

import collections
import functools
import heapq
import json
import random
from collections.abc import Iterator

import numpy as np
import torch.nn as nn
from hypothesis import strategies as st

from ditgrade.api import (
    Fail,
    Opaque,
    TensorValue,
    drawn_cases,
    fmt_names,
    hidden_test,
    items_of,
    run_cases,
    type_name,
    warm_up,
)

from ..models import build_model


def _conv(kind: str, cin: int, cout: int, k: int = 1) -> dict:
    return {"kind": kind, "args": [cin, cout, k]}


def _mod(*children: tuple[str, dict]) -> dict:
    return {"kind": "Module", "children": [[n, c] for n, c in children]}


# A hand-made model with every trap: nesting, containers, Conv2d subclasses (one owning a child
# Conv2d, one from diffusers), Conv1d/Conv3d/ConvTranspose2d decoys, convs outside the blocks,
# siblings whose names start with or contain "transformer_blocks", and a nested container of the
# same name that is not the top-level one.
DECOY = _mod(
    ("stem", _conv("Conv2d", 3, 8, 3)),
    ("transformer_blocks", {"kind": "ModuleList", "children": [
        _mod(("attn", {"kind": "Linear", "args": [8, 8]}), ("conv", _conv("Conv2d", 8, 8, 1))),
        _mod(("mlp", {"kind": "Sequential", "children": [_conv("ScaledConv2d", 8, 9), {"kind": "SiLU"},
                                                         _conv("Conv1d", 9, 8)]})),
        _conv("AdapterConv2d", 8, 10, 3),
        _mod(("up", _conv("ConvTranspose2d", 8, 8, 2)), ("lora", _conv("LoRAConv", 8, 8, 1))),
    ]}),
    ("transformer_blocks_extra", _mod(("conv", _conv("Conv2d", 8, 11)))),
    ("not_transformer_blocks", {"kind": "ModuleList", "children": [_conv("Conv2d", 8, 12)]}),
    ("encoder", _mod(("transformer_blocks", {"kind": "ModuleList", "children": [_conv("Conv2d", 8, 15)]}))),
    ("head", {"kind": "Sequential", "children": [_conv("ConvTranspose2d", 8, 3, 2), _conv("Conv3d", 3, 3)]}),
    ("layers", {"kind": "ModuleDict", "children": [["a", _conv("Conv2d", 3, 13)],
                                                   ["b", {"kind": "Linear", "args": [3, 3]}]]}),
    ("transformer", _mod(("conv", _conv("Conv2d", 3, 14)))),
)
DECOY_WHERE = ("a model with nested Conv2d layers and subclasses, Conv1d/Conv3d/ConvTranspose2d layers, siblings "
               "named 'transformer_blocks_extra' and 'not_transformer_blocks', and a nested "
               "'encoder.transformer_blocks'")

TOP_NAMES = ("stem", "transformer_blocks", "transformer_blocks_extra", "not_transformer_blocks", "transformer",
             "blocks", "blocks2", "pre_blocks", "head", "encoder")
LEAF_KINDS = ("Conv2d", "Conv2d", "ScaledConv2d", "AdapterConv2d", "LoRAConv", "Conv1d", "Conv3d",
              "ConvTranspose2d", "Linear", "GroupNorm")
DIFFUSERS = (("tiny_dit", "a tiny DiTTransformer2DModel", ("transformer_blocks", "pos_embed", "proj_out_2")),
             ("tiny_unet", "a tiny UNet2DConditionModel", ("down_blocks", "mid_block", "up_blocks", "conv_in")),
             ("tiny_vae", "a tiny AutoencoderKL", ("encoder", "decoder", "quant_conv")))


def _random_sub(rng: random.Random, depth: int) -> dict:
    if depth >= 5 or (depth > 0 and rng.random() < 0.35):
        kind = rng.choice(LEAF_KINDS)
        cin, cout = rng.randint(1, 6), rng.randint(1, 6)
        if kind == "Linear":
            return {"kind": kind, "args": [cin, cout]}
        if kind == "GroupNorm":
            return {"kind": kind, "args": [1, cin]}
        return _conv(kind, cin, cout, rng.randint(1, 3))
    kind = rng.choice(["Module", "Sequential", "ModuleList", "ModuleDict"])
    children = [_random_sub(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    if kind in ("Module", "ModuleDict"):
        # nested names may repeat a top-level name: only the top-level attribute is the container
        names = ["conv", "block", "layer", "proj", "transformer_blocks", "blocks"]
        return {"kind": kind, "children": [[rng.choice(names) + ("" if i == 0 and rng.random() < 0.3 else str(i)), c]
                                           for i, c in enumerate(children)]}
    return {"kind": kind, "children": children}


def random_model(seed: int) -> dict:
    """A random model: a few top-level parts with confusable names, always with transformer_blocks."""
    rng = random.Random(seed)
    names = ["transformer_blocks"] + rng.sample([n for n in TOP_NAMES if n != "transformer_blocks"], rng.randint(1, 4))
    rng.shuffle(names)
    return _mod(*[(n, _random_sub(rng, 1)) for n in names])


# a random model's seed; -1 (an example) stands for DECOY (``case_model``)
SEED = st.integers(0, 2**31 - 1)
FIND_CASES = dict(max_examples=6, examples=(-1,))
BLOCKS_CASES = dict(max_examples=6, examples=(-1,))
CUSTOM_CASES = dict(max_examples=4)


def case_model(seed: int) -> dict:
    """The model a drawn seed stands for: DECOY for the example -1, else a random model."""
    return DECOY if seed < 0 else random_model(seed)


@functools.lru_cache(maxsize=64)
def _built(key: str) -> nn.Module:
    # key: a spec or a model name, as JSON (hashable for the cache); the grader only reads it
    return build_model(json.loads(key), shared=True)


def model_of(model) -> nn.Module:
    return _built(json.dumps(model, sort_keys=True))


@warm_up
def _models() -> Iterator[None]:
    """The models the tests scan (about 0.1 s), built while the fork server starts."""
    for key, cases in (("q4 find", FIND_CASES), ("q4 blocks", BLOCKS_CASES), ("q4 blocks custom", CUSTOM_CASES)):
        for seed in drawn_cases(key, SEED, **cases):
            model_of(case_model(seed))
            yield
    for model in (SHARED, *(name for name, _, _ in DIFFUSERS)):
        model_of(model)
        yield


def expected_convs(model, *, every_name: bool = False) -> list[tuple[str, nn.Module]]:
    """The Conv2d modules as named_modules() lists them; with ``every_name``, a module registered
    under several names once per name (the other reading of "every nn.Conv2d", also accepted)."""
    return [(n, m) for n, m in model_of(model).named_modules(remove_duplicate=not every_name)
            if isinstance(m, nn.Conv2d)]


def expected_in_blocks(model, attr: str) -> tuple[list[str], set[str]]:
    """(the Conv2d names strictly inside model.<attr>, the names either reading accepts)."""
    names = [n for n, _ in expected_convs(model)]
    inside = [n for n in names if n.startswith(attr + ".")]
    return inside, set(inside) | ({attr} if attr in names else set())


def _same_weights(got: TensorValue, module: nn.Module) -> bool:
    w = module.weight.detach().numpy()
    return got.values is not None and got.values.shape == w.shape and np.array_equal(got.values, w)


def _check_find(runner, model, where: str) -> None:
    res = runner.call("find_conv2d", model=model)
    if not isinstance(res, list):
        raise Fail(f"find_conv2d returned {type_name(res)} for {where}; the task asks for a list of (name, module) pairs")
    items = res
    _too_many(len(items), model, "find_conv2d", where)
    expected = expected_convs(model)
    by_name = dict(expected_convs(model, every_name=True))
    names = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not ({"item"} <= set(it) or {"name", "module", "weight"} <= set(it)):
            raise Fail(f"find_conv2d's answer for {where} could not be read")
        if "item" in it:
            raise Fail(f"find_conv2d's item {i} is {type_name(it['item'])} for {where}, expected a (name, module) pair")
        if not isinstance(it["name"], str):
            raise Fail(f"find_conv2d's item {i} has a name that is {type_name(it['name'])} for {where}, expected a str")
        names.append(it["name"])
    exp_names = [n for n, _ in expected]
    every = [n for n, _ in expected_convs(model, every_name=True)]
    if names == every and every != exp_names:  # each shared module under each of its names: accepted
        exp_names = every
    got, wanted = set(names), set(exp_names)
    missing = [n for n in exp_names if n not in got]
    extra = [n for n in names if n not in wanted]
    if missing or extra:
        miss = ", ".join(f"{n!r} ({type(by_name[n]).__name__})" for n in missing[:6]) or "none"
        raise Fail(f"find_conv2d on {where} found {len(names)} module(s), expected {len(expected)}: missing {miss}; "
                   f"unexpected {extra[:6] or 'none'}")
    if names != exp_names:
        raise Fail(f"find_conv2d on {where} lists the right modules in the wrong order: got {names[:8]}, "
                   f"expected named_modules() order {exp_names[:8]}")
    for it in items:
        module, weight = it["module"], it["weight"]
        if not isinstance(weight, TensorValue) or not _same_weights(weight, by_name[it["name"]]):
            shown = module.type if isinstance(module, Opaque) else type_name(module)
            raise Fail(f"find_conv2d on {where} pairs {it['name']!r} with {shown}, expected the model's own "
                       f"{type(by_name[it['name']]).__name__} at that name")


def _too_many(n: int, model, call: str, where: str) -> None:
    """An answer far longer than the model has modules is refused before it is looked at: every check
    here stays linear in what the model holds, whatever length the student returned."""
    limit = 4 * sum(1 for _ in model_of(model).named_modules(remove_duplicate=False)) + 64
    if n > limit:
        raise Fail(f"{call} on {where} returned {n:,} items; the model has only {limit // 4 - 16:,} modules")


def _check_blocks(runner, model, blocks_attr: str | None, where: str) -> None:
    attr = "transformer_blocks" if blocks_attr is None else blocks_attr
    call = "convs_in_blocks(model)" if blocks_attr is None else f"convs_in_blocks(model, {blocks_attr!r})"
    res = runner.call("convs_in_blocks", model=model, blocks_attr=blocks_attr)
    items = items_of(res, call, where, expected="a list of names")
    _too_many(len(items), model, call, where)
    for it in items:
        if isinstance(it, tuple) and it and isinstance(it[0], str):
            raise Fail(f"{call} on {where} returned (name, module) pairs; expected only the names (str)")
        if not isinstance(it, str):
            raise Fail(f"{call} on {where} returned a list containing {type_name(it)}; expected names (str)")
    inside, accepted = expected_in_blocks(model, attr)
    counts = collections.Counter(items)
    if len(items) != len(counts) or not (set(inside) <= counts.keys() <= accepted):
        missing = [n for n in inside if n not in counts]
        extra = heapq.nsmallest(6, (n for n in counts if n not in accepted))
        dup = heapq.nsmallest(6, (n for n, c in counts.items() if c > 1))
        raise Fail(f"{call} on {where} returned {len(items)} name(s), expected {len(inside)} (the Conv2d "
                   f"modules inside model.{attr}): missing {missing[:6] or 'none'}; unexpected {fmt_names(extra) if extra else 'none'}"
                   + (f"; listed twice: {dup}" if dup else ""))


@hidden_test("q4 find_conv2d finds every Conv2d (subclasses too) at any depth, in named_modules() order", weight=2.5)
def test_find_conv2d(runner) -> None:
    def check(seed):
        model = case_model(seed)
        _check_find(runner, model, DECOY_WHERE if seed < 0 else f"a randomly nested model (model seed {seed})")

    run_cases("q4 find", SEED, check, **FIND_CASES)


# One Conv2d registered under two names: named_modules() visits it once, under its first name; a
# walk that lists it under both names reads "every nn.Conv2d" the other way, and passes too.
SHARED = {"kind": "Module", "children": [
    ["stem", _conv("Conv2d", 3, 4, 3)],
    ["blocks", {"kind": "ModuleList", "children": [_mod(("conv", _conv("Conv2d", 4, 4, 1))),
                                                   {"kind": "Shared", "path": "stem"}]}],
    ["head", _conv("Conv2d", 4, 2, 1)],
]}


@hidden_test("q4 find_conv2d on a model where one Conv2d is registered under two names", weight=1)
def test_find_conv2d_shared(runner) -> None:
    _check_find(runner, SHARED, "a model whose 'stem' Conv2d is also registered as 'blocks.1' (one module, "
                                "shared)")


@hidden_test("q4 find_conv2d on diffusers' tiny DiT, U-Net and VAE", weight=1.5)
def test_find_conv2d_diffusers(runner) -> None:
    for name, where, _ in DIFFUSERS:
        _check_find(runner, name, where)


@hidden_test("q4 convs_in_blocks lists exactly the Conv2d modules inside model.transformer_blocks", weight=2)
def test_convs_in_blocks(runner) -> None:
    def check(seed):
        model = case_model(seed)
        _check_blocks(runner, model, None, DECOY_WHERE if seed < 0 else f"a randomly nested model (model seed {seed})")

    run_cases("q4 blocks", SEED, check, **BLOCKS_CASES)


@hidden_test("q4 convs_in_blocks honours a custom blocks_attr", weight=1)
def test_convs_in_blocks_custom(runner) -> None:
    for attr in ("layers", "transformer", "stem", "encoder"):
        _check_blocks(runner, DECOY, attr, DECOY_WHERE)

    def check(seed):
        model = random_model(seed)
        attrs = [n for n, _ in model["children"] if n != "transformer_blocks"]
        _check_blocks(runner, model, attrs[seed % len(attrs)], f"a randomly nested model (model seed {seed})")

    run_cases("q4 blocks custom", SEED, check, **CUSTOM_CASES)


@hidden_test("q4 convs_in_blocks on diffusers' tiny DiT, U-Net and VAE, for each of their containers", weight=1)
def test_convs_in_blocks_diffusers(runner) -> None:
    for name, where, attrs in DIFFUSERS:
        for attr in attrs:
            _check_blocks(runner, name, attr if attr != "transformer_blocks" else None, where)
