"""Probes: grader-written operations that run student code and return plain data.

A probe runs in the student's (sandboxed) process, on the student's namespace ``ns``. It takes
plain inputs (numpy arrays, numbers, strings) from the grader, calls student code, and returns
plain data (arrays, tensors, numbers, strings) that ``ditgrade.codec`` can encode. A probe never
judges: expected values exist only in the grader's process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .student import get_student

PROBES: dict[str, Callable[..., Any]] = {}


def probe(fn: Callable[..., Any]) -> Callable[..., Any]:
    PROBES[fn.__name__] = fn
    return fn


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True))


@probe
def patchify(ns: dict, z: np.ndarray, p: int) -> Any:
    """The student's patchify(z, p) on a fresh tensor."""
    return get_student(ns, "patchify")(_tensor(z), p)


@probe
def gpu_generate(ns: dict, source: str, class_labels: list, guidance_scale: float, steps: int, seed: int,
                 dtype: str = "float16", device: str = "cuda") -> Any:
    """q5's GPU job: the student's generate(pipe, ...) on the DiT pipeline ``source`` (a folder,
    ``random-xl2`` or ``tiny``; see ditgrade.sampling), loaded once per process and timed.

    Returns {"images": what generate returned, "type": its type name, "seconds", "peak_gib",
    "weights", "model"}.
    """
    from .sampling import run_student_generate

    return run_student_generate(get_student(ns, "generate"), source=source, class_labels=class_labels,
                                guidance_scale=guidance_scale, steps=steps, seed=seed, dtype=dtype, device=device)
