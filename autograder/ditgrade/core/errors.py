"""Why a probe produced no value: the student's code raised, hung, crashed, or is missing."""

from __future__ import annotations

NOT_IMPLEMENTED = "not_implemented"  # the stub still raises NotImplementedError
MISSING = "missing"  # the name is not defined in the submission
EXCEPTION = "exception"  # student code raised
TIMEOUT = "timeout"  # the call used up its time
CRASH = "crash"  # the student's process died or sent something unreadable
KINDS = (NOT_IMPLEMENTED, MISSING, EXCEPTION, TIMEOUT, CRASH)


class StudentError(Exception):
    """A probe call ended without a value; ``message`` is written for the student."""

    def __init__(self, kind: str, message: str, exc_type: str = ""):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.exc_type = exc_type  # e.g. "ValueError" when kind == EXCEPTION

    def __str__(self) -> str:
        return self.message


def from_raised(names: list[str], message: str) -> StudentError:
    """A StudentError for an exception the student's code raised (``names``: its class hierarchy)."""
    name = names[0] if names else "Exception"
    if "MissingName" in names:
        return StudentError(MISSING, message or "a name is not defined in the submission")
    if "NotImplementedError" in names:
        return StudentError(NOT_IMPLEMENTED, f"not implemented yet: {message or 'NotImplementedError'}",
                            "NotImplementedError")
    if "SystemExit" in names:
        return StudentError(EXCEPTION, f"called sys.exit({message})", name)
    return StudentError(EXCEPTION, f"{name}: {message}" if message else name, name)
