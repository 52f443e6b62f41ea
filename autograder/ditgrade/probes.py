"""Probes: grader-written operations that run student code and return plain data.

A probe runs in the student's (sandboxed) process, on the student's namespace ``ns``. It takes
plain inputs (numpy arrays, numbers, strings, lists/dicts of these) from the grader, calls student
code, and returns plain data (arrays, tensors, numbers, strings) that ``ditgrade.codec`` can
encode. A probe never judges: expected values exist only in the grader's process.

Results whose type is up to the student go through ``describe``, which reports the type name
next to the data, so that a hidden test can say "patchify returned a list, expected a
torch.Tensor" instead of failing on a value it cannot read.

Trusted objects (module trees from a plain spec, tiny diffusers models, the tiny pipeline) are
built here from plain data by ``build_tree`` and friends; the grader builds the same objects from
the same data to compute its expected values.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from .student import get_student

PROBES: dict[str, Callable[..., Any]] = {}


def probe(fn: Callable[..., Any]) -> Callable[..., Any]:
    PROBES[fn.__name__] = fn
    return fn


def _tensor(a: Any) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True))


# ---------------------------------------------------------------------------------------------
# Describing values of student-chosen type
# ---------------------------------------------------------------------------------------------

_WIRE_DTYPES = {torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
                torch.bfloat16, torch.float32, torch.float64}
_MAX_ITEMS = 256
_MAX_ELEMENTS = 4_000_000


def describe(x: Any, depth: int = 0) -> dict:
    """``{"type": name, "value": data}`` for tensors, arrays and scalars; ``{"type", "items"}`` for
    lists/tuples; ``{"type", "value": None}`` for anything else. Never raises for odd values."""
    try:
        typ = type(x).__name__
        if isinstance(x, torch.Tensor):
            with torch._C.DisableTorchFunctionSubclass():
                dtype, shape, dev = x.dtype, tuple(torch.Tensor.size(x)), x.device.type
            out = {"type": "Parameter" if isinstance(x, nn.Parameter) else "Tensor",
                   "dtype": str(dtype).removeprefix("torch."), "shape": list(shape), "device": dev}
            if dev == "meta":
                out["value"], out["note"] = None, "it lives on the meta device (no data)"
            elif dtype not in _WIRE_DTYPES:
                out["value"], out["note"] = None, f"dtype {out['dtype']} is not supported"
            elif int(np.prod(shape)) > _MAX_ELEMENTS:
                out["value"], out["note"] = None, f"it has {int(np.prod(shape)):,} elements"
            else:
                out["value"] = x
            return out
        if isinstance(x, np.ndarray):
            ok = x.dtype.kind in "biuf" and x.size <= _MAX_ELEMENTS
            return {"type": "ndarray", "dtype": str(x.dtype), "shape": list(x.shape), "value": x if ok else None}
        if isinstance(x, np.generic):
            return {"type": typ, "value": np.asarray(x) if np.asarray(x).dtype.kind in "biuf" else None}
        if x is None or isinstance(x, (bool, int, float)):
            return {"type": typ, "value": x if type(x) in (bool, int, float, type(None)) else _plain_number(x)}
        if isinstance(x, str):
            return {"type": typ, "value": str.__str__(x)[:1000]}
        if isinstance(x, (list, tuple)) and depth < 4:
            items = [describe(i, depth + 1) for i in list(x)[:_MAX_ITEMS]]
            return {"type": "tuple" if isinstance(x, tuple) else "list", "items": items, "len": len(x)}
        return {"type": typ, "value": None}
    except Exception as e:  # a hostile object whose attributes raise
        return {"type": "unreadable", "value": None, "note": type(e).__name__}


def _plain_number(x: Any) -> Any:
    for t in (bool, int, float):
        if isinstance(x, t):
            return t(x)
    return None


def _listify(out: Any) -> Any:
    """Lists/tuples stay; a generator or map is drained (bounded) so its items can be described."""
    if isinstance(out, (types.GeneratorType, map, filter, zip)):
        items = []
        for i, item in enumerate(out):
            if i >= _MAX_ITEMS:
                break
            items.append(item)
        return items
    return out


# ---------------------------------------------------------------------------------------------
# Trusted objects built from plain specs (the grader builds the same ones)
# ---------------------------------------------------------------------------------------------


class ScaledConv2d(nn.Conv2d):
    """A Conv2d subclass with an extra parameter (like LoRA-style wrappers)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.scale = nn.Parameter(torch.ones(1))


class AdapterConv2d(nn.Conv2d):
    """A Conv2d subclass that owns another Conv2d as a child module."""

    def __init__(self, in_ch: int, out_ch: int, k: int, **kwargs: Any):
        super().__init__(in_ch, out_ch, k, **kwargs)
        self.adapter = nn.Conv2d(out_ch, out_ch, 1, bias=False)


class Container(nn.Module):
    """A plain module whose children are set as attributes."""


LEAVES: dict[str, Callable[..., nn.Module]] = {
    "Conv2d": nn.Conv2d, "ScaledConv2d": ScaledConv2d, "AdapterConv2d": AdapterConv2d,
    "Conv1d": nn.Conv1d, "Conv3d": nn.Conv3d, "ConvTranspose2d": nn.ConvTranspose2d,
    "Linear": nn.Linear, "LayerNorm": nn.LayerNorm, "GroupNorm": nn.GroupNorm, "BatchNorm2d": nn.BatchNorm2d,
    "Embedding": nn.Embedding, "SiLU": nn.SiLU, "GELU": nn.GELU, "Dropout": nn.Dropout, "Identity": nn.Identity,
}


def build_tree(spec: Any) -> nn.Module:
    """A module tree from plain data.

    A leaf is ``{"kind": <LEAVES key>, "args": [...], "kwargs": {...}}``; containers are
    ``{"kind": "Module" | "ModuleDict", "children": [[name, spec], ...]}`` and
    ``{"kind": "Sequential" | "ModuleList", "children": [spec, ...]}``.
    """
    kind = spec["kind"]
    if kind in LEAVES:
        return LEAVES[kind](*spec.get("args", []), **spec.get("kwargs", {}))
    if kind == "Module":
        m = Container()
        for name, child in spec["children"]:
            m.add_module(name, build_tree(child))
        return m
    if kind == "ModuleDict":
        return nn.ModuleDict({name: build_tree(child) for name, child in spec["children"]})
    if kind == "Sequential":
        return nn.Sequential(*[build_tree(c) for c in spec["children"]])
    if kind == "ModuleList":
        return nn.ModuleList([build_tree(c) for c in spec["children"]])
    raise ValueError(f"unknown module kind {kind!r}")


TINY_DIT_CONFIG = dict(num_attention_heads=2, attention_head_dim=4, in_channels=4, out_channels=8, num_layers=2,
                       sample_size=8, patch_size=2, num_embeds_ada_norm=10)
TINY_UNET_CONFIG = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=8, attention_head_dim=2, norm_num_groups=4,
)


def build_model(model: Any) -> nn.Module:
    """A trusted model from plain data: a ``build_tree`` spec, or "tiny_dit" / "tiny_unet" (on the meta device)."""
    if isinstance(model, dict):
        with torch.device("meta"):
            return build_tree(model)
    from diffusers import DiTTransformer2DModel, UNet2DConditionModel

    with torch.device("meta"):
        if model == "tiny_dit":
            return DiTTransformer2DModel(**TINY_DIT_CONFIG)
        if model == "tiny_unet":
            return UNet2DConditionModel(**TINY_UNET_CONFIG)
    raise ValueError(f"unknown model {model!r}")


# ---------------------------------------------------------------------------------------------
# q1: patchify, unpatchify, sequence_length
# ---------------------------------------------------------------------------------------------


def _raises(fn: Callable[[], Any]) -> dict:
    """Run ``fn``; report which exception it raised (NotImplementedError propagates: it is a stub)."""
    try:
        out = fn()
    except NotImplementedError:
        raise
    except Exception as e:
        return {"raised": type(e).__name__, "is_value_error": isinstance(e, ValueError)}
    return {"raised": None, "returned": describe(out)["type"]}


@probe
def patchify(ns: dict, z: np.ndarray, p: int) -> Any:
    """The student's patchify(z, p) on a fresh tensor; also returns z as it is after the call."""
    zt = _tensor(z)
    out = get_student(ns, "patchify")(zt, p)
    return {"out": describe(out), "z_after": zt}


@probe
def patchify_error(ns: dict, shape: list, p: int) -> Any:
    f = get_student(ns, "patchify")
    return _raises(lambda: f(torch.randn(*shape), p))


@probe
def patchify_grad(ns: dict, z: np.ndarray, p: int, upstream: np.ndarray) -> Any:
    """Backpropagate ``upstream`` through the student's patchify; return z.grad."""
    zt = _tensor(z).requires_grad_(True)
    out = get_student(ns, "patchify")(zt, p)
    if not isinstance(out, torch.Tensor):
        return {"out": describe(out)}
    g = _tensor(upstream)
    if not out.requires_grad:
        return {"out": describe(out), "requires_grad": False}
    if tuple(out.shape) != tuple(g.shape):
        return {"out": describe(out), "requires_grad": True}
    out.backward(g)
    return {"out": {"type": "Tensor", "value": None}, "requires_grad": True, "grad": describe(zt.grad)}


@probe
def unpatchify(ns: dict, tokens: np.ndarray, p: int, c: int, h: int, w: int) -> Any:
    return describe(get_student(ns, "unpatchify")(_tensor(tokens), p, c, h, w))


@probe
def unpatchify_error(ns: dict, shape: list, p: int, c: int, h: int, w: int) -> Any:
    f = get_student(ns, "unpatchify")
    return _raises(lambda: f(torch.randn(*shape), p, c, h, w))


@probe
def sequence_length(ns: dict, h: int, w: int, p: int) -> Any:
    return describe(get_student(ns, "sequence_length")(h, w, p))


# ---------------------------------------------------------------------------------------------
# q2: modulate, gated_residual, AdaLNZero, DiTBlock
# ---------------------------------------------------------------------------------------------


@probe
def modulate(ns: dict, x: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> Any:
    return describe(get_student(ns, "modulate")(_tensor(x), _tensor(shift), _tensor(scale)))


@probe
def gated_residual(ns: dict, x: np.ndarray, gate: np.ndarray, out: np.ndarray) -> Any:
    return describe(get_student(ns, "gated_residual")(_tensor(x), _tensor(gate), _tensor(out)))


def _state_shapes(m: nn.Module) -> dict:
    return {str(k): [int(s) for s in v.shape] for k, v in m.state_dict().items()}


@probe
def adaln_structure(ns: dict, cond_dim: int, d_model: int) -> Any:
    """What the student's AdaLNZero(cond_dim, d_model) is made of (type names, state_dict shapes)."""
    m = get_student(ns, "AdaLNZero")(cond_dim, d_model)
    info: dict = {"is_module": isinstance(m, nn.Module), "is_sequential": isinstance(m, nn.Sequential)}
    if isinstance(m, nn.Sequential):
        layers = list(m)
        info["layers"] = [type(x).__name__ for x in layers]
        info["silu_first"] = len(layers) > 0 and isinstance(layers[0], nn.SiLU)
        info["linear_second"] = len(layers) > 1 and isinstance(layers[1], nn.Linear)
    if isinstance(m, nn.Module):
        info["state"] = _state_shapes(m)
    return info


@probe
def adaln_forward(ns: dict, cond_dim: int, d_model: int, c: np.ndarray, weight: np.ndarray | None = None,
                  bias: np.ndarray | None = None) -> Any:
    """The six outputs of AdaLNZero(cond_dim, d_model)(c): at init, or with '1.weight'/'1.bias' loaded."""
    m = get_student(ns, "AdaLNZero")(cond_dim, d_model)
    if weight is not None:
        m.load_state_dict({"1.weight": _tensor(weight), "1.bias": _tensor(bias)}, strict=True)
    with torch.no_grad():
        out = m(_tensor(c))
    return describe(_listify(out))


@probe
def block_state(ns: dict, hidden_size: int, num_heads: int) -> Any:
    return _state_shapes(get_student(ns, "DiTBlock")(hidden_size, num_heads))


@probe
def block_forward(ns: dict, hidden_size: int, num_heads: int, x: np.ndarray, c: np.ndarray,
                  state: dict | None = None) -> Any:
    """DiTBlock(hidden_size, num_heads)(x, c) at init, or after loading ``state`` (strict)."""
    block = get_student(ns, "DiTBlock")(hidden_size, num_heads)
    if state is not None:
        block.load_state_dict({k: _tensor(v) for k, v in state.items()}, strict=True)
    block.eval()
    with torch.no_grad():
        out = block(_tensor(x), _tensor(c))
    return describe(out)


# ---------------------------------------------------------------------------------------------
# q3: count_parameters, estimate_dit_params, exact_dit_params
# ---------------------------------------------------------------------------------------------


@probe
def count_parameters(ns: dict, spec: Any, meta: bool = False) -> Any:
    """count_parameters on a module tree built from ``spec`` (on the meta device when ``meta``; a
    model name such as "tiny_dit" is always built there)."""
    model = build_model(spec) if meta or isinstance(spec, str) else build_tree(spec)
    return describe(get_student(ns, "count_parameters")(model))


@probe
def estimate_dit_params(ns: dict, hidden_size: int, depth: int) -> Any:
    return describe(get_student(ns, "estimate_dit_params")(hidden_size, depth))


@probe
def exact_dit_params(ns: dict, args: list) -> Any:
    """exact_dit_params(*args): positional, so that renamed parameters still work."""
    return describe(get_student(ns, "exact_dit_params")(*args))


# ---------------------------------------------------------------------------------------------
# q4: find_conv2d, convs_in_blocks
# ---------------------------------------------------------------------------------------------


def _describe_pair(item: Any) -> dict:
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        return {"bad": describe(item)}
    name, m = item
    shape = None
    w = getattr(m, "weight", None) if isinstance(m, nn.Module) else None
    if isinstance(w, torch.Tensor):
        shape = [int(s) for s in w.shape]
    return {"name": str.__str__(name) if isinstance(name, str) else describe(name),
            "type": type(m).__name__, "is_module": isinstance(m, nn.Module), "shape": shape}


@probe
def find_conv2d(ns: dict, model: Any) -> Any:
    """The student's find_conv2d on a trusted model, as [{name, type, is_module, shape}]."""
    out = _listify(get_student(ns, "find_conv2d")(build_model(model)))
    if not isinstance(out, (list, tuple)):
        return {"type": type(out).__name__}
    return {"type": type(out).__name__, "items": [_describe_pair(i) for i in list(out)[:_MAX_ITEMS]]}


@probe
def convs_in_blocks(ns: dict, model: Any, blocks_attr: str | None = None) -> Any:
    f = get_student(ns, "convs_in_blocks")
    m = build_model(model)
    out = f(m) if blocks_attr is None else f(m, blocks_attr)
    if isinstance(out, (set, frozenset)):  # a set of names is as good as a list: order is not graded
        out = sorted(out, key=repr)
    return describe(_listify(out))


# ---------------------------------------------------------------------------------------------
# q5: cfg_combine, generate
# ---------------------------------------------------------------------------------------------


@probe
def cfg_combine(ns: dict, eps_cond: np.ndarray, eps_uncond: np.ndarray, scale: float) -> Any:
    return describe(get_student(ns, "cfg_combine")(_tensor(eps_cond), _tensor(eps_uncond), scale))


@probe
def generate(ns: dict, pipe_seed: int, class_labels: list, kwargs: dict) -> Any:
    """The student's generate on a fresh tiny DiT pipeline built from ``pipe_seed``."""
    from .pipelines import tiny_dit_pipeline

    f = get_student(ns, "generate")
    pipe = tiny_dit_pipeline(pipe_seed)
    return describe(f(pipe, list(class_labels), **kwargs))


@probe
def gpu_generate(ns: dict, source: str, class_labels: list, guidance_scale: float, steps: int, seed: int,
                 dtype: str = "float16", device: str = "cuda") -> Any:
    """q5's GPU job: the student's generate(pipe, ...) on the DiT pipeline ``source`` (a folder,
    ``random-xl2`` or ``tiny``; see ditgrade.sampling), loaded once per process and timed.

    Returns {"images": what generate returned, "type": its type name, "seconds", "peak_gib",
    "weights", "model"}.
    """
    from .sampling import run_student_generate

    return run_student_generate(get_student(ns, "generate"), source=source, class_labels=class_labels,
                                guidance_scale=guidance_scale, steps=steps, seed=seed, dtype=dtype, device=device)
