"""Messages between the grader and a process it does not trust, and the one bounded reader of them.

Every message is a frame: an 8-byte little-endian length, then a 13-byte head (one byte saying what
the message is, an 8-byte request id, a 4-byte argument: the probe's number for CALL) and a payload. The head is written and read with ``struct``
alone, so the worker's serve loop never runs a line of Python that student code could have
changed (see ``ditgrade.worker.main``); the payload is a ``ditgrade.worker.codec`` value, encoded
and decoded on the thread that runs the student's code.

    grader -> worker   READ  id  {"data", "name", "more": True}  a piece of the submission: DONE {"ok": {"more": True}}
    grader -> worker   READ  id  {"data", "name", "notebook_name", "drivers", "graded"}  its last piece
                                  (before any student code)
    grader -> worker   RUN   id  [label, source]         one top-level statement
    grader -> worker   CALL  id  {...} (the probe's kwargs; the probe's number in the head)
    worker -> grader   HELLO 0   {"protections": {...}, "probes": [names]}   once, after confining itself
    worker -> grader   DONE  id  {"ok": value} | {"error": exception} | {"unreadable": why}
    worker -> grader   LOST  id  (empty)                 the call ended without writing its outcome

The grader reads with ``FrameReader``, which refuses a frame over its size limit from the length
alone, before a byte of it is buffered, and any frame whose head is not one of the kinds above;
the fork server and the grader's control channel use the same framing (``pack`` / ``FrameReader``)
with plain codec payloads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

FRAME = struct.Struct("<Q")  # the length of what follows
HEAD = struct.Struct("<BQI")  # kind, request id, argument

# grader -> worker
READ, RUN, CALL = 1, 2, 3
# worker -> grader
HELLO, DONE, LOST = 10, 11, 12
# fork server <-> grader (control messages: the payload says what)
CONTROL = 20

KINDS = frozenset({READ, RUN, CALL, HELLO, DONE, LOST, CONTROL})


class FrameError(ValueError):
    """A frame that is too large, truncated, or of an unknown kind: whoever sent it is discarded."""


@dataclass(frozen=True)
class Message:
    kind: int
    id: int
    arg: int
    payload: bytes


def pack(kind: int, rid: int, payload: bytes = b"", arg: int = 0) -> bytes:
    """One frame (see the module docstring)."""
    return FRAME.pack(HEAD.size + len(payload)) + HEAD.pack(kind, rid, arg) + payload


class FrameReader:
    """Incremental and bounded: ``want()`` bytes to read next, ``feed(chunk)`` -> a Message or None.

    A length over ``max_bytes`` raises FrameError as soon as the 8-byte length has arrived, so a
    hostile sender never makes the reader buffer more than ``max_bytes``.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._need = FRAME.size
        self._header = True

    def want(self) -> int:
        return self._need - len(self._buf)

    def feed(self, chunk: bytes) -> Message | None:
        if len(chunk) > self.want():
            raise FrameError("more bytes than the frame holds")
        self._buf += chunk
        if len(self._buf) < self._need:
            return None
        if self._header:
            (n,) = FRAME.unpack(self._buf)
            if n > self.max_bytes:
                raise FrameError(f"a message of {n:,} bytes is over the {self.max_bytes:,}-byte limit")
            if n < HEAD.size:
                raise FrameError("a message without its head")
            self._buf.clear()
            self._need, self._header = n, False
            return None
        kind, rid, arg = HEAD.unpack_from(self._buf)
        if kind not in KINDS:
            raise FrameError(f"a message of unknown kind {kind}")
        message = Message(kind, rid, arg, bytes(self._buf[HEAD.size:]))
        self._buf = bytearray()
        self._need, self._header = FRAME.size, True
        return message


def read_blocking(recv, max_bytes: int) -> Message:
    """The next message from ``recv(n) -> bytes`` (b"" at the end: EOFError), through a FrameReader."""
    reader = FrameReader(max_bytes)
    while True:
        chunk = recv(reader.want())
        if not chunk:
            raise EOFError("the other side closed the channel")
        message = reader.feed(chunk)
        if message is not None:
            return message
