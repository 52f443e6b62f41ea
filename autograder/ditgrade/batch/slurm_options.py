"""How a batch is cut into Slurm jobs (``ditgrade grade --executor slurm``): light enough for the CLI
to import without submitit."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SlurmOptions:
    """How the submissions are cut into Slurm jobs; the defaults are ``ditgrade grade``'s."""

    partition: str | None = None
    gpus_per_job: int | None = None  # None: 1 with --gpu, else 0
    time_limit: int = 60  # minutes per job
    max_jobs: int = 8  # jobs running at once
    per_job: int = 25  # at most this many submissions per job
    cpus_per_job: int = 1  # a task runs that many warm workers
    mem_gb: float | None = None
    setup: tuple[str, ...] = ()  # shell lines each job runs first
    poll_s: float = 5.0  # how often the queue is asked ($DITGRADE_SLURM_POLL in tests)

    def __post_init__(self) -> None:
        for key, minimum in (("time_limit", 1), ("max_jobs", 1), ("per_job", 1), ("cpus_per_job", 1),
                             ("poll_s", 0.2)):
            if getattr(self, key) < minimum:
                raise ValueError(f"slurm option {key} must be at least {minimum}, not {getattr(self, key)}")

    def gpus(self, gpu: bool) -> int:
        return (1 if gpu else 0) if self.gpus_per_job is None else self.gpus_per_job

    @classmethod
    def from_env(cls, **given: Any) -> SlurmOptions:
        """The options ``given``, the poll interval from $DITGRADE_SLURM_POLL when it is not."""
        if "poll_s" not in given and os.environ.get("DITGRADE_SLURM_POLL"):
            given["poll_s"] = float(os.environ["DITGRADE_SLURM_POLL"])
        return cls(**given)
