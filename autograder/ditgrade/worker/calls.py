"""Where student code runs inside the worker: a fresh thread per statement and per probe call.

The worker's serve loop (``ditgrade.worker.main``) runs on the main thread and never touches a
student object: it hands each request's bytes to ``call(task, *args)``, which runs ``task`` on a
new thread and waits; the thread writes the *bytes* of its outcome into a ``bytearray`` the serve
loop owns, and the serve loop copies them out. Everything that can run student code, the call
itself and the encoding of what it returned or raised (an exception's ``__str__``, a value's
``__class__`` or ``__torch_dispatch__``), happens on that thread. A frame of student code leads,
through ``f_back``, only to the task and to ``_run`` at its thread's start: never to the serve loop,
whose references (the channel, the probe table) live on the main thread alone. Nor does the serve
loop's thread ever let go of the last reference to an object found there that takes a weakref (its
callback would run on that thread): each call's locks are kept. A call's thread ends only when the
next request comes (see ``_run``).

``caller()`` and ``pristine()`` are made before any student code runs and use only what they
captured then: the C-level ``_thread`` primitives, which no monkeypatch of ``threading`` reaches.
"""

from __future__ import annotations

import _thread
import types
from collections.abc import Callable


def _run(out: bytearray, done: object, go: object, begin: tuple, task: Callable, args: tuple) -> None:
    try:
        begin[0](*begin[1])
        out[:] = task(*args)
    except BaseException:  # noqa: BLE001, S110 - the task writes its own outcome; no bytes means "lost"
        pass
    finally:
        done.release()
        out = task = args = None  # what the call held goes now; only the thread waits
        # Parked until the next request: the grader reads each thread's wait for a CPU (what load
        # adds, never charged to the student) from /proc, where an ended thread's count is gone. A
        # thread that ended before the grader's last reading of its call would have its wait
        # charged as idle time, more of it the busier the machine.
        go.acquire()


def caller(begin: tuple[Callable, tuple]) -> Callable[..., bytes]:
    """``call(task, *args) -> bytes``: what ``task(*args)`` returned (its outcome, encoded), run on a
    thread of its own after ``begin``'s function on its arguments (what each new thread needs first,
    taken before any student code ran); b"" when it wrote nothing (it failed, or the thread could not
    start). ``begin`` is a tuple, its function a builtin and its arguments plain: a student who finds
    it in ``_run``'s frame can change none of them (a ``functools.partial`` can be rewritten in
    place, an independent attack round found)."""
    start, new_lock, run, bytes_ = _thread.start_new_thread, _thread.allocate_lock, _run, bytes
    bytearray_, BaseException_ = bytearray, BaseException
    # Each call's locks, kept for the worker's life (about 120 bytes a call). A student reaches them
    # in ``_run``'s frame and can hang a weakref callback on one; were ``call`` to let go of the last
    # reference, that callback would run here, on the serve loop's thread (independent attack round
    # 5 did, and walked from there to the channel). The rest that ``call`` lets go of (a bytearray,
    # tuples) takes no weakref.
    locks: list = []
    keep = locks.append
    parked: list = []  # the lock the last call's thread waits on before it ends (see _run)
    park, unpark = parked.append, parked.pop

    def call(task: Callable, *args: object) -> bytes:
        if parked:
            try:
                unpark().release()
            except BaseException_:  # noqa: BLE001, S110 - released already (by the student): it has gone
                pass
        out = bytearray_()
        done, go = new_lock(), new_lock()
        keep(done)
        keep(go)
        done.acquire()
        go.acquire()
        try:
            start(run, (out, done, go, begin, task, args))
        except BaseException_:  # noqa: BLE001 - no thread (the student's processes used them up)
            return b""
        done.acquire()  # released by _run when the call is over, whatever happened in it
        park(go)
        return bytes_(out)

    return call


def pristine(probes: dict[str, Callable]) -> dict[str, Callable[[], Callable]]:
    """{name: make}, where ``make()`` gives a fresh copy of that probe over a fresh copy of its
    module's namespace as it was when ``pristine`` was called (before any student code ran), with
    its module's other functions rebuilt over the same copy. What a student changes in a probe's
    namespace during one call is gone by the next; and ``make`` itself only copies a dict and builds
    functions (C code): it never looks at an object a student could have changed."""
    function, dict_ = types.FunctionType, dict
    modules: dict[int, tuple[dict, list]] = {}
    makers = {}
    for name, fn in probes.items():
        key = id(fn.__globals__)
        if key not in modules:
            original = dict_(fn.__globals__)
            own = [(k, v.__code__, v.__name__, v.__defaults__, v.__kwdefaults__, v.__closure__)
                   for k, v in original.items()
                   if isinstance(v, types.FunctionType) and v.__globals__ is fn.__globals__]
            modules[key] = (original, own)
        original, own = modules[key]
        slot = next(k for k, v in original.items() if v is fn)

        def make(original: dict = original, own: list = own, slot: str = slot) -> Callable:
            namespace = dict_(original)
            for k, code, fname, defaults, kwdefaults, closure in own:
                f = function(code, namespace, fname, defaults, closure)
                if kwdefaults is not None:
                    f.__kwdefaults__ = dict_(kwdefaults)
                namespace[k] = f
            return namespace[slot]

        makers[name] = make
    return makers
