"""Attack: answers built to break the worker's encoder or the grader's decoder.

One function per trick: 150 million characters in 1,500 strings (over the 64 MiB answer cap),
a list nested 10,000 deep, an int of 5,000 digits (``int.__repr__`` refuses it), a dict whose keys
raise in ``__eq__``/``__hash__``, an exception whose message cannot be printed,
a tensor subclass that lies about its dtype and shape, and a meta tensor claiming 10^15 elements.

What must hold instead: each costs only its own call (an "unreadable" answer, a timeout or a
failed comparison), the grader and the other submissions are unaffected, nothing is left.
"""
import torch


class _Liar(torch.Tensor):
    @property
    def dtype(self):
        return torch.float32

    @property
    def shape(self):
        return torch.Size([2, 4, 16])


class _Key:
    def __hash__(self):
        raise RuntimeError("no hash")

    def __eq__(self, other):
        raise RuntimeError("no eq")


class _Unprintable:
    def __str__(self):
        raise RuntimeError("try printing this")


def patchify(z, p):
    return ["x" * 100_000] * 1_500


def unpatchify(tokens, p, c, h, w):
    out = []
    for _ in range(10_000):
        out = [out]
    return out


def sequence_length(h, w, p):
    return 10**5000


def modulate(x, shift, scale):
    return {1.5: x, "k": {_Key.__name__: _Key()}}


def gated_residual(x, gate, sublayer_out):
    raise ValueError(_Unprintable())


def count_parameters(model):
    return torch.zeros(3, dtype=torch.float64).as_subclass(_Liar)


def cfg_combine(eps_cond, eps_uncond, scale):
    return torch.empty(10**15, device="meta")
