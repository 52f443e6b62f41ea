"""Plain-data wire format for values coming back from untrusted student code.

The grader never unpickles what a student process sends: pickle runs code. Instead a value is
encoded as a small JSON document plus raw array buffers, and decoding accepts only

    None, bool, int, float, str, list, tuple, dict[str, ...], and numeric numpy arrays

with bounded depth, count and size. Tensors (any subclass, on any device) are sent as their
numpy data, so a tensor that lies about ``__eq__`` or ``allclose`` arrives as plain numbers.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_BYTES = 256 * 1024 * 1024
MAX_STR = 1_000_000
# Dtypes a result may use; object arrays (which pickle) are never accepted.
ALLOWED_DTYPES = {"|b1", "|u1", "|i1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"}
_HEADER = struct.Struct("<Q")


class CodecError(ValueError):
    """The bytes are not a well-formed plain-data value."""


def _to_numpy(value: Any) -> np.ndarray | None:
    """numpy view of a tensor or array, or None when ``value`` is neither."""
    try:
        import torch
    except ImportError:  # the grader always has torch; keep the codec importable without it
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        # Read the data itself, past any subclass's __torch_function__ or overridden methods.
        with torch._C.DisableTorchFunctionSubclass():
            t = torch.Tensor.detach(value)
            t = torch.Tensor.cpu(t)
            if t.dtype == torch.bfloat16:
                t = torch.Tensor.float(t)
            return np.array(torch.Tensor.numpy(torch.Tensor.contiguous(t)), copy=True)
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    return None


def encode(value: Any) -> bytes:
    """Encode ``value`` (plain data, tensors, arrays) into bytes for ``decode``."""
    buffers: list[bytes] = []

    def enc(v: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise CodecError("value nested too deeply")
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return {"int": str(int(v))}
        if isinstance(v, float):
            return {"float": repr(float(v))}
        arr = _to_numpy(v)
        if arr is not None:
            arr = np.ascontiguousarray(arr)
            dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
            arr = arr.astype(dt, copy=False)
            if dt.str not in ALLOWED_DTYPES:
                raise CodecError(f"arrays of dtype {arr.dtype} cannot be returned")
            buffers.append(arr.tobytes())
            return {"nd": len(buffers) - 1, "dtype": dt.str, "shape": list(arr.shape)}
        if isinstance(v, tuple):
            return {"tuple": [enc(x, depth + 1) for x in v]}
        if isinstance(v, list):
            return [enc(x, depth + 1) for x in v]
        if isinstance(v, dict):
            return {"dict": [[str(k), enc(x, depth + 1)] for k, x in v.items()]}
        raise CodecError(f"values of type {type(v).__name__} cannot be returned")

    doc = json.dumps(enc(value, 0)).encode()
    out = [_HEADER.pack(len(doc)), doc, _HEADER.pack(len(buffers))]
    for b in buffers:
        out += [_HEADER.pack(len(b)), b]
    return b"".join(out)


def decode(data: bytes) -> Any:
    """Decode bytes from ``encode``; raises CodecError on anything malformed or oversized."""
    if len(data) > MAX_BYTES:
        raise CodecError("result too large")
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise CodecError("truncated result")
        chunk = data[pos : pos + n]
        pos += n
        return chunk

    (doc_len,) = _HEADER.unpack(take(_HEADER.size))
    try:
        doc = json.loads(take(doc_len))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CodecError(f"malformed result: {e}") from None
    (n_buf,) = _HEADER.unpack(take(_HEADER.size))
    if n_buf > MAX_ITEMS:
        raise CodecError("too many arrays")
    buffers = []
    for _ in range(n_buf):
        (n,) = _HEADER.unpack(take(_HEADER.size))
        buffers.append(take(n))
    if pos != len(data):
        raise CodecError("trailing bytes in result")
    count = 0

    def dec(v: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if depth > MAX_DEPTH or count > MAX_ITEMS:
            raise CodecError("result nested too deeply or too large")
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, str):
            if len(v) > MAX_STR:
                raise CodecError("string too long")
            return v
        if isinstance(v, list):
            return [dec(x, depth + 1) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise CodecError("malformed result")
        if set(v) == {"int"} and isinstance(v["int"], str) and len(v["int"]) < 4300:
            try:
                return int(v["int"])
            except ValueError:
                raise CodecError("malformed int") from None
        if set(v) == {"float"} and isinstance(v["float"], str) and len(v["float"]) < 64:
            try:
                return float(v["float"])
            except ValueError:
                raise CodecError("malformed float") from None
        if set(v) == {"tuple"} and isinstance(v["tuple"], list):
            return tuple(dec(x, depth + 1) for x in v["tuple"])
        if set(v) == {"dict"} and isinstance(v["dict"], list):
            out = {}
            for item in v["dict"]:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise CodecError("malformed dict")
                out[item[0]] = dec(item[1], depth + 1)
            return out
        if set(v) == {"nd", "dtype", "shape"}:
            return _decode_array(v, buffers)
        raise CodecError("malformed result")

    return dec(doc, 0)


def _decode_array(v: dict, buffers: list[bytes]) -> np.ndarray:
    idx, dtype, shape = v["nd"], v["dtype"], v["shape"]
    if not (isinstance(idx, int) and 0 <= idx < len(buffers)):
        raise CodecError("malformed array reference")
    if dtype not in ALLOWED_DTYPES:
        raise CodecError(f"dtype {dtype!r} not allowed")
    if not (isinstance(shape, list) and len(shape) <= 16 and all(isinstance(s, int) and 0 <= s for s in shape)):
        raise CodecError("malformed array shape")
    dt = np.dtype(dtype)
    if math.prod(shape) * dt.itemsize != len(buffers[idx]):
        raise CodecError("array size does not match its shape")
    return np.frombuffer(buffers[idx], dtype=dt).reshape(shape).copy()
