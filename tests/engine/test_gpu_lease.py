"""Under --gpu: the GPU tests of one submission at a time per card (a machine-wide lease), in a worker
of their own that alone sees the devices; every other worker sees none. And what crosses to the
fork server never names a submission; what keys the batch cache covers --gpu and the environment.
These run on the CPU: the lease and the workers' specs are what is checked, not CUDA."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ditgrade.core.suite import GradedTest
from ditgrade.grading import limits_for
from ditgrade.sandbox import SandboxRunner, gpu
from ditgrade.sandbox import forkserver_client as server

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="the sandbox's namespaces need root")


def _holder(folder: Path, seconds: float) -> subprocess.Popen:
    """Another process that takes the lease of card "t" and holds it for ``seconds``."""
    script = textwrap.dedent(f"""
        import sys, time
        from ditgrade.sandbox import gpu
        lease = gpu.Lease("t", folder={str(folder)!r})
        lease.acquire()
        print("held", flush=True)
        time.sleep({seconds})
        lease.release()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.slow  # holds a lease 1.5 s by design (CI runs it with the slow ones)
def test_the_lease_is_one_at_a_time_machine_wide(tmp_path: Path) -> None:
    proc = _holder(tmp_path, 1.5)
    lease = gpu.Lease("t", folder=str(tmp_path))
    start = time.monotonic()
    lease.acquire()
    waited = time.monotonic() - start
    lease.release()
    proc.wait()
    assert waited > 1.0, waited
    lease.acquire()  # free again at once
    assert lease.held
    lease.release()


def test_the_card_comes_from_cuda_visible_devices(monkeypatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert gpu.card() == "3"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-ab/../x")
    assert "/" not in gpu.card()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpu.card() == "0"


@needs_root
def test_only_the_gpu_tests_worker_sees_the_devices_and_only_under_the_lease(assignment, tmp_path, monkeypatch):
    sub = tmp_path / "s.py"
    sub.write_text("import os\ndef double(x):\n    return len(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))\n")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    monkeypatch.setattr(gpu, "LOCK_DIR", str(tmp_path / "leases"))
    limits = limits_for(assignment, gpu=False)
    limits.gpu = True
    runner = SandboxRunner(assignment, limits)
    runner._lease = gpu.Lease(folder=str(tmp_path / "leases"))
    runner.read(sub)
    cpu_test = GradedTest("q1 a CPU test", 1.0, lambda r: None)
    gpu_test = GradedTest("q2 gpu: a GPU test", 1.0, lambda r: None, requires_gpu=True)
    try:
        runner.begin_test(cpu_test)
        assert runner.call("double", x=4.0) == 0  # CUDA_VISIBLE_DEVICES="" in a CPU worker
        assert not runner._lease.held and runner._worker_gpu is False
        runner.begin_test(gpu_test)
        assert runner._lease.held and runner._worker is None  # the CPU worker is gone before the GPU tests
        assert runner.call("double", x=4.0) == 1  # "7": the GPU worker sees the card
        assert runner._worker_gpu is True
        other = gpu.Lease(folder=str(tmp_path / "leases"))
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, os
            fd = os.open({other.path!r}, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                print("free")
            except BlockingIOError:
                print("held")
        """)], capture_output=True, text=True)
        assert proc.stdout.strip() == "held"  # by this runner, for every grader on the machine
        runner.begin_test(cpu_test)
        assert not runner._lease.held and runner._worker is None  # killed before the lease was given back
        assert runner.call("double", x=4.0) == 0
    finally:
        runner.close()
        server.close_all()
    assert not runner._lease.held


def test_the_cache_key_covers_gpu_and_the_graders_environment(assignment, monkeypatch) -> None:
    from ditgrade.batch.run import grader_key

    monkeypatch.delenv("DITGRADE_GPU_STEPS", raising=False)
    base = grader_key(assignment, gpu=False)
    assert grader_key(assignment, gpu=True) != base
    monkeypatch.setenv("DITGRADE_GPU_STEPS", "30")
    assert grader_key(assignment, gpu=False) != base
    monkeypatch.delenv("DITGRADE_GPU_STEPS")
    monkeypatch.setenv("DITGRADE_PROJECT", "/somewhere/else")  # where things are, not how to grade
    assert grader_key(assignment, gpu=False) == base


@needs_root
def test_no_message_to_the_fork_server_names_a_submission(assignment, tmp_path, monkeypatch) -> None:
    from ditgrade.grading import grade_submission

    sent: list[bytes] = []
    real = server.ForkServer._request

    def spy(self, message, want_fds=0):
        sent.append(repr(message).encode())
        return real(self, message, want_fds)

    monkeypatch.setattr(server.ForkServer, "_request", spy)
    sub = tmp_path / "victim_secret_zz9.py"
    sub.write_text("def double(x):\n    return 2 * x  # victim_secret_zz9\n")
    data = grade_submission(sub, assignment=assignment, sub="victim_secret_zz9")
    assert data.score > 0 and sent
    assert not [m for m in sent if b"victim_secret" in m or str(tmp_path).encode() in m]
