"""The wire format: what a student process can send back is plain data, and nothing else gets through."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from ditgrade import codec


def roundtrip(value):
    return codec.decode(codec.encode(value))


def test_plain_values_round_trip() -> None:
    value = {"a": [1, 2.5, None, True, "s"], "t": (1, (2, 3)), "big": 10**30, "neg": -0.0}
    assert roundtrip(value) == value
    assert isinstance(roundtrip((1, 2)), tuple)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool])
def test_tensors_arrive_as_numpy_arrays_with_their_dtype(dtype) -> None:
    t = (torch.randn(2, 3, 4) * 10).to(dtype)
    out = roundtrip(t)
    assert isinstance(out, np.ndarray) and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, t.numpy())


def test_non_contiguous_and_bfloat16_tensors() -> None:
    t = torch.randn(4, 5).T
    np.testing.assert_array_equal(roundtrip(t), t.numpy())
    b = torch.randn(3, dtype=torch.bfloat16)
    np.testing.assert_array_equal(roundtrip(b), b.float().numpy())


def test_a_lying_tensor_subclass_arrives_as_its_data() -> None:
    class Liar(torch.Tensor):
        def __eq__(self, other):  # noqa: D105
            return True

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return torch.zeros(1)  # tries to answer every query with something else

    t = torch.arange(6.0).reshape(2, 3).as_subclass(Liar)
    out = roundtrip(t)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("value", [object(), np.array([object()]), {1: 2}.keys(), lambda: 0])
def test_unknown_objects_are_refused_at_encoding(value) -> None:
    with pytest.raises(codec.CodecError):
        codec.encode(value)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 7,
        pickle.dumps({"a": 1}),
        codec.encode([1, 2, 3])[:-1],
        codec.encode([1, 2, 3]) + b"x",
        codec.encode(np.zeros(4))[:-3],
    ],
)
def test_malformed_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(codec.CodecError):
        codec.decode(data)


def test_forged_array_headers_are_refused() -> None:
    def forged(doc: bytes, buffers: list[bytes]) -> bytes:
        h = codec._HEADER
        return h.pack(len(doc)) + doc + h.pack(len(buffers)) + b"".join(h.pack(len(b)) + b for b in buffers)

    with pytest.raises(codec.CodecError):  # object dtype would unpickle
        codec.decode(forged(b'{"nd": 0, "dtype": "|O", "shape": [1]}', [b"\x00" * 8]))
    with pytest.raises(codec.CodecError):  # shape larger than the buffer
        codec.decode(forged(b'{"nd": 0, "dtype": "<f4", "shape": [1000]}', [b"\x00" * 8]))
    with pytest.raises(codec.CodecError):  # dangling buffer reference
        codec.decode(forged(b'{"nd": 3, "dtype": "<f4", "shape": [2]}', [b"\x00" * 8]))
    with pytest.raises(codec.CodecError):  # unknown tag
        codec.decode(forged(b'{"pickle": "x"}', []))


def test_deep_nesting_is_refused() -> None:
    nested: list = []
    for _ in range(100):
        nested = [nested]
    with pytest.raises(codec.CodecError):
        codec.encode(nested)
