"""The worker: PID 1 of a sandbox of its own. It loads one student's code and answers probe calls.

``serve`` is called by the fork server in the process it forked for one submission (see
``ditgrade.sandbox.forkserver``); it never returns. In order:

1. confine the process (``ditgrade.worker.isolate``) and say what took effect ("hello");
2. take the grader's modules out of reach (``guard``), keep the channel to the grader for itself
   (``seccomp``), and only then receive the submission's statements ("load") and run each one;
3. answer "call" requests until the grader closes the channel.

Student code runs on threads of its own (``ditgrade.worker.calls``); everything this loop does
uses references it took before any student code ran (see ``ditgrade.worker.guard``), and the
probe table is its own copy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

from . import calls, codec, guard, isolate, seccomp
from .protocol import FRAME
from .stream import CappedStream

# The channel to the grader, where seccomp expects it: above the open-files limit the worker sets
# (256), so no file the student (or a program they start) opens can ever get this number.
CHANNEL_FD = 1000
OUTPUT_KB_SLACK = 1  # the grader keeps output_kb; one more shows it was cut


def serve(spec: dict, namespaces: list[str], probes: dict[str, Callable], scrub: tuple[str, ...]) -> NoReturn:
    """Run the worker (the module docstring) on ``CHANNEL_FD``; fd 1 and 2 go to the grader's output pipe."""
    try:
        _serve(spec, namespaces, dict(probes), scrub)
    finally:
        os._exit(0)


def _serve(spec: dict, namespaces: list[str], probes: dict[str, Callable], scrub: tuple[str, ...]) -> None:
    import socket

    import torch

    sock = socket.socket(fileno=CHANNEL_FD)
    sendmsg, recvmsg_into = sock.sendmsg, sock.recvmsg_into
    pack, unpack, header = FRAME.pack, FRAME.unpack, FRAME.size
    encode, decode, CodecError, run_apart = codec.encode, codec.decode, codec.CodecError, calls.caller()
    fresh = calls.pristine()
    for fn in probes.values():
        fresh(fn)  # snapshot every probe module's namespace now, before any student code
    exec_, compile_, enumerate_, memoryview_, bytearray_, bytes_, len_, str_, type_ = (
        exec, compile, enumerate, memoryview, bytearray, bytes, len, str, type)
    BaseException_, Exception_, LookupError_ = BaseException, Exception, LookupError

    def send(message: dict) -> None:
        data = encode(message)
        view = memoryview_(pack(len_(data)) + data)
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

    def recv() -> dict:
        return decode(recv_exact(unpack(recv_exact(header))[0]))

    protections = isolate.confine(spec, namespaces)
    os.environ.clear()
    os.environ.update(spec["env"])
    os.environ.update(HOME="/tmp", TMPDIR="/tmp", PWD="/tmp")
    sys.stdout = sys.stderr = CappedStream(1, (spec["output_kb"] + OUTPUT_KB_SLACK) * 1024)
    torch.set_num_threads(1)

    guard.scrub(scrub)
    os.set_inheritable(CHANNEL_FD, False)  # a program the student starts does not get the channel
    why = seccomp.install(CHANNEL_FD)
    protections["channel_filter"] = not why
    if why:
        protections["notes"].append(why)
    guard.install()
    protections["audit_hook"] = True
    send({"event": "hello", "protections": protections})

    request = recv()
    sub, load_id = request["sub"], request["id"]
    ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    errors = []
    for i, (label, source) in enumerate_(request["statements"]):
        send({"event": "loading", "id": load_id, "sub": sub, "index": i})
        try:
            code = compile_(source, f"<{label}>", "exec")
        except BaseException_ as e:  # noqa: BLE001 - too deep to compile, say: costs only this statement
            errors.append([i, e])
            continue
        ok, error = run_apart(exec_, code, ns)
        if not ok:  # a statement that fails or exits costs only itself
            errors.append([i, error])
    send({"event": "loaded", "id": load_id, "sub": sub, "errors": errors})

    while True:
        try:
            request = recv()
        except (EOFError, OSError):
            return
        reply: dict = {"id": request["id"], "sub": sub}
        fn = probes.get(request["probe"])
        if fn is None:
            ok, value = False, LookupError_(f"no probe named {request['probe']!r}")
        else:
            ok, value = run_apart(fresh(fn), ns, **request["kwargs"])
        reply["ok" if ok else "error"] = value
        try:
            send(reply)
        except CodecError as e:
            send({"id": request["id"], "sub": sub, "unreadable": str_(e)[:500]})
        except Exception_ as e:  # noqa: BLE001 - anything else the encoder tripped on
            send({"id": request["id"], "sub": sub, "unreadable": type_(e).__name__})
