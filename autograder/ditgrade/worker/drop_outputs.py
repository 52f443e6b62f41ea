"""A notebook's JSON without what the grader never reads, a piece at a time.

Each code cell's ``"outputs"`` and a markdown cell's ``"attachments"`` (pasted images) hold most of
a notebook full of plots: attack round 19 gave a correct notebook 0 for 22 MB of saved images, all
of it outputs. So their values are replaced by empty ones (``[]`` or ``{}``) as the bytes pass, in
pieces of any size, and only what is left has to fit the reader's limit. Nothing is parsed here but
strings and brackets; what is kept is read by ``json`` afterwards. A dropped value is checked no
further than its strings and brackets: one left open swallows the rest, and a bracket that closes
the wrong one ends what is kept with a byte ``json`` refuses.

JSON's structural characters are ASCII, so the scan works on UTF-8 bytes as they are. A key is
dropped only when its bytes are exactly ``"outputs"`` or ``"attachments"`` (a key spelled with
escapes is kept, which only costs room) and its value is an array or an object.
"""

from __future__ import annotations

import re

DROPPED_KEYS = (b'"outputs"', b'"attachments"')
MAX_DEPTH = 10_000  # brackets open inside a dropped value
_LONGEST_KEY = max(len(k) for k in DROPPED_KEYS)
_QUOTE_OR_COLON = re.compile(rb'[":]')
_IN_SKIPPED = re.compile(rb'["\[\]{}]')
_STRING_END = re.compile(rb'["\\]')
_NOT_SPACE = re.compile(rb"\S")
_EMPTY = {ord("["): b"[]", ord("{"): b"{}"}
_CLOSES = {ord("]"): ord("["), ord("}"): ord("{")}
_QUOTE = ord('"')


class OutputsDropped:
    """Feed pieces with ``add``; ``kept`` is the notebook so far with the dropped values emptied, and
    ``too_large`` says it went past ``limit`` bytes (what was kept stops growing then)."""

    def __init__(self, limit: int) -> None:
        self.kept = bytearray()
        self.limit = limit
        self.too_large = False
        self.read = 0  # bytes fed in all
        self._stopped = False  # nothing more is kept: past the limit, or not JSON
        self._string = False  # inside a string
        self._escaped = False  # the last piece ended right after a backslash inside a string
        self._key = (0, 0)  # where in ``kept`` the last string kept starts and ends
        self._value = False  # after a dropped key's colon: the next [ or { is dropped
        self._open = bytearray()  # inside a dropped value: the brackets open there, innermost last

    def add(self, piece: bytes) -> None:
        self.read += len(piece)
        i, n = 0, len(piece)
        while i < n and not self._stopped:
            if self._string:
                i = self._in_string(piece, i)
            elif self._open:
                i = self._in_dropped(piece, i)
            elif self._value:
                i = self._before_value(piece, i)
            else:
                i = self._in_kept(piece, i)

    def _keep(self, part: bytes) -> None:
        if self._stopped:
            return
        self.kept += part[:self.limit + 1 - len(self.kept)]
        if len(self.kept) > self.limit:
            self.too_large = self._stopped = True

    def _in_string(self, piece: bytes, i: int) -> int:
        kept = not self._open
        if self._escaped:  # the byte after a backslash, whatever it is
            self._escaped = False
            if kept:
                self._keep(piece[i:i + 1])
            return i + 1
        m = _STRING_END.search(piece, i)
        end = len(piece) if m is None else m.end()
        if kept:
            self._keep(piece[i:end])
        if m is not None:
            if m.group() == b"\\":
                self._escaped = True
            else:
                self._string = False
                if kept:
                    self._key = (self._key[0], len(self.kept))
        return end

    def _in_kept(self, piece: bytes, i: int) -> int:
        m = _QUOTE_OR_COLON.search(piece, i)
        end = len(piece) if m is None else m.end()
        self._keep(piece[i:end])
        if m is None:
            return end
        if m.group() == b'"':
            self._string = True
            self._key = (len(self.kept) - 1, len(self.kept) - 1)
        else:  # a colon: is it after a dropped key, with nothing but spaces between?
            start, stop = self._key
            # only a string as short as a dropped key is looked at, and only by the first colon after
            # it: each colon copied the last string and all after it (attack round 20: bare colons
            # after a 4 MB string cost 10 ms each, and a 6 MB notebook's reading 54 s)
            self._value = (stop - start <= _LONGEST_KEY and bytes(self.kept[start:stop]) in DROPPED_KEYS
                           and not bytes(self.kept[stop:len(self.kept) - 1]).strip())
            self._key = (0, _LONGEST_KEY + 1)
        return end

    def _before_value(self, piece: bytes, i: int) -> int:
        m = _NOT_SPACE.search(piece, i)
        if m is None:
            self._keep(piece[i:])
            return len(piece)
        self._value = False
        self._keep(piece[i:m.start()])
        empty = _EMPTY.get(piece[m.start()])
        if empty is None:  # a string, a number ...: kept as it is
            return m.start()
        self._keep(empty)
        self._open.append(piece[m.start()])
        return m.end()

    def _in_dropped(self, piece: bytes, i: int) -> int:
        m = _IN_SKIPPED.search(piece, i)
        if m is None:
            return len(piece)
        c = piece[m.start()]
        if c == _QUOTE:
            self._string = True
        elif c in _EMPTY:
            self._open.append(c)
            if len(self._open) > MAX_DEPTH:  # no notebook's output nests so deep (json's own limit is 1,000)
                self._keep(b"\0")
                self._stopped = True
        elif _CLOSES[c] != self._open.pop():  # not JSON: what is kept ends with a byte json refuses
            self._keep(b"\0")
            self._stopped = True
        return m.end()


def drop_outputs(data: bytes, limit: int) -> tuple[bytes, bool]:
    """(the notebook ``data`` with its outputs and attachments emptied, whether that is over ``limit``)."""
    reader = OutputsDropped(limit)
    reader.add(data)
    return bytes(reader.kept), reader.too_large
