"""Grade one submission: read its statements, run the suite against them in the sandbox.

``grade_submission`` may be called many times in one process (a batch worker does): the fork
server is started once and reused, and its start overlaps the grader's own imports.
"""

from __future__ import annotations

import importlib
import os
import re
import time
from pathlib import Path
from typing import Any

from ..sandbox import Limits, SandboxRunner, fork_server
from . import taint
from .assignment import Assignment
from .extract import Drivers, Extracted, extract
from .results import build_results
from .suite import TestResult, run_tests
from .text import clean_tree

_NAME_ERROR = re.compile(r"NameError: name '(\w+)' is not defined")


def drivers_of(assignment: Assignment) -> Drivers:
    d = assignment.generated.get("driver_cells", {})
    return Drivers(frozenset(d.get("ids", [])), frozenset(d.get("sources", [])))


def limits_for(assignment: Assignment, *, gpu: bool) -> Limits:
    limits = Limits.from_config(assignment.project.config, gpu=gpu)
    limits.hide = assignment.project.secret_paths()
    assignment.import_package()
    hook = getattr(importlib.import_module(f"{assignment.package}.hidden"), "readable_paths", None)
    limits.readable = list(hook(gpu)) if callable(hook) else []
    return limits


def cuda_available() -> bool:
    """Whether the GPU tests can run: a CUDA device, or DITGRADE_GPU_DEVICE=cpu, the dry run of the
    same sandboxed path on the CPU (scripts/gpu_check.sh and the CI test of --gpu use it).

    Asking starts the CUDA driver in this process, after which no fork of it can use CUDA: the
    process is marked, so a fork server it starts later is a fresh interpreter (``taint``)."""
    if os.environ.get("DITGRADE_GPU_DEVICE") == "cpu":
        return True
    import torch

    taint.mark("the CUDA driver")
    return torch.cuda.is_available()


def explain_missing_names(results: list[TestResult], extracted: Extracted, load_errors: list[str]) -> None:
    """A test that failed on an undefined name says which line would have defined it, and why it did not."""
    for r in results:
        match = _NAME_ERROR.search(r.output)
        if r.passed or not match:
            continue
        name = match.group(1)
        why = [f"{s.label} `{s.text}` was not run: {s.reason}" for s in extracted.skipped_for(name)]
        why += [e for e in load_errors if e.split(":", 1)[0] in
                {s.label for s in extracted.statements if name in s.names}]
        if why:
            r.output += "\n" + "\n".join(why[:3])


def student_notes(extracted: Extracted, report: dict[str, Any]) -> list[str]:
    notes = list(extracted.notes)
    notes += [f"{e} (while loading; the rest was still graded)" for e in report["load_errors"][:20]]
    notes += [f"{label} was left out: it {why}" for label, why in report["stopped_at_load"].items()]
    return notes


def grade_submission(path: str | Path, *, gpu: bool = False, assignment: Assignment | None = None,
                     sub: str = "submission") -> dict[str, Any]:
    """The Gradescope results.json dict for the submission at ``path``; never raises for its content."""
    start = time.monotonic()
    assignment = assignment or Assignment.load()
    cfg = assignment.project.config
    notes: list[str] = []
    fork_server(assignment)  # before this process reads any student data or starts CUDA
    if gpu and not cuda_available():
        notes.append("--gpu was given but there is no CUDA device: the GPU tests were not run.")
        gpu = False
    extracted = extract(path, drivers=drivers_of(assignment), notebook_name=assignment.project.notebook_name)
    runner = SandboxRunner(extracted, assignment, limits_for(assignment, gpu=gpu), sub=sub)
    try:
        results = run_tests(assignment.tests(gpu=gpu), runner, assignment.points)
    finally:
        runner.close()
    report = runner.report()
    explain_missing_names(results, extracted, report["load_errors"])
    data = build_results(results, cfg=cfg, seconds=time.monotonic() - start,
                         student_notes=notes + student_notes(extracted, report), sandbox=report, gpu=gpu,
                         gpu_note=assignment.gpu_note, stdout=runner.output, fingerprint=assignment.fingerprint)
    # staff read them; not graded (read with the statements: the notebook is parsed once)
    data["extra_data"]["ditgrade"]["predictions"] = clean_tree(extracted.predictions)
    return data


def warmup(assignment: Assignment | None = None) -> Assignment:
    """What a batch worker does once before its first submission: start the fork server, import
    the hidden tests, one torch thread per grading process (N workers on N cores otherwise
    oversubscribe the CPU)."""
    import torch

    torch.set_num_threads(1)
    assignment = assignment or Assignment.load()
    fork_server(assignment)
    assignment.tests(gpu=True)
    assignment.fingerprint  # noqa: B018 - computed once, before the first submission
    return assignment
