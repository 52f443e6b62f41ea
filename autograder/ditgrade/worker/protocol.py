"""The conversation between the grader and one sandboxed worker, over a socket of their own.

Every message is one frame: an 8-byte little-endian length, then a ``ditgrade.worker.codec`` value
(a dict). The grader numbers its requests (``id``) and names the submission (``sub``); the worker
echoes both, and the grader drops the worker on any reply that does not match.

    worker -> grader  {"event": "hello", "protections": {...}}          once, after isolating itself
    grader -> worker  {"op": "load", "id", "sub", "statements": [[label, source], ...]}
    worker -> grader  {"event": "loading", "id", "sub", "index": i}      before each statement
    worker -> grader  {"event": "loaded", "id", "sub", "errors": [[i, exception], ...]}
    grader -> worker  {"op": "call", "id", "sub", "probe": name, "kwargs": {...}}
    worker -> grader  {"id", "sub", "ok": value}  or  {"id", "sub", "error": exception}
                      or {"id", "sub", "unreadable": why}   (the answer could not be encoded)

The submission's source reaches the worker only in its "load" message, after the worker has
dropped its privileges: the fork server that started it never holds it.
"""

from __future__ import annotations

import struct

FRAME = struct.Struct("<Q")
