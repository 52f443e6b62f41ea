"""How hidden tests reach student code: through a Runner, never by importing it.

A hidden test asks a Runner to run a *probe* (see ``ditgrade.worker.probe``) against the student's
namespace and gets back plain data (``ditgrade.core.values``). ``ditgrade.sandbox.SandboxRunner``
runs probes in a sandboxed worker; ``InProcessRunner`` runs them here, for trusted code (the
reference, the bank of correct styles and mutants). Both return the same decoded values and raise
the same ``StudentError``s, whose messages name the call and the shapes of its inputs.
"""

from __future__ import annotations

import string
from typing import Any, Protocol

import numpy as np

from ..worker.probe import Probes
from .errors import CRASH, StudentError, from_raised
from .values import roundtrip


class Runner(Protocol):
    """Runs a submission's probes. A sandbox's runner also has ``submission_key``, a digest of the
    student's code (read through ``core.compare.submission_key``, which gives "" where it is absent)."""

    def call(self, probe: str, /, **kwargs: Any) -> Any:
        """Run probe ``probe`` with ``kwargs``; return plain data or raise StudentError."""
        ...


def render_argument(value: Any) -> str:
    """An argument as it reads in feedback: arrays by dtype and shape, the rest by a short repr."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} [{', '.join(str(s) for s in value.shape)}]"
    if isinstance(value, dict):
        return "{...}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def describe_call(template: str, kwargs: dict[str, Any]) -> str:
    """``template`` (e.g. "normalize(x={x}, eps={eps})") with each argument rendered."""
    try:
        return string.Formatter().vformat(template, (), _Keep({k: render_argument(v) for k, v in kwargs.items()}))
    except (ValueError, IndexError):
        return template


def with_call(error: StudentError, call: str) -> StudentError:
    """``error`` with the call it happened in, for the kinds where the call is news to the student."""
    if error.kind in ("exception", "timeout", "crash") and call and not error.message.startswith(call):
        return StudentError(error.kind, f"{call}: {error.message}", error.exc_type)
    return error


class InProcessRunner:
    """Runs probes in this process on a namespace. For trusted code only (reference, bank)."""

    def __init__(self, namespace: dict, probes: Probes):
        self.namespace = namespace
        self.probes = probes

    def call(self, probe: str, /, **kwargs: Any) -> Any:
        p = self.probes.table[probe]
        try:
            value = p.fn(self.namespace, **kwargs)
        except Exception as e:
            error = from_raised([c.__name__ for c in type(e).__mro__], _message(e))
            raise with_call(error, describe_call(p.call, kwargs)) from None
        try:
            return roundtrip(value)  # exactly what a sandboxed worker would have sent
        except ValueError as e:
            raise StudentError(CRASH, f"{describe_call(p.call, kwargs)} returned a value the grader cannot "
                                      f"read: {e}") from None


def _message(e: BaseException) -> str:
    try:
        return str(e)[:2000]
    except Exception:  # a hostile exception whose __str__ raises
        return "<unprintable>"


def namespace_from_source(source: str, filename: str = "<submission>") -> dict:
    """Execute trusted source (the reference, a bank entry) into a fresh namespace."""
    ns: dict = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), ns)
    return ns
