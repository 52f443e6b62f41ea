"""Attack (independent round 3): rewrite what each call's thread runs first. ``_run``'s frame holds
``begin``; were it a ``functools.partial``, ``__setstate__`` would swap its function for the
student's, run at the start of every later call (here: eight compute threads instead of one)."""
import sys

import torch

EVIDENCE = []


def _evil():
    EVIDENCE.append("evil ran")
    torch.set_num_threads(8)


def patchify(z, p):
    f = sys._getframe()
    while f is not None:
        if f.f_code.co_name == "_run" and "begin" in f.f_locals:
            b = f.f_locals["begin"]
            for attempt in (lambda: b.__setstate__((_evil, (), {}, None)), lambda: b[0].__setstate__((_evil, (), {}, None))):
                try:
                    attempt()
                    EVIDENCE.append("rewritten")
                except Exception as e:  # noqa: BLE001
                    EVIDENCE.append(type(e).__name__)
        f = f.f_back
    return z


def sequence_length(h, w, p):
    return f"{torch.get_num_threads()} {' '.join(EVIDENCE)}"
