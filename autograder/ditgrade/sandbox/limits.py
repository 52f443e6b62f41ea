"""What one submission may use, from the grading settings (``ditgrade.config``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A worker shares the fork server's pages until it writes to them; the pages it copies (reference
# counts touched, torch's caches) and the modules it imports beyond the preloaded ones are charged
# to its control group on top of what it allocates. Grading the reference peaks at 36 MiB.
CGROUP_BASE_MB = 256


@dataclass
class Limits:
    # CPU seconds (budgets count CPU time, so a busy machine does not cost a student points)
    call_cpu_s: float = 20.0  # one probe call
    question_cpu_s: float = 22.0  # all calls of one question's tests
    statement_cpu_s: float = 10.0  # one top-level statement of the submission, at load
    load_cpu_s: float = 30.0  # all of them, each time a worker starts
    idle_s: float = 20.0  # wall seconds a call may spend neither computing nor waiting for a CPU
    wall_factor: float = 10.0  # wall-clock backstop: this many times the CPU budget
    memory_mb: int = 192  # address space a worker may add to what it has at fork
    gpu_memory_mb: int = 16384  # data segment a worker may add under --gpu (CUDA needs address space)
    file_mb: int = 16
    nproc: int = 64  # processes and threads of the worker's uid
    tmp_mb: int = 64  # its private /tmp (and /dev/shm), which vanish with it
    tmp_inodes: int = 4096
    output_kb: int = 16  # of the student's stdout/stderr kept for staff
    max_answer_mb: int = 64  # one answer on the wire, refused before it is read
    gpu: bool = False
    readable: list[str] = field(default_factory=list)  # extra folders a worker may read (model weights)
    hide: list[str] = field(default_factory=list)  # folders a worker must not see, wherever they are

    @classmethod
    def from_config(cls, cfg: dict[str, Any], *, gpu: bool = False) -> Limits:
        limits = cls(call_cpu_s=float(cfg["call_cpu_s"]), question_cpu_s=float(cfg["question_cpu_s"]),
                     statement_cpu_s=float(cfg["statement_cpu_s"]), load_cpu_s=float(cfg["load_cpu_s"]),
                     idle_s=float(cfg["call_cpu_s"]), wall_factor=float(cfg["wall_factor"]),
                     memory_mb=int(cfg["memory_limit_mb"]), gpu_memory_mb=int(cfg["gpu_memory_limit_mb"]),
                     output_kb=int(cfg["output_kb"]), gpu=gpu)
        if gpu:  # loading large models and sampling on a GPU: mostly waiting for the device
            limits.call_cpu_s = limits.idle_s = float(cfg["gpu_call_s"])
            limits.question_cpu_s = max(limits.question_cpu_s, 3 * limits.call_cpu_s)
        return limits

    def submission_wall_s(self, questions: int) -> float:
        """Wall-clock seconds one submission may take in all: every CPU budget at its backstop."""
        return self.wall_factor * (self.load_cpu_s + questions * self.question_cpu_s)

    @property
    def cgroup_memory_mb(self) -> int:
        """Memory a worker's control group may hold, all its processes together (see ``CGROUP_BASE_MB``)."""
        return CGROUP_BASE_MB + (self.gpu_memory_mb if self.gpu else self.memory_mb)

    @property
    def total_cpu_s(self) -> float:
        """The kernel's backstop on one worker's CPU time (RLIMIT_CPU)."""
        return self.load_cpu_s + 8 * self.question_cpu_s

    def worker_spec(self, uid: int, env: dict[str, str]) -> dict:
        """What the worker applies to itself (``ditgrade.worker.isolate.confine``)."""
        return {"uid": uid, "gpu": self.gpu, "memory_mb": self.memory_mb, "gpu_memory_mb": self.gpu_memory_mb,
                "cgroup_memory_mb": self.cgroup_memory_mb,
                "cpu_s": int(self.total_cpu_s), "file_mb": self.file_mb, "nproc": self.nproc,
                "tmp_mb": self.tmp_mb, "tmp_inodes": self.tmp_inodes, "output_kb": self.output_kb,
                "hide": list(self.hide), "readable": list(self.readable), "env": env}
