"""Where student code runs inside the worker: a fresh thread per statement and per probe call.

A frame of student code leads, through ``f_back``, only to the probe that called it and to
``_run`` at its thread's start: never to the serve loop, whose references (the encoder, the
channel) live on the worker's main thread. ``caller()`` is made before any student code runs and
uses only what it captured then: the C-level ``_thread`` primitives, which no monkeypatch of
``threading`` reaches. The student can reach this module; it holds nothing else.
"""

from __future__ import annotations

import _thread
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
