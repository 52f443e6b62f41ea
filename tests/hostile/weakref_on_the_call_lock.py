"""A weakref callback hung on an object of the worker's that a call's thread shares with the serve
loop: the lock in ``_run``'s frame (``ditgrade.worker.calls``), which the serve loop's ``call``
waits on. Were the serve loop to let go of the last reference to it, the callback would run on the
serve loop's thread (independent attack round 5 got there, kept a traceback and walked from it to
the channel). ``sequence_length`` arms it on its first call and reports on the next ones which
threads the callbacks ran on."""
import sys
import threading
import weakref

MAIN = threading.main_thread().ident
REFS = []
RAN = []


def _callback(_ref):
    RAN.append("main" if threading.get_ident() == MAIN else "a call's thread")


def _arm():
    f = sys._getframe()
    while f is not None and f.f_code.co_name != "_run":
        f = f.f_back
    if f is None:
        return "no _run frame"
    REFS.append(weakref.ref(f.f_locals["done"], _callback))
    return "armed"


def sequence_length(h, w, p):
    if not REFS:
        return _arm()
    return f"callbacks ran on: {sorted(set(RAN))}"
