"""What an assignment's probes are made of: a registry, and the way to fetch a student's definition.

A probe is a grader-written function that runs in the student's (sandboxed) process: it takes plain
inputs from the grader (numbers, strings, numpy arrays, lists and dicts of these), builds what the
student's code needs, calls it, and returns what it got back, raw. It never judges: the grader
decodes the answer and compares it with values it computed itself. An assignment's ``probes``
module makes one registry and registers its probes with it::

    PROBES = Probes()

    @PROBES.register("normalize(x={x}, eps={eps})")
    def normalize(ns, x, eps):
        return get_student(ns, "normalize")(torch.from_numpy(x), eps)

The text given to ``register`` is how the call reads in a student's feedback: each ``{name}`` is
replaced by that argument (an array by its dtype and shape). Rules for a probe (the worker relies
on them to keep its own code out of the student's reach, see ``ditgrade.worker.guard``):

* return the student's objects as they are (tensors, arrays, numbers, lists, dicts, exceptions);
  the worker encodes them itself with references taken before any student code ran;
* do not hand the student a function or class defined in the probes module (hooks, callbacks):
  use bound methods of builtin objects (``store.__setitem__``) where a callback is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class MissingName(LookupError):
    """The submission does not define a name the probe needs."""


@dataclass(frozen=True)
class Probe:
    name: str
    fn: Callable[..., Any]
    call: str  # the call as the student reads it, e.g. "normalize(x={x}, eps={eps})"


class Probes:
    """An assignment's probes, by name."""

    def __init__(self) -> None:
        self.table: dict[str, Probe] = {}

    def register(self, call: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(fn: Callable[..., Any]) -> Callable[..., Any]:
            if fn.__name__ in self.table:
                raise ValueError(f"probe {fn.__name__!r} is registered twice")
            self.table[fn.__name__] = Probe(fn.__name__, fn, call or f"{fn.__name__}(...)")
            return fn

        return add

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {name: p.fn for name, p in self.table.items()}


def get_student(ns: dict, name: str) -> Any:
    """The student's definition of ``name``, or MissingName."""
    if name not in ns:
        raise MissingName(f"`{name}` is not defined in the submission")
    return ns[name]
