"""Where student code runs inside the worker: a fresh thread per statement and per probe call.

A frame of student code leads, through ``f_back``, only to the probe that called it and to
``_run`` at its thread's start: never to the serve loop, whose references (the encoder, the
channel) live on the worker's main thread. ``caller()`` is made before any student code runs and
uses only what it captured then: the C-level ``_thread`` primitives, which no monkeypatch of
``threading`` reaches. The student can reach this module; it holds nothing else.
"""

from __future__ import annotations

import _thread
import types
from collections.abc import Callable


def _run(store: list, done: object, fn: Callable, args: tuple, kwargs: dict) -> None:
    try:
        store.append((True, fn(*args, **kwargs)))
    except BaseException as e:  # noqa: BLE001 - whatever the student's code raised, even SystemExit
        store.append((False, e))
    finally:
        done.release()


def caller() -> Callable[..., tuple[bool, object]]:
    """``call(fn, *args, **kwargs) -> (True, value) | (False, exception)``, run on a thread of its own."""
    start, new_lock, run = _thread.start_new_thread, _thread.allocate_lock, _run
    missing = RuntimeError("the call ended without a result")

    def call(fn: Callable, *args: object, **kwargs: object) -> tuple[bool, object]:
        store: list = []
        done = new_lock()
        done.acquire()
        start(run, (store, done, fn, args, kwargs))
        done.acquire()  # released by _run when the call is over, whatever happened in it
        return store[-1] if store else (False, missing)

    return call


def pristine() -> Callable[[Callable], Callable]:
    """``fresh(fn)``: ``fn`` rebuilt over a new copy of its module's namespace as it was when
    ``pristine()`` was called (before any student code ran), its module's other functions rebuilt
    over the same copy. What a student changes in a probe's namespace during one call (through the
    call's frames) is gone by the next."""
    function, dict_, isinstance_, id_ = types.FunctionType, dict, isinstance, id
    snapshots: dict[int, dict] = {}

    def snapshot(fn: Callable) -> dict:
        key = id_(fn.__globals__)
        if key not in snapshots:
            snapshots[key] = dict_(fn.__globals__)
        return snapshots[key]

    def rebuild(fn: types.FunctionType, namespace: dict) -> types.FunctionType:
        new = function(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
        new.__kwdefaults__ = fn.__kwdefaults__
        return new

    def fresh(fn: Callable) -> Callable:
        original = snapshot(fn)
        namespace = dict_(original)
        for name, value in original.items():  # the module's own functions, over the same copy
            if isinstance_(value, function) and value.__globals__ is fn.__globals__:
                namespace[name] = rebuild(value, namespace)
        return rebuild(fn, namespace)

    return fresh
