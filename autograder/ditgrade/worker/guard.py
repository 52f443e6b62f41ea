"""Keep the worker's own code out of the student's reach, inside the student's process.

The probes and the encoder run in the same interpreter as the student's code, and Python has no
walls inside a process. What the worker does instead, once, before the first student statement:

* ``scrub(prefixes)`` takes the grader's modules out of ``sys.modules``: the worker keeps its own
  references, and a fresh import would read files the sandbox has hidden;
* ``install()`` adds an audit hook (it cannot be removed) that refuses the ways to the serve loop's
  objects that do not go through a frame: the garbage collector's object lists, other threads'
  frames, tracing, audit hooks of the student's (which would run on the serve loop's thread), new
  interpreters (which would run without this hook) and CPython's test modules, ``ctypes``' audited
  events (loading a library among them; not its calls, see below), replacing a function's code,
  new sockets, writing the process's memory through ``/proc/self/mem``; and, on the serve loop's
  own thread, every way to a frame. It also makes every built-in module there is and takes
  ``_imp.create_builtin`` away: no second copy of one is made.

Frames themselves stay available (``torch.manual_seed`` walks the stack, and so do ``logging`` and
``namedtuple``): instead, student code runs on threads of its own (``ditgrade.worker.calls``), whose
frames lead nowhere near the serve loop. Student code would still run on the serve loop's thread if
anything turned automatic collection back on (a finalizer runs on whichever thread triggers a
collection: independent attack round 3 did it from a thread that outlived its call, with a fresh
``gc`` module, whose ``enable`` is the original; a built-in module is now made once), or if that
thread let go of the last reference to an object with a weakref callback of the student's (round 5:
the lock a call waits on, which ``ditgrade.worker.calls`` now keeps), or through CPython's pending
calls (round 5 again, through ``_testcapi``, now refused under any name; round 6 through greenlet,
which frees a finished thread's state that way, and through ``ctypes``, which torch imports before
any student code and whose calls through a pointer made from an address raise no audit event in
Python 3.11: this list cannot be complete). On that thread, besides, no frame is handed out at all
(``sys._getframe``, and a traceback's, generator's or coroutine's frame, each an audited event): the
serve loop never asks for one. That alone was not enough: a frame object made there without reading
one (a traceback of an exception the finalizer raised and kept) can be carried to a call thread and
read there, and its ``f_back`` leads to the serve loop (round 4 did exactly that and sent a reply of
its own). Which is why the grade never relies on the worker's honesty (see
``ditgrade.worker.main``): a forged reply is one more answer the student's process gave. Student
code can still change ``torch``, ``numpy`` or builtins, which is why the encoder and the serve loop
use references taken at import (see ``ditgrade.worker.codec``); the hook, too, takes its references
when it is installed (but its path check goes through ``posixpath``, whose module a student can
change, round 6 showed: the kernel refuses ``/proc/self/mem`` to the worker all the same, since it
is not dumpable).
"""

from __future__ import annotations

import sys
import types
from typing import NoReturn

_DENIED = frozenset({
    # (not sys._getframemodulename: a module's name is no way in, and 3.12's namedtuple, enum and
    # typing ask for it whenever they make a class)
    "sys._current_frames", "sys.settrace", "sys.setprofile",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.remote_exec",
    "socket.__new__",  # the worker's channel is its own (see ditgrade.worker.seccomp); no network either
    # a hook of the student's would run on every thread that raises an event, the serve loop's included
    "sys.addaudithook",
    # a new interpreter has no audit hook at all (this hook is the worker's interpreter's only): in one
    # made with _xxsubinterpreters, ctypes ran freely (found after attack round 4)
    "cpython.PyInterpreterState_New",
})
# CPython's own test modules, which no solution needs: _testcapi.run_in_subinterp makes an interpreter
# with no thread state current, so no hook of this interpreter hears of it (ctypes ran there too), and
# the rest are raw C-API helpers of the same kind. Refused at import, however they are loaded.
_TEST_MODULES = ("_test", "_xxtestfuzz", "_ctypes_test")
# Events that hand out a frame: sys._getframe, and "object.__getattr__" (a traceback's tb_frame, a
# generator's gi_frame, a coroutine's cr_frame and the like: CPython audits exactly those reads).
_FRAMES = frozenset({"sys._getframe", "object.__getattr__"})


def scrub(prefixes: tuple[str, ...], main: types.ModuleType | None = None) -> None:
    """Remove every module named ``prefix`` or ``prefix.*`` from ``sys.modules``, and the fork
    server's ``__main__``: the student's code gets ``main``, the module whose namespace it runs in
    (as IPython's ``__main__`` is the notebook's: dataclasses, pickle and typing look a class's
    module up there; independent attack round 12)."""
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            del sys.modules[name]
    sys.modules["__main__"] = main or types.ModuleType("__main__")


def collector_off() -> None:
    """Stop automatic garbage collection for good: a collection runs ``__del__`` of the student's on
    whichever thread triggers it, the serve loop's included. ``gc.enable`` and ``gc.set_threshold``
    are replaced (the serve loop and the call threads keep ``gc.disable`` and ``gc.collect``), and,
    once ``install`` has run, no second ``gc`` module can be made to bring the originals back."""
    import gc

    gc.disable()

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("automatic garbage collection stays off while grading")

    gc.enable = refuse
    gc.set_threshold = refuse


def install() -> None:
    """Add the audit hook described in the module docstring (for the rest of the process's life)."""
    import _imp
    import _thread
    import os.path

    realpath, basename = os.path.realpath, os.path.basename
    isinstance_, str_, bytes_ = isinstance, str, bytes
    get_ident, serve_loop = _thread.get_ident, _thread.get_ident()  # install runs on the serve loop's thread
    denied = _DENIED
    frames = _FRAMES
    watched = _DENIED | _FRAMES | {"object.__setattr__", "open", "import"}
    test_modules = _TEST_MODULES
    # unbound, so that a str subclass's own startswith or rpartition is never asked
    startswith, rpartition = str.startswith, str.rpartition

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
        if event in frames:
            if get_ident() == serve_loop:
                raise RuntimeError("frames are not available on the worker's own thread")
            return
        if event == "import":
            # By the name's last part (an extension module's init function is named after it, so a
            # package prefix changes nothing) and, when it is loaded from a file, by the file's name.
            name, path = args[0], args[1]
            if (isinstance_(name, str_) and startswith(rpartition(name, ".")[2], test_modules)) or (
                    isinstance_(path, str_) and startswith(rpartition(path, "/")[2], test_modules)):
                raise ImportError("CPython's test modules are not available while grading")
            return
        if event == "object.__setattr__" and args[1] == "__code__":
            raise RuntimeError("replacing a function's code is not allowed while grading")
        if event == "open" and isinstance_(args[0], (str_, bytes_)):
            path = args[0].decode(errors="replace") if isinstance_(args[0], bytes_) else args[0]
            if basename(path) == "mem" or basename(realpath(path)) == "mem":
                raise PermissionError("process memory is not available while grading")

    sys.addaudithook(hook)
    # Built-in modules exist once: a second copy of one holds the original functions of the first (a
    # fresh gc's enable turned automatic collection back on, so that a finalizer ran on the serve
    # loop's thread). So every one is made now, and ``_imp.create_builtin`` is gone: nothing keeps
    # the original (the hook above holds nothing a student may not have, since its frame is in the
    # traceback of everything it refuses).
    for name in sys.builtin_module_names:
        if name not in sys.modules:
            __import__(name)
    _imp.create_builtin = _no_second_builtin


def _no_second_builtin(spec: object) -> NoReturn:
    """``_imp.create_builtin`` once the hook is installed: every built-in module is made already."""
    raise ImportError("a second copy of a built-in module is not available while grading")
