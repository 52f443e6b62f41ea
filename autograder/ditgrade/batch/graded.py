"""One row of a batch: a submission and its results (read by the tables and the report)."""

from __future__ import annotations

from dataclasses import dataclass

from .discover import Submission


@dataclass
class Graded:
    """A submission and its (possibly cached) results.json."""

    sub: Submission
    results: dict
    status: str  # "graded" or "error: ..."
    seconds: float
    cached: bool = False
