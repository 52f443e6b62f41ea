"""The sandboxed path of ``--gpu`` (fork server, worker, Landlock, the GPU job's probes), run on
the CPU with the tiny pipeline: scripts/gpu_run_check.py's dry run. The same script runs on a CUDA
machine through scripts/gpu_check.sh; what it found there is in benchmarks/README.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import course_assignment

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_ditgrade_run_gpu_dry_run_grades_the_reference_and_contains_a_hostile_generate(tmp_path, full_marks):
    env = {**os.environ, "DITGRADE_GPU_CHECK_DEVICE": "cpu", "DITGRADE_GPU_CHECK_OUT": str(tmp_path),
           "PYTHONPATH": str(REPO / "autograder"), "DITGRADE_PROJECT": str(REPO)}
    env.pop("DITGRADE_DIT_PATH", None)
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gpu_run_check.py")], env=env,
                          capture_output=True, text=True, timeout=300)
    results = tmp_path / "gpu_run.json"
    # when the script left no results, its own output is the cause: show the end of both streams
    assert results.is_file(), f"exit {proc.returncode}, no gpu_run.json\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    record = json.loads(results.read_text())
    assert proc.returncode == 0, record["problems"] or proc.stdout[-3000:] + proc.stderr[-3000:]
    assert record["score"] == record["max_score"] == full_marks
    assert record["gpu_tests"] == record["gpu_tests_passed"] == 5
    assert "RLIMIT_DATA" in record["protections"]["rlimits"]
    probe = record["probe"]
    assert probe["thread_name"] == "ok"  # CUDA names its threads: the rule it needs holds
    assert not any(probe[k] for k in ("grader_files", "network", "processes", "signals", "writable")), probe


def test_asking_for_cuda_keeps_later_fork_servers_out_of_forks(monkeypatch):
    """A fork of a process that started the CUDA driver cannot use CUDA: asking marks the process."""
    import torch

    from ditgrade import grading
    from ditgrade.core import taint

    monkeypatch.delenv("DITGRADE_GPU_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(taint, "_READ", [])
    assert taint.clean()
    assert grading.gpu_available(course_assignment()) is False
    assert "the CUDA driver" in taint.reasons()
    assert os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1"  # set by importing ditgrade


def test_the_dry_run_device_counts_as_available(monkeypatch):
    from ditgrade import grading

    monkeypatch.setenv("DITGRADE_GPU_DEVICE", "cpu")
    assert grading.gpu_available(course_assignment()) is True
