"""Automatic garbage collection turned back on (a fresh ``gc`` module, made again, has the original
``enable``) by a thread that outlives its call, so that a finalizer of the student's runs on
whichever thread allocates next, the serve loop's included; there it looks for the serve loop's
frame (its channel). ``sequence_length`` reports how each way to a fresh ``gc`` ended and what the
finalizers found on the main thread."""
import sys
import threading
import time

FOUND = []


class _Bait:
    def __init__(self):
        self.me = self

    def __del__(self):
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            f = sys._getframe()
        except BaseException as err:  # noqa: BLE001
            FOUND.append(f"main: no frame ({type(err).__name__})")
            return
        while f is not None:
            if "send" in f.f_locals or "recv_exact" in f.f_locals:
                FOUND.append("main: reached the serve loop")
                return
            f = f.f_back
        FOUND.append("main: a frame, not the serve loop's")


def _fresh_gc():
    """Every way this file knows to a second gc module (whose enable is the original)."""
    import importlib.util

    import _imp
    try:
        return importlib.util.module_from_spec(importlib.util.find_spec("gc"))
    except BaseException as err:  # noqa: BLE001
        FOUND.append(f"module_from_spec: {type(err).__name__}")
    try:
        return _imp.create_builtin(importlib.util.find_spec("gc"))
    except BaseException as err:  # noqa: BLE001
        FOUND.append(f"create_builtin: {type(err).__name__}")
    del sys.modules["gc"]
    try:
        import gc as fresh
        return fresh
    except BaseException as err:  # noqa: BLE001
        FOUND.append(f"import: {type(err).__name__}")
    return None


def _churn():
    fresh = _fresh_gc()
    if fresh is None:
        return
    while True:
        try:
            fresh.enable()
            fresh.set_threshold(1, 1, 1)
        except BaseException:  # noqa: BLE001
            pass
        for _ in range(50):
            _Bait()
        time.sleep(0.0005)


def patchify(z, p):
    threading.Thread(target=_churn, daemon=True).start()
    return z


def sequence_length(h, w, p):
    time.sleep(0.01)
    return " | ".join(sorted(set(FOUND)))
