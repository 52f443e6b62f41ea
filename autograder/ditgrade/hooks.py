"""What an assignment's grading folder tells the engine: one declared interface (like pytest's hook
specifications), nothing looked up by name.

A grading folder ``<package>/`` holds ``hooks.py`` with ``HOOKS``, an instance of a subclass of
``AssignmentHooks`` that overrides what it needs::

    class Hooks(AssignmentHooks):
        preload = ("numpy", "torch", "<package>.models")

        def warm(self) -> None:
            models.build_the_shared_ones()

    HOOKS = Hooks()

The engine imports ``<package>.hooks`` (in the grader, and in the fork server, a process of its
own, by that name) and calls these, and only these. The rest of the layout is fixed: the probes in
``<package>/probes.py`` (``PROBES``), the hidden tests in ``<package>/hidden/``, the generated files
in ``<package>/generated/`` (see ``ditgrade.core.assignment``). Everything an author imports from the
engine comes from ``ditgrade.api``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .worker.probe import Probes


class AssignmentHooks:
    """The defaults: nothing preloaded or warmed, no extra folder, CUDA as torch sees it, no variables."""

    # Modules imported once by the fork server, before any worker is forked: every worker shares
    # them and never reads their files (the sandbox hides nothing a preloaded module needs). The
    # libraries among them (modules outside the grading folder) the grader imports before it forks
    # its fork server, so that the two share their pages.
    preload: tuple[str, ...] = ()
    # Modules only the sandboxed workers need (what students' notebooks import, not the hidden
    # tests): imported by the fork server alone, while the grader goes on with its own preparation.
    preload_workers: tuple[str, ...] = ()

    def warm(self) -> None:
        """Work every grade would repeat (building the same models), done once after the preload in
        the grader and in the fork server, before any worker is forked, and shared by every process."""

    def warm_workers(self) -> None:
        """Work done once in the fork server only, after ``warm``, for the workers alone (e.g. spare
        copies of objects that a probe call would otherwise copy): every worker inherits the result,
        the grader never holds it. Only where a process grades many submissions (a batch's workers,
        an audit): in a single grade it would delay the one worker more than it saves."""

    def prepare_students(self) -> None:
        """Set up what the students' code runs with, once in the fork server after the preload and
        the warm-up, before any worker is forked (e.g. a library told what the sandbox cannot do);
        never in the grader. Unlike ``warm``, a failure here stops the fork server: it decides how
        students' code runs, not how fast."""

    def readable_paths(self, gpu: bool) -> list[str]:
        """Folders a sandboxed worker may read besides the interpreter's (model weights for ``--gpu``)."""
        return []

    def gpu_available(self) -> bool:
        """Whether this machine can run the GPU tests (asking may start CUDA in the grader)."""
        import torch

        return torch.cuda.is_available()

    def environment(self) -> dict[str, str]:
        """Variables set in the grader and in every worker (e.g. to keep a library offline)."""
        return {}


def load(package: str) -> AssignmentHooks:
    """``<package>.hooks.HOOKS``, checked; ``LookupError`` saying what is missing."""
    try:
        module = importlib.import_module(f"{package}.hooks")
    except ModuleNotFoundError as e:
        if e.name != f"{package}.hooks":
            raise
        raise LookupError(f"the grading folder {package!r} has no hooks.py (HOOKS = an AssignmentHooks)") from None
    hooks = getattr(module, "HOOKS", None)
    if not isinstance(hooks, AssignmentHooks):
        raise LookupError(f"{package}.hooks.HOOKS is not an instance of ditgrade.api.AssignmentHooks")
    return hooks


def probes(package: str) -> Probes:
    """``<package>.probes.PROBES``, checked."""
    from .worker.probe import Probes

    registry = getattr(importlib.import_module(f"{package}.probes"), "PROBES", None)
    if not isinstance(registry, Probes):
        raise LookupError(f"{package}.probes.PROBES is not a ditgrade.api.Probes")
    return registry
