"""Keep the worker's own code out of the student's reach, inside the student's process.

The probes and the encoder run in the same interpreter as the student's code, and Python has no
walls inside a process. What the worker does instead, once, before the first student statement:

* ``scrub(prefixes)`` takes the grader's modules out of ``sys.modules``: the worker keeps its own
  references, and a fresh import would read files the sandbox has hidden;
* ``install()`` adds an audit hook (it cannot be removed) that refuses the ways to the serve loop's
  objects that do not go through a frame: the garbage collector's object lists, other threads'
  frames, tracing, audit hooks of the student's (which would run on the serve loop's thread),
  ``ctypes``, replacing a function's code, new sockets, and writing the process's memory through
  ``/proc/self/mem``.

Frames themselves stay available (``torch.manual_seed`` walks the stack, and so do ``logging`` and
``namedtuple``): instead, student code runs on threads of its own (``ditgrade.worker.calls``), whose
frames lead nowhere near the serve loop. Student code can still change ``torch``, ``numpy`` or
builtins, which is why the encoder and the serve loop use references taken at import (see
``ditgrade.worker.codec``); the hook, too, uses only references it took when it was installed.
"""

from __future__ import annotations

import sys
import types

_DENIED = frozenset({
    # (not sys._getframemodulename: a module's name is no way in, and 3.12's namedtuple, enum and
    # typing ask for it whenever they make a class)
    "sys._current_frames", "sys.settrace", "sys.setprofile",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.remote_exec",
    "socket.__new__",  # the worker's channel is its own (see ditgrade.worker.seccomp); no network either
    # a hook of the student's would run on every thread that raises an event, the serve loop's included
    "sys.addaudithook",
})


def scrub(prefixes: tuple[str, ...]) -> None:
    """Remove every module named ``prefix`` or ``prefix.*`` from ``sys.modules``, and the fork
    server's ``__main__`` (the student's code gets a ``__main__`` of its own)."""
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            del sys.modules[name]
    sys.modules["__main__"] = types.ModuleType("__main__")


def collector_off() -> None:
    """Stop automatic garbage collection for good: a collection runs ``__del__`` of the student's on
    whichever thread triggers it, the serve loop's included. ``gc.enable`` and ``gc.set_threshold``
    are replaced (the serve loop and the call threads keep ``gc.disable`` and ``gc.collect``)."""
    import gc

    gc.disable()

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("automatic garbage collection stays off while grading")

    gc.enable = refuse
    gc.set_threshold = refuse


def install() -> None:
    """Add the audit hook described in the module docstring (for the rest of the process's life)."""
    import os.path

    realpath, basename = os.path.realpath, os.path.basename
    isinstance_, str_, bytes_ = isinstance, str, bytes
    denied = _DENIED
    watched = _DENIED | {"object.__setattr__", "open"}

    def hook(event: str, args: tuple) -> None:
        # The hook runs on every audited event, and ``builtins.id`` is by far the most frequent
        # (copy.deepcopy calls id() once per object: 21,000 times to copy a small U-Net), so
        # it is let through first; every other event pays one set lookup before the ctypes prefix.
        if event == "builtins.id":
            return
        if event not in watched:
            if event.startswith("ctypes."):
                raise RuntimeError(f"{event} is not available while grading")
            return
        if event in denied:
            raise RuntimeError(f"{event} is not available while grading")
        if event == "object.__setattr__" and args[1] == "__code__":
            raise RuntimeError("replacing a function's code is not allowed while grading")
        if event == "open" and isinstance_(args[0], (str_, bytes_)):
            path = args[0].decode(errors="replace") if isinstance_(args[0], bytes_) else args[0]
            if basename(path) == "mem" or basename(realpath(path)) == "mem":
                raise PermissionError("process memory is not available while grading")

    sys.addaudithook(hook)
