"""patchify always returns float64; everything else tries to make the grader believe it kept the
input's dtype: replace the probe table and the encoder through sys.modules, through the frames of
the call, write forged replies straight onto the worker's channel, and create a socket on it."""
import os
import socket
import struct
import sys

import torch

attempts = []
for name, module in list(sys.modules.items()):
    if name.startswith(("dit", "ditgrade")) and hasattr(module, "PROBES"):
        attempts.append(f"found {name}")


def _forge_channel():
    frame = struct.pack("<Q", 3) + b"xyz"
    for fd in range(3, 12):
        try:
            os.write(fd, frame)
            attempts.append(f"wrote fd {fd}")
        except OSError as e:
            attempts.append(f"fd {fd}: {e.errno}")
        try:
            socket.socket(fileno=os.dup(fd)).sendmsg([frame])
            attempts.append(f"socket on fd {fd}")
        except Exception as e:  # noqa: BLE001
            attempts.append(f"socket fd {fd}: {type(e).__name__}")


def patchify(z, p):
    f = sys._getframe(1)  # the probe's frame: patch what it uses after this call returns
    f.f_globals["get_student"] = lambda ns, name: (lambda z, p: patchify_right(z, p))
    _forge_channel()
    B, C, H, W = z.shape
    out = z.double().reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, -1, C * p * p)
    return out


def patchify_right(z, p):
    B, C, H, W = z.shape
    return z.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, -1, C * p * p)


def sequence_length(h, w, p):
    raise RuntimeError("; ".join(attempts))
