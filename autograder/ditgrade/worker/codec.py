"""Encode what student code returned as plain data: the only form an answer leaves the sandbox in.

Runs in the student's process. A value becomes a JSON document plus raw array buffers (see
``FORMAT``); the grader decodes it with ``ditgrade.core.values.decode`` and never unpickles.

Every fact the grader judges is read off the value itself here, never taken from a probe's say-so:
a tensor is sent with its own dtype, shape, device and ``requires_grad``, an exception with the
names of its class hierarchy. The student may have replaced ``torch``, ``numpy`` or builtins by the
time an answer is encoded, so this module only uses references taken when it was imported (before
any student code ran), and the C-level accessors of tensors and arrays, which a Python subclass or
a monkeypatch cannot change. It defines no class with methods, so nothing reachable from student
code leads back to these references (see ``ditgrade.worker.guard``).
"""

from __future__ import annotations

import json as _json
import struct as _struct

import numpy as _np
import torch as _torch

MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_STR = 100_000
MAX_TENSOR_ELEMENTS = 4_000_000  # larger tensors travel as metadata only (shape, dtype, device)
MAX_ANSWER_BYTES = 64 << 20  # strings and array data of one answer (the grader refuses more anyway)
# dtypes whose values travel; anything else (complex, object, strings) travels as metadata only
NUMERIC_KINDS = "biuf"
_HEADER = _struct.Struct("<Q")

FORMAT = """
value    := null | true | false | string | [value, ...]
          | {"i": decimal}  | {"f": repr}          int, float
          | {"t": [value...]} | {"d": [[key, value]...]}    tuple, dict with str keys
          | {"a": buffer, "dtype": "<f4", "shape": [...]}    numpy array
          | {"T": buffer|null, "dtype": "float32", "shape": [...], "device": "cpu",
             "requires_grad": bool, "parameter": bool, "note": str}     torch tensor
          | {"x": ["ValueError", "Exception", ...], "message": str}     an exception (raised, not returned)
          | {"o": type name}                                           anything else
bytes    := u64 len(doc) | doc | u64 n | (u64 len | buffer) * n
"""


class CodecError(ValueError):
    """The value cannot be sent as plain data (too deep, too large, unsupported)."""


# References taken at import, before any student code runs.
_type = type
_isinstance = isinstance
_len = len
_str = str
_repr_int = int.__repr__
_repr_float = float.__repr__
_str_str = str.__str__
_list_getitem = list.__getitem__
_list_len = list.__len__
_tuple_getitem = tuple.__getitem__
_tuple_len = tuple.__len__
_dict_items = dict.items
_type_name = type.__dict__["__name__"].__get__
_type_mro = type.__dict__["__mro__"].__get__
_exc_str = BaseException.__str__
_TensorBase = _torch._C.TensorBase
_Parameter = _torch.nn.Parameter
_t_dtype = _TensorBase.dtype.__get__
_t_device = _TensorBase.device.__get__
_t_requires_grad = _TensorBase.requires_grad.__get__
_t_size = _TensorBase.size
_t_detach = _TensorBase.detach
_t_cpu = _TensorBase.cpu
_t_contiguous = _TensorBase.contiguous
_t_numpy = _TensorBase.numpy
_t_view = _TensorBase.view
_t_numel = _TensorBase.numel
_no_subclass = _torch._C.DisableTorchFunctionSubclass
_bf16, _int16, _meta = _torch.bfloat16, _torch.int16, "meta"
_ndarray = _np.ndarray
_generic = _np.generic
_asarray = _np.asarray
_ascontiguous = _np.ascontiguousarray
_np_dtype = _np.dtype
_arr_dtype = _np.ndarray.dtype.__get__
_arr_shape = _np.ndarray.shape.__get__
_arr_tobytes = _np.ndarray.tobytes
_arr_astype = _np.ndarray.astype
_arr_newbyteorder = _np.dtype.newbyteorder
_encode_str = _json.encoder.encode_basestring_ascii  # C: no builtins involved
_scan = _json.scanner.make_scanner(_json.JSONDecoder())  # C scanner: no builtins involved
_join_str = "".join
_pack = _HEADER.pack
_join = b"".join
_bool, _int, _float, _range = bool, int, float, range
_list, _tuple, _dict, _BaseException = list, tuple, dict, BaseException
# torch dtype -> the numpy dtype its values travel as (bfloat16 travels as its raw 16 bits)
_TORCH_WIRE = {
    _torch.bool: "|b1", _torch.uint8: "|u1", _torch.int8: "|i1", _torch.int16: "<i2", _torch.int32: "<i4",
    _torch.int64: "<i8", _torch.float16: "<f2", _torch.float32: "<f4", _torch.float64: "<f8",
    _torch.bfloat16: "<u2", _torch.uint16: "<u2", _torch.uint32: "<u4", _torch.uint64: "<u8",
}
_TORCH_NAMES = {dt: _str(dt).removeprefix("torch.") for dt in _TORCH_WIRE}


def encode(value: object) -> bytes:
    """``value`` as bytes for ``ditgrade.core.values.decode``; raises CodecError when it cannot be sent."""
    buffers: list[bytes] = []
    count = [0]
    size = [0]

    def grow(n: int) -> None:
        size[0] += n
        if size[0] > MAX_ANSWER_BYTES:
            raise CodecError(f"the answer is larger than {MAX_ANSWER_BYTES >> 20} MiB")

    def enc(v: object, depth: int) -> object:
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_ITEMS:
            raise CodecError("the value is nested too deeply or holds too many items")
        t = _type(v)
        if v is None or t is _bool:
            return v
        if _isinstance(v, _int):
            return {"i": _repr_int(v)}
        if _isinstance(v, _float):
            return {"f": _repr_float(v)}
        if _isinstance(v, _str):
            s = _str_str(v)
            if _len(s) > MAX_STR:
                raise CodecError(f"a string of {_len(s):,} characters is too long")
            grow(_len(s))
            return s
        if _isinstance(v, _TensorBase):
            return tensor(v)
        if _isinstance(v, (_ndarray, _generic)):
            return array(_asarray(v))
        if _isinstance(v, _BaseException):
            return exception(v)
        if _isinstance(v, _list):
            return [enc(_list_getitem(v, i), depth + 1) for i in _range(_list_len(v))]
        if _isinstance(v, _tuple):
            return {"t": [enc(_tuple_getitem(v, i), depth + 1) for i in _range(_tuple_len(v))]}
        if _isinstance(v, _dict):
            return {"d": [[_str_str(k) if _isinstance(k, _str) else _repr_of(k), enc(x, depth + 1)]
                          for k, x in _dict_items(v)]}
        return {"o": _type_name(t)}

    def buffer(data: bytes) -> int:
        grow(_len(data))
        buffers.append(data)
        return _len(buffers) - 1

    def array(a: _np.ndarray) -> dict:
        dt = _arr_dtype(a)
        if dt.kind not in NUMERIC_KINDS:
            return {"o": f"ndarray of dtype {dt}"}
        if dt.byteorder == ">":
            a = _arr_astype(a, _arr_newbyteorder(dt, "<"))
            dt = _arr_dtype(a)
        a = _ascontiguous(a)
        return {"a": buffer(_arr_tobytes(a)), "dtype": dt.str, "shape": [_int(s) for s in _arr_shape(a)]}

    def tensor(t: object) -> dict:
        with _no_subclass():
            dtype, device = _t_dtype(t), _t_device(t)
            shape = [_int(s) for s in _t_size(t)]
            out = {"T": None, "dtype": _TORCH_NAMES.get(dtype, _str(dtype).removeprefix("torch.")),
                   "shape": shape, "device": _str(device.type), "requires_grad": _bool(_t_requires_grad(t)),
                   "parameter": _isinstance(t, _Parameter), "note": ""}
            if device.type == _meta:
                out["note"] = "it lives on the meta device (no data)"
            elif dtype not in _TORCH_WIRE:
                out["note"] = f"dtype {out['dtype']} cannot be read"
            elif _t_numel(t) > MAX_TENSOR_ELEMENTS:
                out["note"] = f"it has {_t_numel(t):,} elements, more than the grader reads"
            else:
                d = _t_contiguous(_t_cpu(_t_detach(t)))
                if dtype == _bf16:
                    d = _t_view(d, _int16)
                out["T"] = buffer(_arr_tobytes(_ascontiguous(_t_numpy(d))))
            return out

    doc = _to_json(enc(value, 0)).encode()
    parts = [_pack(_len(doc)), doc, _pack(_len(buffers))]
    for b in buffers:
        parts += [_pack(_len(b)), b]
    return _join(parts)


def _to_json(doc: object) -> str:
    """JSON text of an encoded document (None, bools, ints, strs, lists, dicts of str keys), written
    with references taken at import: ``json.dumps`` would call builtins the student may have replaced."""
    parts: list[str] = []
    add = parts.append

    def write(v: object) -> None:
        t = _type(v)
        if v is None:
            add("null")
        elif t is _bool:
            add("true" if v else "false")
        elif t is _int:
            add(_repr_int(v))
        elif t is _str:
            add(_encode_str(v))
        elif t is _list:
            add("[")
            for i in _range(_list_len(v)):
                if i:
                    add(",")
                write(_list_getitem(v, i))
            add("]")
        elif t is _dict:
            add("{")
            first = True
            for k, x in _dict_items(v):
                if not first:
                    add(",")
                first = False
                add(_encode_str(k))
                add(":")
                write(x)
            add("}")
        else:
            raise CodecError(f"cannot write {_type_name(t)}")

    write(doc)
    return _join_str(parts)


def exception(e: BaseException) -> dict:
    """An exception as data: the names of its class and base classes, and a short message."""
    names = [_type_name(c) for c in _type_mro(_type(e))]
    try:
        message = _str_str(_exc_str(e))[:2000]
    except Exception:  # noqa: BLE001 - an exception whose args cannot be printed
        message = "<unprintable>"
    return {"x": names, "message": message}


def _repr_of(key: object) -> str:
    """A dict key that is not a str, as text (dict keys travel as strings)."""
    if _isinstance(key, _int):
        return _repr_int(key)
    if _isinstance(key, _float):
        return _repr_float(key)
    return f"<{_type_name(_type(key))}>"


# For the decoder: the wire dtype each torch dtype name travels as.
TORCH_WIRE_DTYPES = {_TORCH_NAMES[dt]: wire for dt, wire in _TORCH_WIRE.items()}
ARRAY_DTYPES = {"|b1", "|u1", "|i1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"}


def decode(data: bytes, *, max_doc: int = 4 << 20, tensor: object = None, exception: object = None,
           opaque: object = None) -> object:
    """The value ``encode`` wrote, checking every size, depth and count while it reads.

    Tensors, exceptions and opaque values become what the factories ``tensor(values, dtype, shape,
    device, requires_grad, parameter, note)``, ``exception(names, message)`` and ``opaque(name)``
    make (the grader passes its own classes); without a factory such a value is a CodecError.
    Anything malformed, oversized or too deep is a CodecError, never another exception of any kind.
    """
    try:
        return _decode(data, max_doc, tensor, exception, opaque)
    except CodecError:
        raise
    except Exception as e:  # any other failure at all (the C scanner raises StopIteration on bad JSON)
        raise CodecError(f"malformed value ({type(e).__name__})") from None


_BUILTINS = (len, type, set, int, float, tuple, list, range, bytes, memoryview, dict, str, bool, all)


def _decode(data: bytes, max_doc: int, make_tensor, make_exception, make_opaque) -> object:
    # builtins as they were at import: the worker decodes the grader's requests after student code ran
    len, type, set, int, float, tuple, list, range, bytes, memoryview, dict, str, bool, all = _BUILTINS  # noqa: A001
    view = memoryview(data)
    pos = 0

    def take(n: int) -> memoryview:
        nonlocal pos
        if n < 0 or pos + n > len(view):
            raise CodecError("truncated value")
        chunk = view[pos : pos + n]
        pos += n
        return chunk

    (doc_len,) = _HEADER.unpack(take(_HEADER.size))
    if doc_len > max_doc:
        raise CodecError(f"a document of {doc_len:,} bytes is over the {max_doc:,}-byte limit")
    raw = bytes(take(doc_len))
    # Refused before it is parsed: the scanner would build every object first (a few MB of "{}," are
    # gigabytes of dicts), and a document that holds more containers than a value may is malformed.
    if raw.count(b"{") + raw.count(b"[") > 2 * MAX_ITEMS:
        raise CodecError("the document holds more objects than a value may")
    text = raw.decode("utf-8")
    try:
        doc, end = _scan(text, 0)
    except RecursionError:  # the scanner recurses per level: refused as dec() refuses it, at any limit
        raise CodecError("the value is nested too deeply or holds too many items") from None
    if end != len(text):
        raise CodecError("trailing text after the document")
    (n_buffers,) = _HEADER.unpack(take(_HEADER.size))
    if n_buffers > MAX_ITEMS:
        raise CodecError("too many arrays")
    buffers = []
    for _ in range(n_buffers):
        (n,) = _HEADER.unpack(take(_HEADER.size))
        buffers.append(take(n))
    if pos != len(view):
        raise CodecError("trailing bytes after the value")
    count = 0

    def array_of(index: object, wire: str, shape: object) -> _np.ndarray:
        if not (type(index) is int and 0 <= index < len(buffers)):
            raise CodecError("malformed array reference")
        if not (type(shape) is list and len(shape) <= 32 and all(type(s) is int and s >= 0 for s in shape)):
            raise CodecError("malformed array shape")
        dt = _np.dtype(wire)
        n = 1
        for s in shape:
            n *= s
        if n * dt.itemsize != len(buffers[index]):
            raise CodecError("array size does not match its shape")
        return _np.frombuffer(buffers[index], dtype=dt).reshape(shape).copy()

    def dec(v: object, depth: int) -> object:
        nonlocal count
        count += 1
        if depth > MAX_DEPTH or count > MAX_ITEMS:
            raise CodecError("the value is nested too deeply or holds too many items")
        if v is None or type(v) is bool:
            return v
        if type(v) is str:
            if len(v) > MAX_STR:
                raise CodecError("string too long")
            return v
        if type(v) is list:
            return [dec(x, depth + 1) for x in v]
        if type(v) is not dict or len(v) == 0:
            raise CodecError("malformed value")
        keys = set(v)
        if keys == {"i"} and type(v["i"]) is str and len(v["i"]) < 4300:
            return int(v["i"])
        if keys == {"f"} and type(v["f"]) is str and len(v["f"]) < 64:
            return float(v["f"])
        if keys == {"t"} and type(v["t"]) is list:
            return tuple(dec(x, depth + 1) for x in v["t"])
        if keys == {"d"} and type(v["d"]) is list:
            out = {}
            for item in v["d"]:
                if not (type(item) is list and len(item) == 2 and type(item[0]) is str):
                    raise CodecError("malformed dict")
                out[item[0]] = dec(item[1], depth + 1)
            return out
        if keys == {"a", "dtype", "shape"} and v["dtype"] in ARRAY_DTYPES:
            return array_of(v["a"], v["dtype"], v["shape"])
        if keys == {"T", "dtype", "shape", "device", "requires_grad", "parameter", "note"} and make_tensor:
            dtype, note = v["dtype"], v["note"]
            if not (type(dtype) is str and type(note) is str and type(v["device"]) is str
                    and type(v["requires_grad"]) is bool and type(v["parameter"]) is bool):
                raise CodecError("malformed tensor")
            values = None
            if v["T"] is not None:
                if dtype not in TORCH_WIRE_DTYPES:
                    raise CodecError("malformed tensor dtype")
                values = array_of(v["T"], TORCH_WIRE_DTYPES[dtype], v["shape"])
                if dtype == "bfloat16":  # raw 16 bits: the upper half of a float32
                    values = (values.astype(_np.uint32) << 16).view(_np.float32)
            elif not (type(v["shape"]) is list and all(type(s) is int and s >= 0 for s in v["shape"])):
                raise CodecError("malformed tensor shape")
            return make_tensor(values, dtype[:40], tuple(v["shape"]), v["device"][:40], v["requires_grad"],
                               v["parameter"], note[:500])
        if keys == {"x", "message"} and make_exception and type(v["x"]) is list and type(v["message"]) is str:
            names = [str(n)[:200] for n in v["x"][:64] if type(n) is str]
            return make_exception(names, v["message"][:2000])
        if keys == {"o"} and make_opaque and type(v["o"]) is str:
            return make_opaque(v["o"][:200])
        raise CodecError("malformed value")

    return dec(doc, 0)
