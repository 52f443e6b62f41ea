"""What a call's thread does in the worker: read the submission, run a statement, call a probe.

Each task takes the request's payload (bytes), does its work on the thread ``ditgrade.worker.calls``
gave it, and returns the outcome encoded as bytes: ``{"ok": value}``, ``{"error": exception}`` or
``{"unreadable": why}`` (``ditgrade.worker.protocol``). Decoding, running and encoding all happen on
that thread, so whatever student code a value or an exception triggers while it is written runs
there too, never on the serve loop's. The tasks are made before any student code runs; a student
who reaches them (through a frame) can change only how their own later calls are read and written.
"""

from __future__ import annotations
import __future__

import gc
import linecache
from collections.abc import Callable

from . import codec, read

# What a ``from __future__ import ...`` of the student's own turns on, kept for their later
# statements as IPython keeps it for later cells; nothing else of this module's own compiler flags
# (its ``annotations`` above) reaches their code (independent attack round 12: a dataclass's
# ``ClassVar`` field became a string and the class failed).
FUTURE_FLAGS = 0
for _name in __future__.all_feature_names:
    FUTURE_FLAGS |= getattr(__future__, _name).compiler_flag

# Collections, run by each call's thread at its end (automatic collection is off in the worker): the
# young generations every time, everything every FULL_EVERY-th time. A full collection walks every
# object that survived an earlier one (the student's namespace, each call's probe kept by the serve
# loop: 20,000 objects by a grade's end, 1-5 ms a walk) to find the rare cycle among them that has
# since become garbage; the cycles a call makes and drops are young, and found every time.
FULL_EVERY = 16


def make(ns: dict) -> tuple[Callable, Callable, Callable]:
    """(read, run, call) over the student's namespace ``ns`` (see the module docstring)."""
    encode, decode, CodecError = codec.encode, codec.decode, codec.CodecError
    compile_, exec_, str_, type_, gc_collect = compile, exec, str, type, gc.collect
    sources = linecache.cache
    since_full, future = [0], [0]

    def collect() -> None:
        since_full[0] += 1
        if since_full[0] >= FULL_EVERY:
            since_full[0] = 0
            gc_collect()
        else:
            gc_collect(1)

    def outcome(value: object, failed: bool) -> bytes:
        try:
            return encode({"error": value} if failed else {"ok": value})
        except CodecError as e:
            return encode({"unreadable": str_(e)[:500]})
        except BaseException as e:  # noqa: BLE001 - anything else the encoder tripped on
            return encode({"unreadable": type_(e).__name__[:100]})

    reading: list[read.Pieces] = []  # the submission whose pieces are arriving (before any student code)

    def read_task(payload: bytes) -> bytes:
        request = decode(payload)
        if not reading:
            reading.append(read.Pieces(request["name"]))
        reading[0].add(request["data"].tobytes())
        request["data"] = None
        if request.get("more"):
            collect()  # the piece's cycles (its request's): 94 MB in pieces otherwise stayed until the end
            return encode({"ok": {"more": True}})
        return encode({"ok": read.read_pieces(reading.pop(), notebook_name=request["notebook_name"],
                                              drivers=request["drivers"], graded=request["graded"])})

    def run_task(payload: bytes) -> bytes:
        label, source = decode(payload)
        name = f"<{label}>"
        try:
            # the statement's text where inspect.getsource and tracebacks look (torch.jit.script
            # needs it), as IPython keeps each cell's (round 12)
            sources[name] = (len(source), None, source.splitlines(True), name)
            code = compile_(source, name, "exec", future[0], True)
            future[0] |= code.co_flags & FUTURE_FLAGS
            exec_(code, ns)
        except BaseException as e:  # noqa: BLE001 - a statement that fails or exits costs only itself
            out = outcome(e, True)
        else:
            out = outcome(None, False)
        collect()  # after the exception is let go: its traceback's cycles are this call's garbage
        return out

    def call_task(probe: Callable, payload: bytes) -> bytes:
        value = None
        try:
            value = probe(ns, **decode(payload))
        except BaseException as e:  # noqa: BLE001 - whatever the student's code raised, even SystemExit
            out = outcome(e, True)
        else:
            out = outcome(value, False)
        value = None  # written: what it returned (and its cycles) is this call's garbage
        collect()
        return out

    return read_task, run_task, call_task
