"""The worker: PID 1 of a sandbox of its own. It reads one student's submission, runs its top-level
statements one at a time, and answers probe calls.

``serve`` is called by the fork server in the process it forked for one submission (see
``ditgrade.sandbox.forkserver``); it never returns. In order:

1. confine the process (``ditgrade.worker.isolate``); take the grader's modules out of reach
   (``guard.scrub``); keep the channel to the grader for itself (``seccomp``); add the audit hook
   (``guard.install``); stop automatic garbage collection (below); say what took effect (HELLO);
2. answer the grader's requests (``ditgrade.worker.protocol``) until it closes the channel:
   READ (the submission's bytes, parsed before any student code runs: ``ditgrade.worker.read``),
   RUN (one top-level statement), CALL (one probe).

The serve loop is the only code on the main thread, and from the first student statement on it runs
only code and objects it took before: ``struct`` heads, the socket's two methods, the ``_thread``
primitives and the probe makers (``ditgrade.worker.calls``). Every request's payload is decoded,
run, and its outcome encoded on a thread of its own, which hands back bytes. Automatic garbage
collection is off (a collection runs finalizers on whichever thread triggers it, the main thread
included), and ``gc.enable`` and ``gc.set_threshold`` refuse; each call's thread collects instead,
and the serve loop turns automatic collection off again before each request and each reply. Nor does
reference counting run a finalizer there: the serve loop never lets go of the last reference to an
object a student could reach (the probes it made and each call's lock are kept; what it drops per
request is bytes, ints and tuples of them). Nor can a thread that outlives its call turn collection
back on (a fresh ``gc`` module has the original ``enable``: no built-in module is made twice), and
what might still run here is refused a frame to start from (``ditgrade.worker.guard``; a frame made
here and read on another thread does lead back, an independent attack round showed). None of this is
what the grade relies on: student code can write any byte of its own process (numpy's array
interface is a raw pointer), so the grader treats whatever the channel carries as hostile
(``ditgrade.sandbox.runner``); these measures only take away the cheap ways in.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import types
from collections.abc import Callable
from typing import NoReturn

from . import calls, codec, guard, isolate, seccomp, tasks
from .protocol import CALL, DONE, FRAME, HEAD, HELLO, LOST, READ, RUN
from .spec import WorkerSpec
from .stream import CappedStream

# The channel to the grader, where seccomp expects it: above the open-files limit the worker sets
# (256), so no file the student (or a program they start) opens can ever get this number.
CHANNEL_FD = 1000
OUTPUT_KB_SLACK = 1  # the grader keeps output_kb; one more shows it was cut
MAX_REQUEST_BYTES = 256 << 20  # what the grader may send in one request (the grader is trusted)


def serve(spec: WorkerSpec, namespaces: list[str], probes: dict[str, Callable], scrub: tuple[str, ...]) -> NoReturn:
    """Run the worker (the module docstring) on ``CHANNEL_FD``; fd 1 and 2 go to the grader's output pipe."""
    try:
        _serve(spec, namespaces, dict(probes), scrub)
    finally:
        os._exit(0)


def _serve(spec: WorkerSpec, namespaces: list[str], probes: dict[str, Callable], scrub: tuple[str, ...]) -> None:
    import socket

    import torch

    sock = socket.socket(fileno=CHANNEL_FD)
    sendmsg, recvmsg_into = sock.sendmsg, sock.recvmsg_into
    frame_size, head_size = FRAME.size, HEAD.size
    pack_frame, unpack_frame, pack_head, unpack_head = FRAME.pack, FRAME.unpack, HEAD.pack, HEAD.unpack
    memoryview_, bytearray_, bytes_, len_ = memoryview, bytearray, bytes, len
    gc_disable = gc.disable
    names = sorted(probes)
    makers = calls.pristine(probes)
    table = [makers[n] for n in names]
    # Every probe a call used, kept for the worker's life: the serve loop makes each one, and a
    # student can reach it during the call (its frame, its globals), hang an object with a finalizer
    # on it and break its reference cycle; were the serve loop to drop the last reference, that
    # finalizer would run here, on the main thread. Nothing else the loop lets go of per request
    # (bytes, ints) can hold a reference. About 10 KB a call.
    kept: list[Callable] = []
    keep = kept.append
    # A new thread computes with the OpenMP team its library was started with, as wide as the
    # machine unless OMP_NUM_THREADS said otherwise before torch loaded: started again for every
    # call (1-4 ms each) and counted against the student's process limit. One thread, per call.
    call = calls.caller((torch.set_num_threads, (1,)))  # a builtin: nothing in it to rewrite
    main_module = types.ModuleType("__main__")  # sys.modules["__main__"] once scrubbed (guard.scrub)
    ns: dict = main_module.__dict__
    ns["__builtins__"] = __builtins__
    read_task, run_task, call_task = tasks.make(ns)

    def send(kind: int, rid: int, payload: bytes) -> None:
        view = memoryview_(pack_frame(head_size + len_(payload)) + pack_head(kind, rid, 0) + payload)
        while len_(view):
            view = view[sendmsg([view]):]

    def recv_exact(n: int) -> bytes:
        buf = bytearray_(n)
        view = memoryview_(buf)
        while len_(view):
            got = recvmsg_into([view])[0]
            if got == 0:
                raise EOFError
            view = view[got:]
        return bytes_(buf)

    protections = isolate.confine(spec, namespaces)
    os.environ.clear()
    os.environ.update(spec.env)
    os.environ.update(HOME="/tmp", TMPDIR="/tmp", PWD="/tmp")
    sys.path.insert(0, "")  # the working folder (/tmp) first, as a Jupyter kernel's: what %%writefile wrote imports
    sys.stdout = sys.stderr = CappedStream(1, (spec.output_kb + OUTPUT_KB_SLACK) * 1024)
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a KeyboardInterrupt would stop the serve loop

    guard.scrub(scrub, main_module)
    os.set_inheritable(CHANNEL_FD, False)
    why = seccomp.install(CHANNEL_FD)
    protections["channel_filter"] = not why
    if why:
        protections["notes"].append(why)
    guard.install()
    protections["audit_hook"] = True
    guard.collector_off()
    send(HELLO, 0, codec.encode({"protections": protections, "probes": names}))

    while True:
        gc_disable()
        try:
            (n,) = unpack_frame(recv_exact(frame_size))
            if n < head_size or n > MAX_REQUEST_BYTES:
                return
            body = recv_exact(n)
        except (EOFError, OSError):
            return
        kind, rid, arg = unpack_head(body[:head_size])
        payload = body[head_size:]
        if kind == CALL:
            if arg < len_(table):
                probe = table[arg]()
                keep(probe)
                out = call(call_task, probe, payload)
                probe = None
            else:
                out = b""
        elif kind == RUN:
            out = call(run_task, payload)
        elif kind == READ:
            out = call(read_task, payload)
        else:
            return
        gc_disable()  # again: a student's thread may have turned it on while the call ran
        send(DONE if out else LOST, rid, out)
