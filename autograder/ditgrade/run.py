"""Grade one submission: extract its definitions, run the hidden suite against it in the sandbox.

``grade_submission`` can be called many times in one process (the batch grader does): the fork
server is started once, before the hidden tests are first imported, and reused.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import config
from .extract import extract
from .results import build_results
from .sandbox import Limits, SandboxRunner, fork_server


def limits_from_config(cfg: dict[str, Any], *, gpu: bool) -> Limits:
    limits = Limits(call_timeout_s=float(cfg["timeout_per_call_s"]), budget_s=float(cfg["time_budget_s"]),
                    memory_mb=int(cfg["memory_limit_mb"]), gpu=gpu)
    if gpu:  # loading DiT-XL/2 and sampling 256x256 images takes longer than a CPU probe
        limits.call_timeout_s, limits.budget_s = max(limits.call_timeout_s, 180.0), max(limits.budget_s, 600.0)
    return limits


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def grade_submission(path: str | Path, *, gpu: bool = False) -> dict[str, Any]:
    """The Gradescope results.json dict for the submission at ``path``; never raises for its content."""
    start = time.monotonic()
    cfg = config.load()
    notes: list[str] = []
    if gpu and not cuda_available():
        notes.append("--gpu was given but there is no CUDA device: q5's GPU tests were skipped.")
        gpu = False
    server = fork_server()  # before the hidden tests are imported: workers never carry them
    extracted = extract(path)
    notes += extracted.notes
    runner = SandboxRunner(extracted, limits_from_config(cfg, gpu=gpu), server)
    try:
        from .suite import run_suite

        results = run_suite(runner, gpu=gpu)
    finally:
        runner.close()
    report = runner.report()
    notes += [f"{label} was skipped: it {why}" for label, why in report["skipped_cells"].items()]
    notes += [f"error while loading {e}" for e in report["load_errors"]]
    return build_results(results, cfg=cfg, seconds=time.monotonic() - start, notes=notes, sandbox=report, gpu=gpu,
                         stdout=runner.output)


def warmup() -> None:
    """Set-up a batch worker does once before its first submission (``ditgrade.batch`` calls it).

    The fork server starts first, then the hidden tests are imported, so the first submission costs
    no more than the others. One torch thread per grading process: N workers on N cores otherwise
    oversubscribe the CPU with N thread pools.
    """
    import torch

    torch.set_num_threads(1)
    fork_server()
    from .suite import all_tests

    all_tests()
