"""Whether this process has held data a sandboxed worker must never inherit, or state a fork
cannot carry.

A fork server forked from the grader shares the grader's memory pages, freed ones included; that is
safe only while the grader has read no submission and no secret (hidden tests, the reference).
Code that reads either calls ``mark``; so does code that starts the CUDA driver (a forked child
of such a process cannot use CUDA). ``ditgrade.sandbox.forkserver_client`` forks only while ``clean()``.
"""

from __future__ import annotations

_READ: list[str] = []


def mark(what: str) -> None:
    """Record that this process has read ``what`` (a submission, the reference, the hidden tests)
    or started it (the CUDA driver)."""
    if what not in _READ:
        _READ.append(what)


def clean() -> bool:
    return not _READ


def reasons() -> list[str]:
    return list(_READ)
