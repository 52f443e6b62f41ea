"""What one submission may use, from the grading settings (``ditgrade.config``).

Budgets are CPU seconds and *idle* seconds (wall time spent neither computing nor waiting for a
CPU), so that a busy machine costs no student a point; the student's own time of one submission,
every load and call together, is bounded too (``submission_s``). A wall-clock deadline for the
whole grade (``submission_wall_s``) is the backstop that keeps a grade inside a platform's timeout
(Gradescope stops one at 10 minutes) whatever the machine is doing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Settings
from ..worker.spec import WorkerSpec

# A worker shares the fork server's pages until it writes to them; the pages it copies (reference
# counts touched, torch's caches) and the modules it imports beyond the preloaded ones are charged
# to its control group on top of what it allocates. Grading the reference peaks at 36 MiB.
CGROUP_BASE_MB = 256
READ_CPU_S = 10.0  # reading (parsing) a submission, before any of its code runs


@dataclass
class Limits:
    # CPU seconds (budgets count CPU time, so a busy machine does not cost a student points)
    call_cpu_s: float = 20.0  # one probe call
    question_cpu_s: float = 22.0  # all calls of one question's tests
    statement_cpu_s: float = 10.0  # one top-level statement of the submission
    load_cpu_s: float = 30.0  # the top-level code of one load (definitions still run after it is used up)
    idle_s: float = 20.0  # seconds one call or statement may wait without computing (sleeping, blocked)
    submission_s: float = 240.0  # the student's own time (CPU + idle) of one submission, all loads and calls
    submission_wall_s: float = 420.0  # wall-clock deadline of one submission's whole grade
    wall_factor: float = 10.0  # wall-clock backstop of one call: this many times its CPU budget
    memory_mb: int = 192  # address space a worker may add to what it has at fork
    gpu_call_s: float = 180.0  # one call of a GPU test (loading and sampling), CPU and idle alike
    gpu_memory_mb: int = 16384  # data segment a GPU worker may add (CUDA needs address space)
    file_mb: int = 16
    nproc: int = 64  # processes and threads of the worker's uid
    tmp_mb: int = 64  # its private /tmp (and /dev/shm), which vanish with it
    tmp_inodes: int = 4096
    output_kb: int = 16  # of the student's stdout/stderr kept for staff
    max_answer_mb: int = 64  # one answer on the wire, refused before it is read
    gpu: bool = False  # the GPU tests run (in a worker of their own, see SandboxRunner)
    readable: list[str] = field(default_factory=list)  # extra folders a worker may read (model weights)
    hide: list[str] = field(default_factory=list)  # folders a worker must not see, wherever they are

    @classmethod
    def from_settings(cls, cfg: Settings, *, gpu: bool = False) -> Limits:
        return cls(call_cpu_s=float(cfg.call_cpu_s), question_cpu_s=float(cfg.question_cpu_s),
                   statement_cpu_s=float(cfg.statement_cpu_s), load_cpu_s=float(cfg.load_cpu_s),
                   idle_s=float(cfg.idle_s), submission_s=float(cfg.submission_s),
                   submission_wall_s=float(cfg.submission_wall_s), wall_factor=float(cfg.wall_factor),
                   memory_mb=int(cfg.memory_limit_mb), gpu_call_s=float(cfg.gpu_call_s),
                   gpu_memory_mb=int(cfg.gpu_memory_limit_mb), output_kb=int(cfg.output_kb), gpu=gpu)

    def for_gpu_tests(self) -> Limits:
        """The budgets of the GPU tests: loading large models and sampling, mostly waiting for the device."""
        gpu_s = self.gpu_call_s
        return Limits(**{**vars(self), "call_cpu_s": gpu_s, "idle_s": gpu_s,
                         "question_cpu_s": max(self.question_cpu_s, 3 * gpu_s),
                         "submission_s": self.submission_s + 3 * gpu_s,
                         "submission_wall_s": self.submission_wall_s + 3 * gpu_s})

    @property
    def cgroup_memory_mb(self) -> int:
        """Memory a worker's control group may hold, all its processes together (see ``CGROUP_BASE_MB``)."""
        return CGROUP_BASE_MB + self.memory_mb

    @property
    def total_cpu_s(self) -> float:
        """The kernel's backstop on one worker's CPU time (RLIMIT_CPU)."""
        return self.submission_s + READ_CPU_S

    def worker_spec(self, uid: int, env: dict[str, str], *, gpu: bool = False) -> WorkerSpec:
        """What the worker applies to itself (``ditgrade.worker.isolate.confine``). Only a GPU worker
        (``gpu``) sees the GPU devices; every other worker has none, even under ``--gpu``."""
        memory = self.gpu_memory_mb if gpu else self.memory_mb
        cpu = self.total_cpu_s + (3 * self.gpu_call_s if gpu else 0)
        return WorkerSpec(uid=uid, gpu=gpu, memory_mb=self.memory_mb, gpu_memory_mb=self.gpu_memory_mb,
                          cgroup_memory_mb=CGROUP_BASE_MB + memory, cpu_s=int(cpu), file_mb=self.file_mb,
                          nproc=self.nproc, tmp_mb=self.tmp_mb, tmp_inodes=self.tmp_inodes,
                          output_kb=self.output_kb, hide=tuple(self.hide), readable=tuple(self.readable),
                          # a CPU worker sees no GPU: on a CUDA build of torch, torch.cuda.is_available()
                          # would ask NVML through ctypes, which the audit hook refuses
                          env=env if gpu else {**env, "CUDA_VISIBLE_DEVICES": ""})
