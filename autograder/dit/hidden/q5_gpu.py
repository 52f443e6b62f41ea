"""q5's GPU part: the student's ``generate`` samples DiT-XL/2 (run only with ``--gpu``).

The job and its checks live in ``dit.sampling``; what it samples comes from
``JobConfig.from_env()`` (DITGRADE_DIT_PATH, DITGRADE_GPU_DEVICE, DITGRADE_GPU_DTYPE,
DITGRADE_GPU_STEPS). The student's ``generate`` runs in their process through the
``gpu_generate`` probe; DiTPipeline's own images, which it must reproduce, are sampled here in the
grader's process from the same weights. Each distinct call is made once per runner and shared by
the tests below. A test returns a one-line note (weights, time, peak GPU memory) for the record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ditgrade.api import Fail, Runner, StudentError, hidden_test

# (name, weight, fn) of every test here, in order, for tools that run this module on its own.
TESTS: list[tuple[str, float, Callable[[Runner], Any]]] = []


def _gpu_test(name: str, weight: float) -> Callable:
    def register(fn: Callable[[Runner], Any]) -> Callable[[Runner], Any]:
        hidden_test(name, weight, requires_gpu=True)(fn)
        TESTS.append((name, weight, fn))
        return fn

    return register


class SamplingJob:
    """One runner's sampling job: each distinct call made once, its result (or error) kept."""

    def __init__(self, runner: Runner, cfg):
        from .. import sampling

        self.runner, self.cfg = runner, cfg
        if cfg.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():  # `ditgrade run --gpu` on a machine without one
                raise RuntimeError(sampling.NO_CUDA_REASON)
        # Load here first: a missing or broken pipeline is the grader's problem, not the student's.
        self.loaded = sampling.load_pipeline(cfg.source, cfg.dtype, cfg.device)
        self.size = self.loaded.image_size
        self._student: dict[tuple, Any] = {}
        self._reference: dict[tuple, float] = {}  # seconds of the reference calls this job used

    def student(self, classes, scale: float, seed: int, repeat: int = 0) -> dict:
        """The gpu_generate probe's result; ``repeat`` > 0 makes a fresh call with the same arguments."""
        key = (tuple(classes), float(scale), int(seed), repeat)
        if key not in self._student:
            try:
                self._student[key] = self.runner.call(
                    "gpu_generate", source=self.cfg.source, class_labels=list(classes), guidance_scale=float(scale),
                    steps=self.cfg.steps, seed=int(seed), dtype=self.cfg.dtype, device=self.cfg.device)
            except StudentError as e:
                self._student[key] = e
        result = self._student[key]
        if isinstance(result, StudentError):
            raise result
        if not isinstance(result, dict) or "images" not in result:
            raise Fail("the sampling probe returned no images")
        return result

    def images(self, classes, scale: float, seed: int, repeat: int = 0) -> np.ndarray:
        """The student's images, which must be well-formed for the other checks to mean anything."""
        from ..sampling import image_format_problems

        result = self.student(classes, scale, seed, repeat)
        images = result["images"]
        problems = image_format_problems(images, len(classes), self.size)
        if problems:
            raise Fail(f"generate(pipe, {list(classes)}, guidance_scale={scale}, seed={seed}) did not return "
                       f"valid images: {'; '.join(problems)}")
        return images

    def reference(self, classes, scale: float, seed: int) -> np.ndarray:
        from ..sampling import pipeline_images

        key = (self.cfg, tuple(classes), float(scale), int(seed))
        if key not in _REFERENCE:  # the pipeline is deterministic: sample once per configuration
            _REFERENCE[key] = pipeline_images(self.loaded, classes, scale, self.cfg.steps, seed)
        images, seconds = _REFERENCE[key]
        self._reference[key] = seconds
        return images

    def note(self) -> str:
        """weights, what ran, and the time and peak memory of the student's calls so far."""
        done = [r for r in self._student.values() if isinstance(r, dict)]
        ref = list(self._reference.values())
        parts = [f"weights: {self.loaded.weights}", f"model={self.loaded.model}", self.cfg.describe(),
                 f"images={len(self.cfg.classes)}"]
        if done:
            parts.append(f"generate {min(float(r.get('seconds', 0)) for r in done):.2f} s")
            peak = max(float(r.get("peak_gib", -1)) for r in done)
            if peak >= 0:
                parts.append(f"peak {peak:.2f} GiB")
        if ref:
            parts.append(f"DiTPipeline {min(ref):.2f} s")
        return ", ".join(parts)


_current: SamplingJob | None = None
_REFERENCE: dict[tuple, tuple[np.ndarray, float]] = {}


def job(runner: Runner) -> SamplingJob:
    """The sampling job of ``runner`` under the current configuration (shared by the tests)."""
    from ..sampling import JobConfig

    global _current
    cfg = JobConfig.from_env().resolved()
    if _current is None or _current.runner is not runner or _current.cfg != cfg:
        _current = SamplingJob(runner, cfg)
    return _current


def reset(references: bool = False) -> None:
    """Forget the shared job, and with ``references`` DiTPipeline's cached images too (the loaded
    pipelines stay cached in dit.sampling)."""
    global _current
    _current = None
    if references:
        _REFERENCE.clear()


@_gpu_test("q5 gpu: generate returns [N, 256, 256, 3] uint8 images from DiT-XL/2", 1)
def test_gpu_image_format(runner: Runner) -> str:
    j = job(runner)
    for scale in j.cfg.guidance_scales:
        j.images(j.cfg.classes, scale, j.cfg.seed)
    return j.note()


@_gpu_test("q5 gpu: the same seed gives the same images, another seed other images", 1)
def test_gpu_seeded(runner: Runner) -> str:
    from ..sampling import images_not_distinct, same_images

    j = job(runner)
    c, s = j.cfg.classes, j.cfg.seed
    a, b = j.images(c, 4.0, s), j.images(c, 4.0, s, repeat=1)
    same, detail = same_images(a, b, j.cfg.exact)
    if not same:
        raise Fail(f"two calls with seed={s} gave different images ({detail}): seed a CPU torch.Generator "
                   "with `seed` and pass it to the pipeline")
    other = j.images(c, 4.0, j.cfg.other_seed)
    clash = images_not_distinct(a, other, j.cfg.exact)
    if clash:
        raise Fail(f"seeds {s} and {j.cfg.other_seed} gave the same image(s) at index {clash}: "
                   "the seed must decide the starting noise")
    return j.note()


@_gpu_test("q5 gpu: class labels and guidance scale change the images", 1)
def test_gpu_conditioning(runner: Runner) -> str:
    from ..sampling import images_not_distinct

    j = job(runner)
    c, s = j.cfg.classes, j.cfg.seed
    base = j.images(c, 4.0, s)
    clash = images_not_distinct(base, j.images(j.cfg.other_classes, 4.0, s), j.cfg.exact)
    if clash:
        raise Fail(f"classes {list(c)} and {list(j.cfg.other_classes)} gave the same image(s) at index {clash}: "
                   "pass class_labels to the pipeline")
    for scale in j.cfg.guidance_scales:
        if scale == 4.0:
            continue
        clash = images_not_distinct(base, j.images(c, scale, s), j.cfg.exact)
        if clash:
            raise Fail(f"guidance_scale 4.0 and {scale} gave the same image(s) at index {clash}: "
                       "pass guidance_scale to the pipeline")
    return j.note()


@_gpu_test("q5 gpu: images equal DiTPipeline's own sampling for the same seed", 2)
def test_gpu_matches_pipeline(runner: Runner) -> str:
    from ..sampling import compare_to_pipeline

    j = job(runner)
    c, s = j.cfg.classes, j.cfg.seed
    for scale in j.cfg.guidance_scales:
        images = j.images(c, scale, s)
        ok, detail = compare_to_pipeline(images, j.reference(c, scale, s))
        if not ok and len(c) > 1:  # the lesson's way, which the task text allows too: one call per label,
            # each with a CPU generator seeded with `seed` anew
            per_label = np.concatenate([j.reference((label,), scale, s) for label in c])
            ok, also = compare_to_pipeline(images, per_label)
            detail = detail if ok else f"{detail}; per label: {also}"
        if not ok:
            raise Fail(f"guidance_scale={scale}, seed={s}: {detail}. Expected the pipeline's images for "
                       f"class_labels={list(c)}, num_inference_steps={j.cfg.steps} and a CPU torch.Generator "
                       "seeded with `seed`, scaled to 0-255")
    return j.note()


@_gpu_test("q5 gpu: image statistics with the pretrained weights (sanity check, 0 points)", 0)
def test_gpu_real_weight_statistics(runner: Runner) -> str:
    from ..sampling import RANDOM_WEIGHTS_REASON, real_weight_problems

    j = job(runner)
    if j.loaded.weights != "real":
        return "skipped: " + RANDOM_WEIGHTS_REASON.format(model=j.loaded.model)
    by_scale = {scale: j.images(j.cfg.classes, scale, j.cfg.seed) for scale in j.cfg.guidance_scales}
    problems, stats = real_weight_problems(by_scale)
    if problems:
        raise Fail("; ".join(problems) + f" (statistics: {stats})")
    return f"{j.note()}; saturation by guidance {stats['saturation']}"


# Buggy generate() variants the checks above must catch, as (old, new) edits of the reference
# source, with the graded tests each must fail off CUDA and on CUDA. Used by
# tests/test_gpu_sampling.py and scripts/gpu_check.py to show that the job can fail.
_FORMAT, _SEEDED, _COND, _MATCH = (t[0] for t in TESTS[:4])
MUTANTS: dict[str, tuple[tuple[str, str], frozenset[str], frozenset[str]]] = {
    "unseeded": (("generator=generator,", "generator=None,"),
                 frozenset({_SEEDED, _MATCH}), frozenset({_SEEDED, _MATCH})),
    "ignores-guidance": (("guidance_scale=guidance_scale,", "guidance_scale=4.0,"),
                         frozenset({_COND, _MATCH}), frozenset({_COND, _MATCH})),
    "ignores-classes": (("class_labels=list(class_labels),", "class_labels=[0] * len(class_labels),"),
                        frozenset({_COND, _MATCH}), frozenset({_COND, _MATCH})),
    "wrong-steps": (("num_inference_steps=num_inference_steps,", "num_inference_steps=num_inference_steps + 1,"),
                      frozenset({_MATCH}), frozenset({_MATCH})),
    "float-images": (("return (out.images * 255).round().astype(np.uint8)", "return out.images"),
                     frozenset({_FORMAT, _SEEDED, _COND, _MATCH}), frozenset({_FORMAT, _SEEDED, _COND, _MATCH})),
    # The notebook asks for a CPU generator so that one seed gives the same images on any device:
    # a generator on the pipeline's device is only wrong on a GPU.
    "device-generator": (('torch.Generator(device="cpu")', "torch.Generator(device=pipe.device)"),
                         frozenset(), frozenset({_MATCH})),
    # Truncating to uint8 instead of rounding is accepted: the notebook does not say which.
    "returns-tensor": (("return (out.images * 255).round().astype(np.uint8)",
                        "return torch.from_numpy((out.images * 255).round().astype(np.uint8))"),
                       frozenset({_FORMAT, _SEEDED, _COND, _MATCH}), frozenset({_FORMAT, _SEEDED, _COND, _MATCH})),
    "truncates": (("(out.images * 255).round().astype(np.uint8)", "(out.images * 255).astype(np.uint8)"),
                  frozenset(), frozenset()),
}


def mutant_source(reference_source: str, name: str) -> str:
    """The reference source with mutant ``name``'s edit applied to its generate()."""
    (old, new), _, _ = MUTANTS[name]
    head, sep, tail = reference_source.partition("def generate(")
    if not sep or old not in tail:
        raise ValueError(f"mutant {name!r}: {old!r} not found in the reference generate()")
    return head + sep + tail.replace(old, new, 1)


def expected_failures(name: str, device: str) -> frozenset[str]:
    """The graded tests mutant ``name`` must fail on ``device``."""
    _, off_cuda, on_cuda = MUTANTS[name]
    return on_cuda if device.startswith("cuda") else off_cuda
