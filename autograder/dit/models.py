"""Trusted module trees for q3 and q4, built from plain data in both processes.

The grader sends a *spec* (plain data); the student's process builds the model from it
(``dit.probes``) and the grader builds the identical model itself to compute what the student's
function should return. Built on the CPU from a fixed seed, both copies have the same weights, so a
module the student returns is recognised by its weights, not by what the student's process says
it is.

A leaf is ``{"kind": <LEAVES key>, "args": [...], "kwargs": {...}, "frozen": bool}``; containers are
``{"kind": "Module" | "ModuleDict", "children": [[name, spec], ...]}`` and ``{"kind": "Sequential" |
"ModuleList", "children": [spec, ...]}``; a name is also a model: ``"tiny_dit"``, ``"tiny_unet"``,
``"tiny_vae"`` (diffusers' own modules, configured small).
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn


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


def _lora_conv(*args: Any, **kwargs: Any) -> nn.Module:
    from diffusers.models.lora import LoRACompatibleConv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LoRACompatibleConv(*args, **kwargs)


LEAVES: dict[str, Callable[..., nn.Module]] = {
    "Conv2d": nn.Conv2d, "ScaledConv2d": ScaledConv2d, "AdapterConv2d": AdapterConv2d, "LoRAConv": _lora_conv,
    "Conv1d": nn.Conv1d, "Conv3d": nn.Conv3d, "ConvTranspose2d": nn.ConvTranspose2d,
    "Linear": nn.Linear, "LayerNorm": nn.LayerNorm, "GroupNorm": nn.GroupNorm, "BatchNorm2d": nn.BatchNorm2d,
    "Embedding": nn.Embedding, "SiLU": nn.SiLU, "GELU": nn.GELU, "Dropout": nn.Dropout, "Identity": nn.Identity,
}

TINY_DIT_CONFIG = dict(num_attention_heads=2, attention_head_dim=4, in_channels=4, out_channels=8, num_layers=2,
                       sample_size=8, patch_size=2, num_embeds_ada_norm=10)
TINY_UNET_CONFIG = dict(
    sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=8, attention_head_dim=2, norm_num_groups=4,
)
TINY_VAE_CONFIG = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                       down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                       layers_per_block=1, norm_num_groups=4, sample_size=16)


def build_tree(spec: Any, root: nn.Module | None = None) -> nn.Module:
    """A module tree from a spec (see the module docstring). ``{"kind": "Shared", "path": "a.b"}``
    is the module already built at that path of the tree: one module registered under two names."""
    kind = spec["kind"]
    if kind == "Shared":
        return root.get_submodule(spec["path"])
    if kind in LEAVES:
        module = LEAVES[kind](*spec.get("args", []), **spec.get("kwargs", {}))
        if spec.get("frozen"):
            module.requires_grad_(False)
        return module
    if kind in ("Module", "ModuleDict", "Sequential", "ModuleList"):
        m = {"Module": Container, "ModuleDict": nn.ModuleDict, "Sequential": nn.Sequential,
             "ModuleList": nn.ModuleList}[kind]()
        root = m if root is None else root
        for i, child in enumerate(spec["children"]):
            name, child = (child if kind in ("Module", "ModuleDict") else (str(i), child))
            m.add_module(name, build_tree(child, root))
        return m
    raise ValueError(f"unknown module kind {kind!r}")


def _named_model(name: str) -> nn.Module:
    from diffusers import AutoencoderKL, DiTTransformer2DModel, UNet2DConditionModel

    if name == "tiny_dit":
        return DiTTransformer2DModel(**TINY_DIT_CONFIG)
    if name == "tiny_unet":
        return UNet2DConditionModel(**TINY_UNET_CONFIG)
    if name == "tiny_vae":
        return AutoencoderKL(**TINY_VAE_CONFIG)
    raise ValueError(f"unknown model {name!r}")


def _build(model: Any, meta: bool, seed: int) -> nn.Module:
    make = (lambda: _named_model(model)) if isinstance(model, str) else (lambda: build_tree(model))
    if meta:
        with torch.device("meta"):
            return make()
    with torch.random.fork_rng(devices=[]):
        # Only the CPU generator, which is all a CPU build draws from: torch.manual_seed would also
        # queue a seed for every accelerator not yet started (0.3 ms of traceback.format_stack a
        # build, 40 builds a grade) and leave it queued after fork_rng has restored the CPU's state.
        torch.default_generator.manual_seed(seed)
        return make().eval()


_TEMPLATES: dict[tuple[str, bool, int], nn.Module] = {}
MAX_TEMPLATES = 256


def build_model(model: Any, *, meta: bool = False, seed: int = 0, shared: bool = False) -> nn.Module:
    """A trusted model from a spec or a name: on the meta device, or on the CPU with weights drawn
    from ``seed`` (the same in every process). Each call gets its own model: a named one is a copy of
    one built once per process (diffusers' constructors are most of a grade's time; ``warm`` builds
    them in the fork server before any worker is forked, so that every worker shares them), a
    spec's tree is built anew. ``shared``: the model built once, for a caller that only reads it
    (the grader's expected values), no copy."""
    if not shared and not isinstance(model, str):
        # Building a spec's small tree takes no longer than copying it (about 5 ms in the sandbox),
        # and most specs are used once per grade: a build and a copy there, one build now.
        return _build(model, meta, seed)
    key = (json.dumps(model, sort_keys=True), meta, seed)
    template = _TEMPLATES.get(key)
    if template is None:
        template = _build(model, meta, seed)
        if len(_TEMPLATES) < MAX_TEMPLATES:
            _TEMPLATES[key] = template
        else:
            return template
    return template if shared else copy_of(key, template)


def copy_of(key: Any, template: Any) -> Any:
    """A copy of ``template`` for one caller: a spare made for ``key`` in the fork server when one
    is left, else a deep copy."""
    spares = _SPARES.get(key)
    return spares.pop() if spares else copy.deepcopy(template)


def add_spares(key: Any, template: Any, n: int) -> None:
    """Make ``n`` spare copies of ``template`` for ``copy_of(key, ...)`` (the fork server's warm-up)."""
    _SPARES[key] = [copy.deepcopy(template) for _ in range(n)]


# Copies made by ``make_spares`` in the fork server, before any worker is forked: a worker takes one
# instead of copying (a copy of the tiny U-Net costs 20-40 ms inside the sandbox, where every id()
# that deepcopy calls goes through the audit hook). Each worker inherits the whole list and takes
# from its own copy of it, so what one student does to a model never reaches another call's.
_SPARES: dict[Any, list[Any]] = {}
SPARES_PER_MODEL = {False: 2, True: 6}  # about what one grade takes (meta copies hold no weights)


def warm() -> None:
    """Build diffusers' tiny models once, on the CPU and on the meta device (a hooks.py warm-up)."""
    for name in ("tiny_dit", "tiny_unet", "tiny_vae"):
        for meta in (False, True):
            build_model(name, meta=meta, shared=True)


def make_spares() -> None:
    """A few copies of each tiny model for the workers to take (the fork server's warm-up only)."""
    warm()
    for key, template in list(_TEMPLATES.items()):
        add_spares(key, template, SPARES_PER_MODEL[key[1]])
