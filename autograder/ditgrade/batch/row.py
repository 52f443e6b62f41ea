"""One row of a batch: a submission and its results (read by the tables and the report).

A row's ``status`` is one of three kinds, which decide where it counts:

    graded                  a grade: in the statistics and the upload files
    unreadable: <why>       the student's file could not be read (empty, truncated, not text), or
                            their folder holds nothing or several candidates to grade: named in the
                            terminal, kept out of the statistics and the upload files; not a failure
    error: <message>        the grader itself failed: retried on a rerun, exit status 1
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.results import Grade
from .discover import Submission

GRADED = "graded"
UNREADABLE = "unreadable"
ERROR = "error"


@dataclass
class Row:
    """A submission and its (possibly cached) grade."""

    sub: Submission
    results: Grade
    status: str  # "graded", "unreadable: <why>" or "error: <message>"
    seconds: float
    cached: bool = False

    @property
    def kind(self) -> str:
        """GRADED, UNREADABLE or ERROR."""
        return self.status.split(":", 1)[0]

    @property
    def graded(self) -> bool:
        return self.status == GRADED

    @property
    def reason(self) -> str:
        """Why it was not graded ("" when it was)."""
        return self.status.split(":", 1)[1].strip() if ":" in self.status else ""


def unreadable_status(reason: str) -> str:
    return f"{UNREADABLE}: {reason}"
