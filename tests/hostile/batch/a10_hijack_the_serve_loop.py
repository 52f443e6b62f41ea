"""Attack: run code on the worker's serve loop and swap a probe, from outside any graded call.

A top-level statement raises an exception whose ``__str__`` walks every frame it can reach and
every object those frames hold, looking for the worker's probe table, its channel and its encoder;
a returned value does the same from a ``__class__`` property and from ``__torch_dispatch__``; an
audit hook of the student's would run on every thread that raises an event; a finalizer of a
garbage cycle would run on whichever thread the collector interrupts. With the probe table, the
attack would replace ``patchify_grad`` by a function of its own, so that ``patchify`` below, which
detaches its input, would pass the gradient test.

What must hold instead: this code only ever runs on a call's own thread (its frames lead nowhere
near the serve loop), the hook is refused, the collector does not run by itself, and the grader
judges gradients from ``z.grad`` for an upstream tensor of its own choosing: ``patchify`` keeps
failing the gradient test, and the attacker scores nothing it did not earn (here: nothing, since it
also leaves every other function out).
"""
import sys

import torch

SEEN = []


def _walk(origin):
    if any(origin == seen for seen, _ in SEEN):  # once per way in
        return
    names = []
    f = sys._getframe()
    while f is not None:
        names.append(f.f_code.co_name)
        for value in list(f.f_locals.values()):
            if isinstance(value, dict) and any("patchify_grad" == k for k in value):
                value["patchify_grad"] = lambda *a, **k: {"out": torch.ones(1, requires_grad=True), "grad": None}
                names.append("SWAPPED-A-PROBE-TABLE")
            if isinstance(value, list) and value and all(callable(v) for v in value):
                names.append("FOUND-A-LIST-OF-CALLABLES")
        f = f.f_back
    SEEN.append((origin, names))


class _Loud(Exception):
    def __str__(self):
        _walk("__str__ of a load error")
        return "loud"


class _LoudArgument:
    def __str__(self):
        _walk("__str__ of a load error's argument")
        return "loud argument"


class _Shape(torch.Tensor):
    @property
    def __class__(self):
        _walk("__class__ of an answer")
        return torch.Tensor

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        _walk("__torch_dispatch__")
        return func(*args, **(kwargs or {}))


class _Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        _walk("a finalizer")


try:
    sys.addaudithook(lambda event, args: _walk(f"audit hook ({event})") if event == "open" else None)
except Exception as e:  # noqa: BLE001
    SEEN.append(("addaudithook", [f"refused: {e}"]))
for _ in range(2000):
    _Cycle()

raise _Loud()

raise RuntimeError(_LoudArgument())


def patchify(z, p):
    """Detaches its input (a real mistake: no gradient reaches z)."""
    B, C, H, W = z.shape
    x = z.detach().reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def unpatchify(tokens, p, c, h, w):
    return _Shape(torch.zeros(1))


def sequence_length(h, w, p):
    raise RuntimeError(f"seen: {SEEN}")
