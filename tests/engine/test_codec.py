"""The wire format: what a student process sends back is plain data, read off the values themselves,
with every limit enforced while reading; nothing else gets through."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
import torch

from ditgrade.core.values import Opaque, Raised, TensorValue, decode_answer, roundtrip
from ditgrade.worker import codec


def test_plain_values_round_trip() -> None:
    value = {"a": [1, 2.5, None, True, "s"], "t": (1, (2, 3)), "big": 10**30, "neg": -0.0}
    assert roundtrip(value) == value
    assert isinstance(roundtrip((1, 2)), tuple)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64,
                                   torch.uint8, torch.bool])
def test_a_tensor_arrives_with_its_own_dtype_shape_and_grad_flag(dtype) -> None:
    t = (torch.randn(2, 3, 4) * 10).to(dtype)
    out = roundtrip(t)
    assert isinstance(out, TensorValue) and out.shape == (2, 3, 4) and out.device == "cpu"
    assert out.dtype == str(dtype).removeprefix("torch.") and not out.requires_grad
    np.testing.assert_array_equal(out.values, t.float().numpy() if dtype == torch.bfloat16 else t.numpy())
    g = roundtrip(torch.ones(2, requires_grad=True) * 2)
    assert g.requires_grad and not g.parameter
    assert roundtrip(torch.nn.Parameter(torch.ones(1))).parameter


def test_meta_complex_and_huge_tensors_travel_as_metadata() -> None:
    meta = roundtrip(torch.empty(3, 4, device="meta"))
    assert meta.values is None and meta.shape == (3, 4) and "meta" in meta.note
    assert roundtrip(torch.ones(2, dtype=torch.complex64)).values is None
    huge = roundtrip(torch.zeros(codec.MAX_TENSOR_ELEMENTS + 1, dtype=torch.uint8))
    assert huge.values is None and "elements" in huge.note


def test_non_contiguous_tensors_and_numpy_arrays() -> None:
    t = torch.randn(4, 5).T
    np.testing.assert_array_equal(roundtrip(t).values, t.numpy())
    a = np.arange(6, dtype=">i4").reshape(2, 3)
    out = roundtrip(a)
    assert isinstance(out, np.ndarray) and out.dtype == np.int32
    np.testing.assert_array_equal(out, a)


def test_a_lying_tensor_subclass_arrives_as_its_data() -> None:
    class Liar(torch.Tensor):
        def __eq__(self, other):  # noqa: D105
            return True

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return torch.zeros(1)  # tries to answer every query with something else

    out = roundtrip(torch.arange(6.0).reshape(2, 3).as_subclass(Liar))
    assert isinstance(out, TensorValue) and out.dtype == "float32"
    np.testing.assert_array_equal(out.values, np.arange(6.0).reshape(2, 3))


def test_monkeypatching_torch_numpy_or_builtins_does_not_change_what_is_read(monkeypatch) -> None:
    """The encoder took its references at import: a student's patches do not reach it."""
    t = torch.arange(4.0, dtype=torch.float64)
    monkeypatch.setattr(torch.Tensor, "numpy", lambda self: np.zeros(4, dtype=np.float16))
    monkeypatch.setattr(torch.Tensor, "dtype", property(lambda self: torch.float16))
    monkeypatch.setattr(np, "ascontiguousarray", lambda a: np.zeros(4))
    monkeypatch.setattr("builtins.isinstance", lambda *a: False)
    data = codec.encode(t)
    monkeypatch.undo()
    out = decode_answer(data)
    assert out.dtype == "float64"
    np.testing.assert_array_equal(out.values, [0.0, 1.0, 2.0, 3.0])


def test_exceptions_arrive_as_their_class_hierarchy_and_anything_else_by_type_name() -> None:
    class Mine(ValueError):
        def __str__(self):
            raise RuntimeError("no")

    out = roundtrip({"raised": Mine("x"), "thing": object(), "f": lambda: 0})
    assert isinstance(out["raised"], Raised) and out["raised"].is_a("ValueError") and out["raised"].type == "Mine"
    assert out["raised"].message == "x"  # read from its arguments, not from a __str__ of the student's
    assert out["thing"] == Opaque("object") and out["f"] == Opaque("function")


def test_lying_ints_and_strs_travel_as_their_value() -> None:
    class Int(int):
        def __repr__(self):
            return "999"

        def __eq__(self, other):
            return True

    class Str(str):
        def __str__(self):
            return "forged"

    assert roundtrip([Int(5), Str("real")]) == [5, "real"]


def test_too_deep_or_too_many_items_is_refused_at_encoding() -> None:
    deep: list = []
    for _ in range(codec.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(codec.CodecError):
        codec.encode(deep)
    with pytest.raises(codec.CodecError):
        codec.encode(list(range(codec.MAX_ITEMS + 1)))


def _frame(doc: bytes, buffers: list[bytes] = ()) -> bytes:
    parts = [struct.pack("<Q", len(doc)), doc, struct.pack("<Q", len(buffers))]
    for b in buffers:
        parts += [struct.pack("<Q", len(b)), b]
    return b"".join(parts)


@pytest.mark.parametrize("data", [
    b"",
    pickle.dumps({"score": 100}),
    _frame(b"[" * 200_000 + b"]" * 200_000),  # deeper than any parser's stack
    _frame(json.dumps({"a": 0, "dtype": "|O", "shape": [1]}).encode(), [b"x" * 8]),
    _frame(json.dumps({"a": 0, "dtype": "<f8", "shape": [1000]}).encode(), [b"x" * 8]),
    _frame(json.dumps({"a": 5, "dtype": "<f8", "shape": [1]}).encode(), [b"x" * 8]),
    _frame(json.dumps({"i": "1" * 5000}).encode()),
    _frame(json.dumps({"T": 0, "dtype": "float32", "shape": [2], "device": "cpu", "requires_grad": "yes",
                       "parameter": False, "note": ""}).encode(), [b"x" * 8]),
    _frame(json.dumps([1]).encode()) + b"trailing",
    struct.pack("<Q", 10**12) + b"{}",
], ids=["empty", "pickle", "deep", "object-dtype", "short-buffer", "bad-reference", "huge-int", "bad-tensor-flag",
        "trailing", "huge-length"])
def test_malformed_answers_are_codec_errors_never_other_exceptions(data) -> None:
    with pytest.raises(codec.CodecError):
        decode_answer(data)


@pytest.mark.parametrize("limit", [1000, 3000])
def test_nesting_past_the_limit_says_so_whatever_the_recursion_limit(limit: int) -> None:
    """The scanner recurses once per level: a document nested 1,500 deep is refused as too deep,
    not as malformed, with the interpreter's own limit (1,000) or a raised one (hypothesis ran the
    checks at about 2,000 before run_cases kept its cases)."""
    import sys

    before = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        with pytest.raises(codec.CodecError, match="nested too deeply"):
            decode_answer(_frame(b"[" * 1500 + b"]" * 1500))
    finally:
        sys.setrecursionlimit(before)


def test_the_document_size_is_checked_before_parsing() -> None:
    data = _frame(b"[" + b"0," * 3_000_000 + b"0]")
    with pytest.raises(codec.CodecError, match="over the"):
        decode_answer(data, max_doc=1 << 20)


def test_a_document_of_empty_containers_is_refused_before_it_is_parsed() -> None:
    """15 MiB of ``[{},{},...]`` (the forged reply of tests/hostile/batch/a15) would be gigabytes of
    dicts once parsed: it is refused by counting brackets, holding no more than a copy or two of it."""
    import tracemalloc

    from ditgrade.sandbox.runner import MAX_ANSWER_DOC

    data = _frame(b"[" + b"{}," * (5 * 1024 * 1024) + b"{}]")
    tracemalloc.start()
    try:
        with pytest.raises(codec.CodecError, match="holds more objects than a value may"):
            decode_answer(data, max_doc=MAX_ANSWER_DOC)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(data), peak
