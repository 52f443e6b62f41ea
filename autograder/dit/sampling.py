"""q5's GPU job: sample DiT-XL/2 with the student's ``generate`` and check the images.

Where the pipeline comes from (``resolve_source``), in order:

1. an explicit directory: the ``path`` argument or the ``DITGRADE_DIT_PATH`` environment variable
   (a ``save_pretrained`` folder with ``model_index.json``); a wrong explicit path is an error;
2. the local Hugging Face cache of ``facebook/DiT-XL-2-256`` (``local_files_only``, with
   ``HF_HUB_OFFLINE=1``: nothing is ever downloaded);
3. otherwise DiT-XL/2 + the sd-vae-ft-ema VAE built from config with random weights
   (``pipelines.dit_xl2_pipeline``). The job then still does the real model's compute (same
   shapes, same FLOPs, same memory), and the checks that need the pretrained weights are skipped
   with a reason.

Every pipeline runs in eval mode with a DDIM scheduler. ``weights`` is ``real`` only for
DiT-XL/2 loaded from files (749,826,464 transformer parameters); anything else (the tiny CPU
pipeline, the config-built XL/2) is ``random``.

The job (``JobConfig``): the student's ``generate`` on classes 207, 88, 980, 279 at guidance
1.0, 4.0 and 7.5, a short DDIM schedule (20 steps), float16 on CUDA. The checks:

* format: ``[N, 256, 256, 3]`` ``uint8`` (the pipeline's size: 16x16 for the tiny one), finite,
  no constant image;
* reproducibility: the same seed gives the same images (``same_images``), another seed, other
  classes and another guidance scale give different ones, image by image;
* agreement with ``DiTPipeline`` called directly (``compare_to_pipeline``): the student's images
  must be the pipeline's ``255 * image`` rounded, or truncated (the notebook does not say which;
  either, used throughout), except at most 0.1% of the values (at least one), which may be off by
  up to 2 levels: room for float16 kernel nondeterminism across processes, never enough for
  another seed, class, scale or number of steps (the tiny CPU pipeline, the least sensitive,
  changes several % of its values for one step more).
* with the pretrained weights only (``real_weight_problems``): each image's grey-level contrast
  and colour means in a sane range, and mean HSV saturation rising with the guidance scale. These
  ranges were set from general knowledge of ImageNet-like images, not yet measured on DiT-XL/2's
  output, which is why their hidden test is a 0-point sanity check of the setup, not of the student.

``same_images`` is exact on the CPU; on CUDA it allows the same 0.1% of values off by up to 2
levels. "Different" means "not the same" by that rule. Elapsed time and peak GPU memory
(``torch.cuda.max_memory_allocated``, weights included) are measured around the student's call.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DDIMScheduler, DiTPipeline

# Imported here, not where used: the sandboxed worker loads the pipeline after the grading
# package has been scrubbed from sys.modules and hidden from its file system.
from . import pipelines

REPO_ID = "facebook/DiT-XL-2-256"
XL2_TRANSFORMER_PARAMS = 749_826_464
CLASSES = (207, 88, 980, 279)  # golden retriever, macaw, volcano, arctic fox
OTHER_CLASSES = (1, 309, 417, 948)  # goldfish, bee, balloon, Granny Smith
GUIDANCE_SCALES = (1.0, 4.0, 7.5)
SEED, OTHER_SEED = 42, 43
DEFAULT_STEPS = 20

NO_CUDA_REASON = "no CUDA device: the DiT-XL/2 sampling job needs a GPU; Gradescope grades q5's CPU part only"
RANDOM_WEIGHTS_REASON = ("needs the pretrained DiT-XL/2 weights (set DITGRADE_DIT_PATH or cache "
                         f"{REPO_ID}); this run used {{model}} with random weights")

# Tolerances (see the module docstring).
OFF_FRACTION = 1e-3  # at most this fraction of the values (and at least one) may be off
MATCH_MAX_OFF = 2  # levels, for the few values allowed off DiTPipeline's
SAME_MAX_OFF = 2  # levels, CUDA only
# Sanity ranges for DiT-XL/2 images with the pretrained weights (grey levels 0-255, saturation 0-1).
CONTRAST_RANGE = (12.0, 110.0)  # per-image std of the grey levels
CHANNEL_MEAN_RANGE = (15.0, 240.0)  # per-image mean of each of R, G, B
SATURATION_SLACK = 0.01  # each step up in guidance may lower the mean saturation by at most this
SATURATION_RISE = 0.02  # from the lowest to the highest guidance the mean saturation must rise by this

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def _offline() -> None:
    # huggingface_hub reads this when first imported; local_files_only=True covers the rest.
    os.environ["HF_HUB_OFFLINE"] = "1"


def torch_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype):
        return name
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; use one of {sorted(_DTYPES)}") from None


def _is_pipeline_dir(path: Path) -> bool:
    return (path / "model_index.json").is_file()


def find_dit_pipeline_path(path: str | os.PathLike | None = None, *,
                           cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder of a DiT pipeline on this machine, or None when there is none.

    ``path`` (else ``$DITGRADE_DIT_PATH``) must be a pipeline folder: a wrong explicit path raises
    FileNotFoundError rather than silently falling back to random weights. Without one, the local
    Hugging Face cache (``cache_dir``, default the usual one) is used when it holds a snapshot of
    facebook/DiT-XL-2-256 with its ``model_index.json``.
    """
    explicit = path if path is not None else os.environ.get("DITGRADE_DIT_PATH") or None
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not _is_pipeline_dir(p):
            raise FileNotFoundError(f"DiT pipeline path {str(p)!r} has no model_index.json")
        return p
    _offline()
    try:
        from huggingface_hub import snapshot_download

        snap = Path(snapshot_download(REPO_ID, local_files_only=True, cache_dir=cache_dir))
    except Exception:  # not cached (LocalEntryNotFoundError and friends), or no huggingface_hub
        return None
    return snap if _is_pipeline_dir(snap) else None


def resolve_source(source: str = "auto") -> str:
    """Turn ``auto`` into a concrete source: a pipeline folder, or ``random-xl2``.

    Other sources pass through: a folder, ``random-xl2`` (config-built DiT-XL/2) or ``tiny``
    (``pipelines.tiny_dit_pipeline(0)``). The grader resolves once and hands the result to the
    student's process, so both sample with the same weights.
    """
    if source != "auto":
        return source
    found = find_dit_pipeline_path()
    return str(found) if found is not None else "random-xl2"


@dataclass
class LoadedPipeline:
    pipe: Any  # diffusers.DiTPipeline
    source: str
    model: str  # dit-xl2 | tiny | other
    weights: str  # real | random
    device: str
    dtype: str
    load_seconds: float

    @property
    def image_size(self) -> int:
        return int(self.pipe.transformer.config.sample_size) * 2 ** (len(self.pipe.vae.config.block_out_channels) - 1)


_PIPELINES: dict[tuple[str, str, str], LoadedPipeline] = {}


def clear_cache() -> None:
    """Forget the loaded pipelines (and free their memory once nothing else holds them)."""
    _PIPELINES.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_pipeline(source: str, dtype: str = "float16", device: str = "cuda") -> LoadedPipeline:
    """The DiT pipeline for ``source`` (see ``resolve_source``) on ``device`` in ``dtype``, cached.

    Files are read with ``DiTPipeline.from_pretrained(..., local_files_only=True)``. The scheduler
    is DDIM (the checkpoint's own, or rebuilt from its config), everything in eval mode, no
    progress bar.
    """
    source = resolve_source(source)
    key = (source, dtype, str(device))
    if key in _PIPELINES:
        return _PIPELINES[key]
    _offline()
    start = time.perf_counter()
    dt = torch_dtype(dtype)
    if source == "random-xl2":
        pipe, from_files = pipelines.dit_xl2_pipeline(dt, device), False
    elif source == "tiny":
        pipe, from_files = pipelines.tiny_dit_pipeline(0).to(device=device, dtype=dt), False
    else:
        if not _is_pipeline_dir(Path(source)):
            raise FileNotFoundError(f"DiT pipeline path {source!r} has no model_index.json")
        pipe = DiTPipeline.from_pretrained(source, local_files_only=True, dtype=dt).to(device)
        from_files = True
    if not isinstance(pipe.scheduler, DDIMScheduler):
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.transformer.eval()
    pipe.vae.eval()
    pipe.set_progress_bar_config(disable=True)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    n_params = sum(p.numel() for p in pipe.transformer.parameters())
    model = "dit-xl2" if n_params == XL2_TRANSFORMER_PARAMS else ("tiny" if n_params < 1_000_000 else "other")
    loaded = LoadedPipeline(pipe, source, model, "real" if from_files and model == "dit-xl2" else "random",
                            str(device), dtype, time.perf_counter() - start)
    _PIPELINES[key] = loaded
    return loaded


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _gib(n_bytes: int) -> float:
    return n_bytes / 2**30


def run_student_generate(generate, *, source: str, class_labels, guidance_scale: float, steps: int, seed: int,
                         dtype: str = "float16", device: str = "cuda") -> dict:
    """In the student's process: their ``generate(pipe, ...)`` on the cached pipeline, timed.

    Returns ``{"images": <what generate returned, untouched>, "seconds", "peak_gib", "weights",
    "model"}``; the grader reads the images' type off the value itself. ``peak_gib`` (CUDA only, else -1.0) is ``torch.cuda.max_memory_allocated``
    during the call, the resident weights included.
    """
    loaded = load_pipeline(source, dtype, device)
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    images = generate(loaded.pipe, list(class_labels), guidance_scale=guidance_scale,
                      num_inference_steps=steps, seed=seed)
    _sync(device)
    seconds = time.perf_counter() - start
    peak = _gib(torch.cuda.max_memory_allocated(device)) if cuda else -1.0
    return {"images": images, "seconds": seconds, "peak_gib": peak, "weights": loaded.weights, "model": loaded.model}


def pipeline_images(loaded: LoadedPipeline, class_labels, guidance_scale: float, steps: int,
                    seed: int) -> tuple[np.ndarray, float]:
    """DiTPipeline's own output in [0, 1] (float32 [N, H, W, 3]) for a CPU generator seeded with
    ``seed``, and the seconds it took."""
    _sync(loaded.device)
    start = time.perf_counter()
    out = loaded.pipe(class_labels=list(class_labels), guidance_scale=guidance_scale, num_inference_steps=steps,
                      generator=torch.Generator(device="cpu").manual_seed(seed), output_type="np")
    _sync(loaded.device)
    return np.asarray(out.images, dtype=np.float32), time.perf_counter() - start


@dataclass(frozen=True)
class JobConfig:
    """What the GPU job samples, where and how; ``from_env`` reads the DITGRADE_* variables."""

    source: str = "auto"
    device: str = "cuda"
    dtype: str = "float16"
    steps: int = DEFAULT_STEPS
    classes: tuple[int, ...] = CLASSES
    other_classes: tuple[int, ...] = OTHER_CLASSES
    guidance_scales: tuple[float, ...] = GUIDANCE_SCALES
    seed: int = SEED
    other_seed: int = OTHER_SEED

    @classmethod
    def from_env(cls) -> JobConfig:
        """DITGRADE_DIT_PATH (source), DITGRADE_GPU_DEVICE (cuda), DITGRADE_GPU_DTYPE (float16 on
        CUDA, float32 elsewhere), DITGRADE_GPU_STEPS (20)."""
        device = os.environ.get("DITGRADE_GPU_DEVICE", "cuda")
        default_dtype = "float16" if torch.device(device).type == "cuda" else "float32"
        return cls(source=os.environ.get("DITGRADE_DIT_PATH") or "auto", device=device,
                   dtype=os.environ.get("DITGRADE_GPU_DTYPE", default_dtype),
                   steps=int(os.environ.get("DITGRADE_GPU_STEPS", DEFAULT_STEPS)))

    def resolved(self) -> JobConfig:
        return replace(self, source=resolve_source(self.source))

    @property
    def exact(self) -> bool:
        """Reproducibility is checked bit for bit off CUDA."""
        return torch.device(self.device).type != "cuda"

    def describe(self) -> str:
        return f"device={self.device} dtype={self.dtype} steps={self.steps} source={self.source}"


# ---- checks: each returns a list of problems (empty = fine) or a (bool, detail) pair ----

def image_format_problems(images: Any, n: int, size: int) -> list[str]:
    """Shape [n, size, size, 3], dtype uint8, finite, no constant image (``images`` as decoded)."""
    if not isinstance(images, np.ndarray):
        kind = "a torch.Tensor" if hasattr(images, "requires_grad") else getattr(images, "type", type(images).__name__)
        return [f"generate should return a numpy array, got {kind}"]
    problems = []
    if images.shape != (n, size, size, 3):
        problems.append(f"expected shape ({n}, {size}, {size}, 3) for {n} class labels, got {images.shape}")
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        problems.append("the images contain NaN or infinite values")
    if images.dtype != np.uint8:
        problems.append(f"expected dtype uint8 (values 0-255), got {images.dtype}")
    if not problems:
        flat = [i for i, im in enumerate(images) if int(im.max()) == int(im.min())]
        if flat:
            problems.append(f"image(s) {flat} are a single constant colour")
    return problems


def _allowance(size: int) -> int:
    return max(1, math.floor(OFF_FRACTION * size))


def same_images(a: np.ndarray, b: np.ndarray, exact: bool) -> tuple[bool, str]:
    """Whether two uint8 batches are the same: bit for bit when ``exact``, else all but 0.1% of
    the values (at least one) equal and none off by more than 2 levels."""
    if a.shape != b.shape:
        return False, f"shapes differ: {a.shape} vs {b.shape}"
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    n_off, max_off = int((diff > 0).sum()), int(diff.max(initial=0))
    if n_off == 0:
        return True, "bit-identical"
    detail = f"{n_off} of {diff.size} values differ (max {max_off} levels)"
    if exact:
        return False, detail
    return n_off <= _allowance(diff.size) and max_off <= SAME_MAX_OFF, detail


def images_not_distinct(a: np.ndarray, b: np.ndarray, exact: bool) -> list[int]:
    """Indices i where a[i] and b[i] are the same image (by ``same_images``)."""
    return [i for i in range(min(len(a), len(b))) if same_images(a[i], b[i], exact)[0]]


def compare_to_pipeline(images: np.ndarray, reference: np.ndarray) -> tuple[bool, str]:
    """Whether the student's uint8 images are DiTPipeline's float images converted to uint8.

    Either conversion counts, as long as it is used throughout: ``255 * x`` rounded (what
    ``numpy_to_pil`` does) or truncated (``astype(np.uint8)``), computed in float32 (the pipeline's
    numpy output) or in float16 (its ``output_type="pt"`` tensors under float16, converted as they
    are). At most 0.1% of the values (at least one) may then be off, by up to 2 levels.
    """
    if images.shape != reference.shape:
        return False, f"shape {images.shape}, DiTPipeline gives {reference.shape}"
    scaled = reference.astype(np.float32) * np.float32(255)
    half = (reference.astype(np.float16) * np.float16(255)).astype(np.float32)
    details = []
    for name, conv in (("rounded", np.round(scaled)), ("truncated", np.floor(scaled)),
                       ("rounded in float16", np.round(half)), ("truncated in float16", np.floor(half))):
        diff = np.abs(images.astype(np.int16) - np.clip(conv, 0, 255).astype(np.int16))
        n_off, max_off = int((diff > 0).sum()), int(diff.max(initial=0))
        if n_off == 0:
            return True, f"equal to DiTPipeline's images {name} to uint8"
        if n_off <= _allowance(diff.size) and max_off <= MATCH_MAX_OFF:
            return True, f"DiTPipeline's images {name} to uint8, but for {n_off} values (max {max_off} levels)"
        details.append(f"{n_off} of {diff.size} values differ from DiTPipeline's {name} images (max {max_off} levels)")
    return False, "; ".join(details)


def grey(images: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of uint8 RGB images, float [N, H, W] in 0-255."""
    x = images.astype(np.float64)
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def contrast(images: np.ndarray) -> np.ndarray:
    """Per-image standard deviation of the grey levels."""
    return grey(images).reshape(len(images), -1).std(axis=1)


def channel_means(images: np.ndarray) -> np.ndarray:
    """Per-image mean of R, G, B: [N, 3] in 0-255."""
    return images.astype(np.float64).reshape(len(images), -1, 3).mean(axis=1)


def mean_saturation(images: np.ndarray) -> float:
    """Mean HSV saturation (max - min) / max over every pixel, 0-1 (0 where max is 0)."""
    x = images.astype(np.float64)
    hi, lo = x.max(axis=-1), x.min(axis=-1)
    sat = np.divide(hi - lo, hi, out=np.zeros_like(hi), where=hi > 0)
    return float(sat.mean())


def real_weight_problems(by_scale: dict[float, np.ndarray]) -> tuple[list[str], dict[str, Any]]:
    """Sanity checks of DiT-XL/2 images made with the pretrained weights, and the statistics."""
    problems: list[str] = []
    stats: dict[str, Any] = {}
    for scale, images in sorted(by_scale.items()):
        c, m = contrast(images), channel_means(images)
        stats[f"contrast@{scale}"] = [round(float(v), 1) for v in c]
        stats[f"channel_means@{scale}"] = [[round(float(v), 1) for v in row] for row in m]
        for i, v in enumerate(c):
            if not CONTRAST_RANGE[0] <= v <= CONTRAST_RANGE[1]:
                problems.append(f"guidance {scale}, image {i}: grey-level std {v:.1f} outside {CONTRAST_RANGE}")
        for i, row in enumerate(m):
            if not all(CHANNEL_MEAN_RANGE[0] <= v <= CHANNEL_MEAN_RANGE[1] for v in row):
                problems.append(f"guidance {scale}, image {i}: RGB means {np.round(row, 1).tolist()} "
                                f"outside {CHANNEL_MEAN_RANGE}")
    scales = sorted(by_scale)
    sats = [mean_saturation(by_scale[s]) for s in scales]
    stats["saturation"] = {s: round(v, 4) for s, v in zip(scales, sats, strict=True)}
    for (s0, v0), (s1, v1) in zip(zip(scales, sats, strict=True), zip(scales[1:], sats[1:], strict=True),
                                  strict=False):
        if v1 < v0 - SATURATION_SLACK:
            problems.append(f"mean saturation fell from {v0:.3f} at guidance {s0} to {v1:.3f} at {s1}")
    if len(sats) > 1 and sats[-1] < sats[0] + SATURATION_RISE:
        problems.append(f"mean saturation did not rise with guidance: {sats[0]:.3f} at {scales[0]}, "
                        f"{sats[-1]:.3f} at {scales[-1]}")
    return problems, stats
