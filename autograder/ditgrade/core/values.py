"""What the grader reads back from a student's process: plain data, and three kinds of record.

``decode_answer`` turns a worker's bytes (``ditgrade.worker.codec``) into None, bools, ints,
floats, strs, lists, tuples, dicts, numpy arrays, and:

    TensorValue  a torch tensor: its values (None when it had none to send), dtype, shape, device,
                 requires_grad and whether it was an nn.Parameter, all read off the tensor itself
    Raised       an exception a probe reports as a value (e.g. "did normalize raise ValueError?")
    Opaque       anything else, by type name (a PIL image, a generator, a module ...)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..worker import codec


@dataclass(frozen=True)
class TensorValue:
    values: np.ndarray | None
    dtype: str  # torch's name: float32, bfloat16, int64 ...
    shape: tuple[int, ...]
    device: str
    requires_grad: bool
    parameter: bool
    note: str = ""  # why values is None


@dataclass(frozen=True)
class Raised:
    names: tuple[str, ...]  # the exception's class and its bases, most derived first
    message: str

    @property
    def type(self) -> str:
        return self.names[0] if self.names else "Exception"

    def is_a(self, name: str) -> bool:
        return name in self.names


@dataclass(frozen=True)
class Opaque:
    type: str


def decode_answer(data: bytes, *, max_doc: int = 4 << 20) -> object:
    """Decode a worker's bytes; CodecError for anything malformed or oversized."""
    return codec.decode(data, max_doc=max_doc, tensor=TensorValue,
                        exception=lambda names, message: Raised(tuple(names), message), opaque=Opaque)


def roundtrip(value: object) -> object:
    """``value`` as the grader would receive it from a worker (for code run in the grader's process)."""
    return decode_answer(codec.encode(value))


def type_name(value: object) -> str:
    """How a decoded value's type reads in feedback: 'a torch.Tensor', 'a list', 'None' ..."""
    if isinstance(value, TensorValue):
        return "an nn.Parameter" if value.parameter else "a torch.Tensor"
    if isinstance(value, np.ndarray):
        return "a numpy array"
    if isinstance(value, Opaque):
        return _article(value.type)
    if isinstance(value, Raised):
        return f"an exception ({value.type})"
    if value is None:
        return "None"
    return _article(type(value).__name__)


def _article(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
