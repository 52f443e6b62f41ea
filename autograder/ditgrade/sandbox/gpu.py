"""One GPU test at a time per card, machine-wide: the lease a grader holds while its GPU tests run.

A CUDA device has no memory limit that code in the process using it cannot lift, so under
``--gpu -j N`` one student could take all of a card's memory and fail a neighbour's GPU tests and
the grader's own reference sampling. What is guaranteed instead, by construction:

* only a GPU worker sees the devices: every other worker, under ``--gpu`` too, has no device files
  in its sandbox and ``CUDA_VISIBLE_DEVICES`` empty (``Limits.worker_spec``), so no student code
  touches a card while loading or during the CPU tests;
* a GPU worker is started only while its grader holds the card's lease (an exclusive ``flock`` on a
  file named for the card, shared by every grader on the machine), and is killed before the lease
  is given back, which frees whatever it held on the card;
* the grader's own reference sampling for a GPU test runs while it holds the lease too.

So at most one submission's code, and the reference beside it, is on a card at any time; the GPU
tests of different submissions take turns (the CPU tests still run in parallel). Waiting for the
lease is the grader's time, never charged to a student: the grade's wall-clock deadline moves by
the time waited, and a grader that waits longer than ``WAIT_S`` fails that grade as its own failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time

LOCK_DIR = "/tmp/ditgrade-gpu-leases"
WAIT_S = 600.0  # a grader gives up waiting for a card after this long: the grader's failure, retried later
POLL_S = 0.2


class LeaseTimeout(RuntimeError):
    """The card stayed busy: not the student's doing (the batch reports the row and a rerun retries it)."""


def card() -> str:
    """The card this grader's GPU tests use: the first of CUDA_VISIBLE_DEVICES, else device 0."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return re.sub(r"[^A-Za-z0-9_-]", "_", visible)[:64] or "0"


class Lease:
    """The exclusive lease on one card; ``acquire()`` waits for it, ``release()`` gives it back."""

    def __init__(self, name: str | None = None, folder: str = LOCK_DIR):
        self.path = os.path.join(folder, f"card-{name or card()}.lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float = WAIT_S) -> float:
        """Wait for the lease (at most ``timeout`` seconds: LeaseTimeout); the seconds it took."""
        if self._fd is not None:
            return 0.0
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        with contextlib.suppress(OSError):  # graders of other users share the folder
            os.chmod(folder, 0o1777)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        start = time.monotonic()
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() - start > timeout:
                        raise LeaseTimeout(f"the GPU ({self.path}) stayed busy for {timeout:.0f} s") from None
                    time.sleep(POLL_S)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return time.monotonic() - start

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
