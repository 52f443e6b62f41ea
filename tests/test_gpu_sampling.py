"""q5's GPU sampling job (dit.sampling + dit.hidden.q5_gpu), on two pipelines.

The same hidden tests run on

* ``cpu-tiny`` (always): the tiny DiT pipeline, saved with ``save_pretrained`` and loaded back with
  ``DiTPipeline.from_pretrained(dir, local_files_only=True)`` as the real weights would be, on the
  CPU in float32, 10 steps: a few seconds;
* ``gpu-xl2`` (marked ``gpu``, skipped without CUDA): DiT-XL/2 in float16 on CUDA, with the
  pretrained weights when DITGRADE_DIT_PATH or the Hugging Face cache has them, else the same
  architecture with random weights.

The student is the reference solution, which must pass everything, and buggy generate()s
(``q5_gpu.MUTANTS``), each of which must fail exactly the tests it should.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dit import sampling
from dit.hidden import q5_gpu
from dit.pipelines import tiny_dit_pipeline
from dit.probes import PROBES
from ditgrade.core.probe_calls import InProcessRunner, namespace_from_source
from ditgrade.core.suite import GradedTest, run_test

GPU = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason=sampling.NO_CUDA_REASON)]
JOBS = ["cpu-tiny", pytest.param("gpu-xl2", marks=GPU)]


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-dit")
    tiny_dit_pipeline(0).save_pretrained(path)
    return path


@pytest.fixture(params=JOBS)
def job_env(request, monkeypatch, tiny_dir) -> str:
    """Point JobConfig.from_env() at the pipeline of this parametrization; yields its device."""
    if request.param == "cpu-tiny":
        monkeypatch.setenv("DITGRADE_DIT_PATH", str(tiny_dir))
        monkeypatch.setenv("DITGRADE_GPU_DEVICE", "cpu")
        monkeypatch.setenv("DITGRADE_GPU_DTYPE", "float32")
        monkeypatch.setenv("DITGRADE_GPU_STEPS", "10")
    else:  # DITGRADE_DIT_PATH / DITGRADE_GPU_STEPS stay as the caller set them
        monkeypatch.setenv("DITGRADE_GPU_DEVICE", "cuda")
        monkeypatch.setenv("DITGRADE_GPU_DTYPE", "float16")
    q5_gpu.reset()
    yield sampling.JobConfig.from_env().device
    q5_gpu.reset()


def run_gpu_tests(source: str) -> tuple[dict, str]:
    """Every q5 GPU hidden test against ``source`` in process: ({name: TestResult}, the job's note)."""
    runner = InProcessRunner(namespace_from_source(source), PROBES)
    results = {name: run_test(GradedTest(name, points, fn, requires_gpu=True), runner, max_score=points)
               for name, points, fn in q5_gpu.TESTS}
    return results, q5_gpu.job(runner).note()


def test_module_registers_gpu_tests():
    assert [points for _, points, _ in q5_gpu.TESTS] == [1, 1, 1, 2, 0]
    assert all(name.startswith("q5 gpu: ") for name, _, _ in q5_gpu.TESTS)
    assert "gpu_generate" in PROBES.table


def test_reference_passes_every_gpu_check(job_env, reference_source, record_property):
    results, note = run_gpu_tests(reference_source)
    print(f"\n{note}")
    record_property("sampling", note)
    for r in results.values():
        print(f"  {r.seconds:6.2f} s  {r.kind:<8} {r.name}")
    failed = {name: r.output for name, r in results.items() if not r.passed}
    assert not failed, failed
    assert ("weights: real" in note) or ("weights: random" in note)


@pytest.mark.parametrize("mutant", sorted(q5_gpu.MUTANTS))
def test_buggy_generate_fails_the_right_checks(job_env, reference_source, mutant):
    results, _ = run_gpu_tests(q5_gpu.mutant_source(reference_source, mutant))
    graded_failures = {name for name, r in results.items() if not r.passed and r.max_score > 0}
    assert graded_failures == q5_gpu.expected_failures(mutant, job_env), {
        name: r.output for name, r in results.items() if not r.passed}


def test_tiny_pipeline_round_trips_through_from_pretrained(tiny_dir):
    from diffusers import DDIMScheduler

    loaded = sampling.load_pipeline(str(tiny_dir), "float32", "cpu")
    assert (loaded.model, loaded.weights, loaded.image_size) == ("tiny", "random", 16)
    assert isinstance(loaded.pipe.scheduler, DDIMScheduler)
    assert not loaded.pipe.transformer.training and not loaded.pipe.vae.training
    built = sampling.LoadedPipeline(tiny_dit_pipeline(0), "tiny", "tiny", "random", "cpu", "float32", 0.0)
    a, _ = sampling.pipeline_images(loaded, [207, 88], 4.0, 3, 7)
    b, _ = sampling.pipeline_images(built, [207, 88], 4.0, 3, 7)
    assert np.array_equal(a, b)


def test_xl2_architecture_on_meta_device():
    """The random-weight fallback is DiT-XL/2 256x256: 749,826,464 transformer parameters,
    32x32x4 latents decoded to 256x256 RGB. On the meta device this allocates nothing."""
    loaded = sampling.load_pipeline("random-xl2", "float16", "meta")
    try:
        assert (loaded.model, loaded.weights, loaded.image_size) == ("dit-xl2", "random", 256)
        t, vae = loaded.pipe.transformer, loaded.pipe.vae
        assert sum(p.numel() for p in t.parameters()) == sampling.XL2_TRANSFORMER_PARAMS
        assert (t.config.sample_size, t.config.in_channels, t.config.out_channels) == (32, 4, 8)
        latents = torch.zeros(1, 4, 32, 32, device="meta", dtype=torch.float16)
        assert vae.decode(latents).sample.shape == (1, 3, 256, 256)
        assert vae.config.scaling_factor == 0.18215
        assert t.dtype == vae.dtype == torch.float16
    finally:
        sampling.clear_cache()


def test_find_dit_pipeline_path(monkeypatch, tmp_path, tiny_dir):
    monkeypatch.delenv("DITGRADE_DIT_PATH", raising=False)
    empty = tmp_path / "hub"
    empty.mkdir()
    assert sampling.find_dit_pipeline_path(cache_dir=empty) is None
    # A complete snapshot in the Hugging Face cache layout is found, offline.
    repo = empty / "models--facebook--DiT-XL-2-256"
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    (snap / "model_index.json").write_text("{}")
    assert sampling.find_dit_pipeline_path(cache_dir=empty) == snap
    # An explicit path wins, from the argument or the environment; a wrong one is an error.
    assert sampling.find_dit_pipeline_path(tiny_dir, cache_dir=empty) == tiny_dir
    monkeypatch.setenv("DITGRADE_DIT_PATH", str(tiny_dir))
    assert sampling.find_dit_pipeline_path(cache_dir=empty) == tiny_dir
    assert sampling.resolve_source("auto") == str(tiny_dir)
    monkeypatch.setenv("DITGRADE_DIT_PATH", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        sampling.find_dit_pipeline_path()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_comparisons_and_tolerances():
    rng = np.random.default_rng(0)
    ref = rng.random((2, 32, 32, 3), dtype=np.float32)  # 6144 values: 6 may be off
    rounded = (ref * 255).round().astype(np.uint8)
    assert sampling.compare_to_pipeline(rounded, ref)[0]
    assert sampling.compare_to_pipeline((ref * 255).astype(np.uint8), ref)[0]  # truncated
    few = rounded.copy()
    few.reshape(-1)[:6] ^= 1  # 6 values one level off: allowed
    assert sampling.compare_to_pipeline(few, ref)[0]
    many = rounded.copy()
    many.reshape(-1)[:7] ^= 1
    assert not sampling.compare_to_pipeline(many, ref)[0]
    one_far = rounded.copy()
    one_far.reshape(-1)[0] ^= 0x80
    assert not sampling.compare_to_pipeline(one_far, ref)[0]
    mixed = np.where(rng.random(ref.shape) < 0.5, rounded, (ref * 255).astype(np.uint8))
    assert not sampling.compare_to_pipeline(mixed, ref)[0]

    nudged = rounded.copy()
    nudged.reshape(-1)[:3] ^= 1  # image 0: three values off by one level
    nudged[1] = 255 - nudged[1]  # image 1: another image
    assert sampling.same_images(rounded, rounded, exact=True) == (True, "bit-identical")
    assert not sampling.same_images(rounded, nudged, exact=True)[0]
    assert not sampling.same_images(rounded, nudged, exact=False)[0]
    assert sampling.same_images(rounded[:1], nudged[:1], exact=False)[0]
    assert not sampling.same_images(rounded[:1], nudged[:1], exact=True)[0]
    assert sampling.images_not_distinct(rounded, nudged, exact=False) == [0]

    assert sampling.image_format_problems(rounded, 2, 32) == []
    assert "shape" in sampling.image_format_problems(rounded, 3, 32)[0]
    assert "uint8" in sampling.image_format_problems(ref, 2, 32)[0]
    assert "NaN" in sampling.image_format_problems(np.full((2, 32, 32, 3), np.nan), 2, 32)[0]
    assert "constant" in sampling.image_format_problems(np.zeros((2, 32, 32, 3), np.uint8), 2, 32)[0]


def test_real_weight_statistics():
    grey = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[:, None, None], (1, 64, 3))[None]  # saturation 0
    colour = grey.copy()
    colour[..., 2] //= 2  # saturation 0.5 where the pixel is not black
    assert sampling.mean_saturation(grey) == 0.0
    assert sampling.mean_saturation(colour) == pytest.approx(0.5, abs=0.01)
    assert sampling.contrast(grey)[0] == pytest.approx(grey[0, :, 0, 0].std(), rel=1e-6)
    problems, stats = sampling.real_weight_problems({1.0: grey, 4.0: colour})
    assert problems == [] and stats["saturation"] == {1.0: 0.0, 4.0: pytest.approx(0.5, abs=0.01)}
    problems, _ = sampling.real_weight_problems({1.0: colour, 4.0: grey})
    assert any("saturation" in p for p in problems)
    flat = np.full_like(grey, 128)
    flat[0, 0, 0] = 0
    problems, _ = sampling.real_weight_problems({1.0: flat})
    assert any("grey-level std" in p for p in problems)
