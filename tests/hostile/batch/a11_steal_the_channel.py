"""Attack: get a second descriptor for the worker's channel to the grader, then answer the grader's
requests from a thread of its own (for functions this file never defines).

Tries: a socket pair to pass the channel to itself with SCM_RIGHTS (``_socket.socketpair``, which no
audit hook sees, and ``socket.socketpair``), ``os.dup``, ``fcntl(F_DUPFD)``, ``os.dup2`` onto it,
``/proc/self/fd/1000``, reading and writing it directly, and a program started with it.

What must hold instead: every attempt is refused (no socket can be made in the sandbox, and no
call that duplicates, reads or writes the channel reaches it), this submission scores nothing for
functions it does not define, and the next call is answered by the worker as usual.
"""
import _socket
import fcntl
import os
import socket
import subprocess
import sys

CHANNEL = 1000


def _attempts():
    out = {}

    def attempt(name, fn):
        try:
            out[name] = f"WORKED: {fn()!r}"[:80]
        except BaseException as e:  # noqa: BLE001
            out[name] = type(e).__name__

    attempt("_socket.socketpair", lambda: _socket.socketpair())
    attempt("socket.socketpair", lambda: socket.socketpair())
    attempt("dup", lambda: os.dup(CHANNEL))
    attempt("F_DUPFD", lambda: fcntl.fcntl(CHANNEL, fcntl.F_DUPFD, 10))
    attempt("dup2 onto", lambda: os.dup2(0, CHANNEL))
    attempt("/proc/self/fd", lambda: os.open(f"/proc/self/fd/{CHANNEL}", os.O_RDWR))
    attempt("read", lambda: os.read(CHANNEL, 1))
    attempt("write", lambda: os.write(CHANNEL, b"\0" * 8))
    attempt("program", lambda: subprocess.run([sys.executable, "-c", "pass"], pass_fds=[CHANNEL]))
    return out


ATTEMPTS = _attempts()


def sequence_length(h, w, p):
    raise RuntimeError(f"attempts: {ATTEMPTS}")
