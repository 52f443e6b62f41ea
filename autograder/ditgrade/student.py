"""How hidden tests reach student code: through a Runner, never by importing it.

A hidden test asks a Runner to run a *probe* (a named, grader-written operation such as
"patchify this array") against the student's namespace, and gets back plain data decoded by
``ditgrade.codec``. The sandboxed runner (``ditgrade.sandbox``) runs probes in a separate,
unprivileged process; ``InProcessRunner`` runs them here, for fast checks of trusted code
(the reference solution, the project's mutation bank). Both return the same decoded values.
"""

from __future__ import annotations

from typing import Any, Protocol

from . import codec

# Kinds of StudentError, as shown in feedback.
NOT_IMPLEMENTED = "not_implemented"  # the stub still raises NotImplementedError
MISSING = "missing"  # the name is not defined in the submission
EXCEPTION = "exception"  # student code raised
TIMEOUT = "timeout"  # the call ran past its time limit
CRASH = "crash"  # the student process died or sent garbage


class StudentError(Exception):
    """A probe could not produce a value: the student's code raised, hung, crashed or is missing."""

    def __init__(self, kind: str, message: str, exc_type: str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.exc_type = exc_type  # e.g. "ValueError" when kind == EXCEPTION

    def __str__(self) -> str:
        return self.message


class Runner(Protocol):
    def call(self, probe: str, /, **kwargs: Any) -> Any:
        """Run probe ``probe`` with ``kwargs``; return plain data or raise StudentError."""
        ...


def get_student(ns: dict, name: str) -> Any:
    """The student's definition of ``name``, or StudentError(MISSING)."""
    if name not in ns:
        raise StudentError(MISSING, f"`{name}` is not defined in the submission")
    return ns[name]


def describe_exception(e: BaseException) -> StudentError:
    """Turn an exception raised by student code into a StudentError with a short message."""
    if isinstance(e, StudentError):
        return e
    if isinstance(e, NotImplementedError):
        return StudentError(NOT_IMPLEMENTED, f"not implemented yet ({str(e)[:300] or 'NotImplementedError'})",
                            "NotImplementedError")
    name = type(e).__name__
    try:
        text = str(e)
    except Exception:  # a hostile exception whose __str__ raises
        text = "<unprintable>"
    return StudentError(EXCEPTION, f"{name}: {text[:500]}", name)


class InProcessRunner:
    """Runs probes in this process on a namespace. For trusted code only (reference, tests)."""

    def __init__(self, namespace: dict):
        self.namespace = namespace

    def call(self, probe: str, /, **kwargs: Any) -> Any:
        from .probes import PROBES

        try:
            value = PROBES[probe](self.namespace, **kwargs)
            # Round-trip through the wire format so results look exactly like sandboxed ones.
            return codec.decode(codec.encode(value))
        except codec.CodecError as e:
            raise StudentError(CRASH, f"returned a value the grader cannot read: {e}") from None
        except Exception as e:
            raise describe_exception(e) from None


def namespace_from_source(source: str, filename: str = "<submission>") -> dict:
    """Execute trusted source (reference or bank mutant) into a fresh namespace."""
    ns: dict = {"__name__": "submission"}
    exec(compile(source, filename, "exec"), ns)
    return ns
