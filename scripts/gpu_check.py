"""Device check of q5's GPU job: run it once on this machine and print one summary line.

Normally started by scripts/gpu_check.sh, which makes diffusers importable first. It needs only
torch, numpy and diffusers (no pytest) and runs, in one process:

1. the q5 GPU hidden tests (dit.hidden.q5_gpu) against the reference solution, through
   InProcessRunner: pipeline load, 3 guidance scales, seeds, classes, DiTPipeline comparison;
   "end to end" is the wall time of this step, load included (budget 30 s with local weights);
2. every buggy generate in q5_gpu.MUTANTS, each of which must fail exactly its expected tests;
3. timing: the student's generate (through the gpu_generate probe) against DiTPipeline called
   directly, same classes, guidance 4.0, same steps, best of 3 each (budget: ratio <= 1.2);
4. peak GPU memory (torch.cuda.max_memory_allocated, weights included) for the 4-image job
   (budget 3 GiB, the lesson's "~3 GB") and, for reference, for one image at 50 steps.

Environment: DITGRADE_GPU_CHECK_DEVICE (cuda; ``cpu`` is a dry run of the same logic on the tiny
pipeline, budgets printed but not enforced), DITGRADE_DIT_PATH (a pipeline folder; else the
Hugging Face cache, else random weights), DITGRADE_GPU_STEPS (20 on CUDA, 10 on the CPU),
DITGRADE_GPU_CHECK_OUT (a folder for gpu_check.json and samples.png).

Exit status: 0 when every check and enforced budget holds, 1 when one fails, 2 when the job could
not start (no CUDA device, missing packages).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

RATIO_BUDGET = 1.2
END_TO_END_BUDGET_S = 30.0
PEAK_BUDGET_GIB = 3.0


def main() -> int:
    start = time.perf_counter()
    device = os.environ.get("DITGRADE_GPU_CHECK_DEVICE", "cuda")
    cuda = device.startswith("cuda")
    try:
        import diffusers
        import numpy as np
        import torch
    except ImportError as e:
        print(f"gpu-check: cannot start: {e} (install the wheels in .whl/, see scripts/gpu_check.sh)")
        return 2
    if cuda and not torch.cuda.is_available():
        print("gpu-check: cannot start: no CUDA device (DITGRADE_GPU_CHECK_DEVICE=cpu runs the dry run)")
        return 2
    os.environ["DITGRADE_GPU_DEVICE"] = device
    os.environ.setdefault("DITGRADE_GPU_DTYPE", "float16" if cuda else "float32")
    os.environ.setdefault("DITGRADE_GPU_STEPS", "20" if cuda else "10")
    tmp = None
    if not cuda and not os.environ.get("DITGRADE_DIT_PATH"):
        # Dry run: the tiny pipeline, saved and loaded back like real weights (as in the CI test).
        from dit.pipelines import tiny_dit_pipeline

        tmp = tempfile.TemporaryDirectory(prefix="ditgrade-tiny-")
        tiny_dit_pipeline(0).save_pretrained(tmp.name)
        os.environ["DITGRADE_DIT_PATH"] = tmp.name

    from dit import sampling
    from dit.hidden import q5_gpu
    from dit.probes import PROBES
    from ditgrade.core.assignment import Assignment
    from ditgrade.core.probe_calls import InProcessRunner, namespace_from_source
    from ditgrade.core.suite import GradedTest, run_test

    REFERENCE_MODULE = Assignment.load().reference_path

    name = torch.cuda.get_device_name(device) if cuda else "cpu (dry run)"
    cfg = sampling.JobConfig.from_env()
    print(f"gpu-check: torch {torch.__version__}, diffusers {diffusers.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}, device {name}")
    print(f"gpu-check: {cfg.describe()} -> source {sampling.resolve_source(cfg.source)}", flush=True)
    reference = REFERENCE_MODULE.read_text()
    problems: list[str] = []

    # 1. the hidden tests against the reference, timed end to end (pipeline load included)
    t0 = time.perf_counter()
    try:
        sampling.load_pipeline(sampling.resolve_source(cfg.source), cfg.dtype, cfg.device)
    except Exception as e:
        print(f"gpu-check: cannot start: loading the pipeline failed: {type(e).__name__}: {e}")
        return 2
    runner = InProcessRunner(namespace_from_source(reference), PROBES)
    results = [run_test(GradedTest(n, p, fn, requires_gpu=True), runner, p) for n, p, fn in q5_gpu.TESTS]
    job = q5_gpu.job(runner)
    end_to_end = time.perf_counter() - t0
    loaded = job.loaded
    for r in results:
        print(f"  {r.seconds:6.2f} s  {r.kind:<8} {r.name}" + ("" if r.passed else f"\n           {r.output}"))
    print(f"  note: {job.note()}", flush=True)
    sanity = q5_gpu.TESTS[-1][2]
    try:
        print(f"  sanity: {sanity(runner)}", flush=True)
    except Exception as e:  # reported as a failed hidden test above
        print(f"  sanity: {type(e).__name__}: {e}", flush=True)
    passed = sum(r.passed for r in results)
    if passed < len(results):
        problems.append(f"reference failed {len(results) - passed} hidden test(s)")

    # 2. buggy generates: each must fail exactly its expected tests
    caught = 0
    for mutant in sorted(q5_gpu.MUTANTS):
        m_runner = InProcessRunner(namespace_from_source(q5_gpu.mutant_source(reference, mutant)), PROBES)
        failed = {n for n, p, fn in q5_gpu.TESTS
                  if p > 0 and not run_test(GradedTest(n, p, fn, requires_gpu=True), m_runner, p).passed}
        expected = q5_gpu.expected_failures(mutant, device)
        ok = failed == expected
        caught += ok
        print(f"  mutant {mutant:<17} fails {len(failed)} graded test(s): {'as expected' if ok else 'WRONG'}"
              + ("" if ok else f" (failed {sorted(failed)}, expected {sorted(expected)})"), flush=True)
    if caught < len(q5_gpu.MUTANTS):
        problems.append(f"{len(q5_gpu.MUTANTS) - caught} mutant(s) not caught as expected")
    q5_gpu.reset()

    # 3. the student's generate against DiTPipeline called directly (both warm by now)
    def student_call(classes, steps):
        return runner.call("gpu_generate", source=loaded.source, class_labels=list(classes), guidance_scale=4.0,
                           steps=steps, seed=cfg.seed, dtype=cfg.dtype, device=cfg.device)

    direct_s, student_s, peak = [], [], -1.0
    for _ in range(3):
        direct_s.append(sampling.pipeline_images(loaded, cfg.classes, 4.0, cfg.steps, cfg.seed)[1])
        out = student_call(cfg.classes, cfg.steps)
        student_s.append(out["seconds"])
        peak = max(peak, out["peak_gib"])
    ratio = min(student_s) / min(direct_s)
    one = student_call(cfg.classes[:1], 50)

    # 4. budgets (enforced on CUDA only; end to end only with the pretrained weights)
    if cuda:
        if ratio > RATIO_BUDGET:
            problems.append(f"generate took {ratio:.2f}x DiTPipeline's time (budget {RATIO_BUDGET}x)")
        if peak > PEAK_BUDGET_GIB:
            problems.append(f"peak GPU memory {peak:.2f} GiB over {PEAK_BUDGET_GIB} GiB")
        if loaded.weights == "real" and end_to_end > END_TO_END_BUDGET_S:
            problems.append(f"hidden tests took {end_to_end:.1f} s end to end (budget {END_TO_END_BUDGET_S} s)")

    out_dir = os.environ.get("DITGRADE_GPU_CHECK_OUT")
    record = {
        "device": name, "dtype": cfg.dtype, "steps": cfg.steps, "images": len(cfg.classes),
        "weights": loaded.weights, "model": loaded.model, "source": loaded.source,
        "seconds": round(min(student_s), 4), "direct_seconds": round(min(direct_s), 4), "ratio": round(ratio, 3),
        "peak_gib": round(peak, 3), "peak_gib_1img_50steps": round(one["peak_gib"], 3),
        "seconds_1img_50steps": round(one["seconds"], 3), "load_seconds": round(loaded.load_seconds, 2),
        "end_to_end_seconds": round(end_to_end, 2), "hidden_passed": passed, "hidden_total": len(results),
        "mutants_caught": caught, "mutants_total": len(q5_gpu.MUTANTS), "problems": problems,
        "total_seconds": round(time.perf_counter() - start, 1), "torch": torch.__version__,
        "diffusers": diffusers.__version__,
    }
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "gpu_check.json").write_text(json.dumps(record, indent=1))
        save_samples(job, Path(out_dir) / "samples.png")
    for p in problems:
        print(f"gpu-check: PROBLEM: {p}")
    enforced = "" if cuda else " (dry run: budgets not enforced)"
    print(f"GPU-CHECK device=\"{name}\" dtype={cfg.dtype} steps={cfg.steps} images={len(cfg.classes)} "
          f"weights={loaded.weights} seconds={min(student_s):.3f} direct_seconds={min(direct_s):.3f} "
          f"ratio={ratio:.2f} peak_gib={peak:.2f} peak_gib_1img_50steps={one['peak_gib']:.2f} "
          f"load_s={loaded.load_seconds:.1f} end_to_end_s={end_to_end:.1f} hidden={passed}/{len(results)} "
          f"mutants={caught}/{len(q5_gpu.MUTANTS)} total_s={time.perf_counter() - start:.1f} "
          f"verdict={'FAIL' if problems else 'OK'}{enforced}", flush=True)
    if tmp is not None:
        tmp.cleanup()
    return 1 if problems else 0


def save_samples(job, path: Path) -> None:
    """The reference's images, one row per guidance scale, for a human look (needs Pillow)."""
    try:
        import numpy as np
        from PIL import Image
    except ImportError:
        return
    rows = [np.concatenate(list(job.images(job.cfg.classes, s, job.cfg.seed)), axis=1) for s in job.cfg.guidance_scales]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


if __name__ == "__main__":
    sys.exit(main())
