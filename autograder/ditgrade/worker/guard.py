"""Keep the worker's own code out of the student's reach, inside the student's process.

The probes and the encoder run in the same interpreter as the student's code, and Python has no
walls inside a process. What the worker does instead, once, before the first student statement:

* ``scrub(prefixes)`` takes the grader's modules out of ``sys.modules``: the worker keeps its own
  references, and a fresh import would read files the sandbox has hidden;
* ``install()`` adds an audit hook (it cannot be removed) that refuses the ways to the serve loop's
  objects that do not go through a frame: the garbage collector's object lists, other threads'
  frames, tracing, audit hooks of the student's (which would run on the serve loop's thread), new
  interpreters (which would run without this hook) and CPython's test modules, ``ctypes``,
  replacing a function's code, new sockets, writing the process's memory through
  ``/proc/self/mem``, and a second copy of a built-in module (``_imp.create_builtin`` goes through
  the hook); and, on the serve loop's own thread, every way to a frame.

Frames themselves stay available (``torch.manual_seed`` walks the stack, and so do ``logging`` and
``namedtuple``): instead, student code runs on threads of its own (``ditgrade.worker.calls``), whose
frames lead nowhere near the serve loop. Student code can still end up running on the serve loop's
thread if anything turns automatic collection back on: a finalizer runs on whichever thread
triggers a collection. Independent attack round 3 did it from a thread that outlived its call, with
a fresh ``gc`` module, whose ``enable`` is the original; a built-in module is now made once. On that
thread, besides, no frame is handed out at all (``sys._getframe``, and a traceback's, generator's or
coroutine's frame, each an audited event): the serve loop never asks for one. That alone was not
enough: a frame object made there without reading one (a traceback of an exception the finalizer
raised and kept) can be carried to a call thread and read there, and its ``f_back`` leads to the
serve loop (round 4 did exactly that and sent a reply of its own). Which is why the grade never
relies on the worker's honesty (see ``ditgrade.worker.main``): a forged reply is one more answer the
student's process gave. Student code can still change ``torch``, ``numpy`` or builtins, which is
why the encoder and the serve loop use references taken at import (see ``ditgrade.worker.codec``);
the hook, too, uses only references it took when it was installed.
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
# The event through which ``_imp.create_builtin`` asks the hook for a module (see ``install``).
_MAKE_BUILTIN = "ditgrade.create_builtin"
_audit = sys.audit


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
    watched = _DENIED | _FRAMES | {"object.__setattr__", "open", "import", _MAKE_BUILTIN}
    test_modules = _TEST_MODULES
    # Built-in modules exist once: a second copy of one holds the original functions of the first
    # (a fresh gc's enable turned automatic collection back on, so that a finalizer ran on the serve
    # loop's thread). Those loaded now, and each one made from here on, are made.
    create_builtin, made = _imp.create_builtin, set(sys.builtin_module_names) & set(sys.modules)
    make_builtin, type_, getattr_, namespace = _MAKE_BUILTIN, type, getattr, types.SimpleNamespace

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
        if event == make_builtin:
            name, out = getattr_(args[0], "name", None), args[1]
            if type_(name) is not str_ or name in made:
                raise ImportError(f"a second copy of the built-in module {name!r} is not available while grading")
            made.add(name)
            # the module is made from a spec of a builtin type, which no student code can rewrite
            out.append(create_builtin(namespace(name=name)))
            return
        if event == "import":
            if isinstance_(args[0], str_) and args[0].startswith(test_modules):
                raise ImportError(f"{args[0]} is not available while grading")
            return
        if event == "object.__setattr__" and args[1] == "__code__":
            raise RuntimeError("replacing a function's code is not allowed while grading")
        if event == "open" and isinstance_(args[0], (str_, bytes_)):
            path = args[0].decode(errors="replace") if isinstance_(args[0], bytes_) else args[0]
            if basename(path) == "mem" or basename(realpath(path)) == "mem":
                raise PermissionError("process memory is not available while grading")

    sys.addaudithook(hook)
    _imp.create_builtin = _create_builtin


def _create_builtin(spec: object) -> object:
    """``_imp.create_builtin`` as the worker leaves it: the audit hook makes the module, or refuses a
    second copy of one (see ``install``). The original is held by the hook alone, out of reach."""
    made: list = []
    _audit(_MAKE_BUILTIN, spec, made)
    return made[0]
