"""A notebook's outputs and attachments dropped as its bytes arrive (``worker.drop_outputs``), and the
reader's limits that follow from it: 100 MB with outputs, 20 MB without (attack round 19: a correct
notebook with 22 MB of saved images scored 0)."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import nbformat
from hypothesis import given, settings
from hypothesis import strategies as st

from ditgrade.core.extract import read_trusted
from ditgrade.worker import read
from ditgrade.worker.drop_outputs import OutputsDropped, drop_outputs

DROPPED = ("outputs", "attachments")


def emptied(value: object) -> object:
    """What the reader should see: every dropped key's array or object value emptied, at any depth."""
    if isinstance(value, dict):
        return {k: (type(v)() if k in DROPPED and isinstance(v, (list, dict)) else emptied(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [emptied(v) for v in value]
    return value


# Strings full of what the scan looks for: quotes, backslashes, brackets, colons, the keys themselves.
TEXT = st.lists(st.sampled_from(list('ab"\\[]{}:, \n\u00e9\u2028') + ["outputs", "attachments"]),
                max_size=8).map("".join)
KEYS = st.one_of(st.sampled_from(DROPPED + ("source", "cell_type", "metadata")), TEXT)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                    max_leaves=25)


def pieces_of(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(derandomize=True, database=None, deadline=None, max_examples=400)
@given(value=st.dictionaries(KEYS, JSON, max_size=5), cuts=st.lists(st.integers(0, 10_000), max_size=8),
       spaced=st.booleans())
def test_what_is_kept_is_the_notebook_with_its_dropped_values_emptied(value: dict, cuts: list[int],
                                                                       spaced: bool) -> None:
    data = json.dumps(value, indent=1 if spaced else None, ensure_ascii=False).encode()
    reader = OutputsDropped(1 << 20)
    for piece in pieces_of(data, cuts):  # wherever the pieces are cut: inside a string, after a backslash ...
        reader.add(piece)
    assert json.loads(bytes(reader.kept)) == emptied(value)
    assert not reader.too_large and reader.read == len(data)


def test_only_an_array_or_object_value_of_the_exact_key_is_dropped() -> None:
    kept, _ = drop_outputs(b'{"outputs": "text", "x": {"outputs" : [1, {"a": "]"}], "out\\u0070uts": [2]}}', 100)
    assert kept == b'{"outputs": "text", "x": {"outputs" : [], "out\\u0070uts": [2]}}'


def test_bytes_that_are_not_json_stay_so() -> None:
    kept, _ = drop_outputs(b'{"cells": [{"outputs": [{"text": "]"}, "source": "x"', 100)
    assert kept == b'{"cells": [{"outputs": []'  # an unclosed dropped value swallows the rest
    kept, _ = drop_outputs(b'{"outputs": [1}, "source": "code"}', 100)  # closed by the wrong bracket
    assert kept == b'{"outputs": []\0'


def test_colons_after_a_long_string_cost_nothing_each() -> None:
    """Attack round 20: each colon copied the last string (4 MB here), 10 ms a colon; a 20 MB notebook
    of them read for 4.5 minutes. Now only a string as short as a dropped key is compared."""
    data = b'{"' + b"k" * (4 << 20) + b'"' + b":" * 3000 + b'}'
    start = time.perf_counter()
    drop_outputs(data, 8 << 20)
    assert time.perf_counter() - start < 2.0  # 30 s before


def test_past_the_limit_nothing_more_is_kept() -> None:
    kept, too_large = drop_outputs(b'{"source": "' + b"x" * 50 + b'", "outputs": [1]}', 30)
    assert too_large and len(kept) == 31


def big_notebook(path: Path, image_mb: int, *, code: str = "def twice(x):\n    return 2 * x\n") -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(code)
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR" + "A" * (image_mb << 20)})]
    md = nbformat.v4.new_markdown_cell("![pasted](attachment:a.png)")
    md.attachments = {"a.png": {"image/png": "B" * (1 << 20)}}
    nb.cells = [md, cell]
    nbformat.write(nb, path)
    return path


def test_a_notebook_over_20_mb_of_outputs_is_read_and_its_code_kept(tmp_path: Path) -> None:
    path = big_notebook(tmp_path / "plots.ipynb", 25)
    assert path.stat().st_size > read.MAX_SUBMISSION_BYTES
    got = read_trusted(path)
    assert not got.unreadable and [s.source for s in got.statements] == ["def twice(x):\n    return 2 * x\n"]
    # the same notebook, upper-case extension and zipped (its member is read a piece at a time)
    assert [s.source for s in read_trusted(path.rename(tmp_path / "PLOTS.IPYNB")).statements] == [
        "def twice(x):\n    return 2 * x\n"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(tmp_path / "PLOTS.IPYNB", "hw/plots.ipynb")
    zipped = tmp_path / "export.zip"
    zipped.write_bytes(buf.getvalue())
    got = read_trusted(zipped)
    assert not got.unreadable and got.file == "export.zip:hw/plots.ipynb" and len(got.statements) == 1


def test_the_limits_with_and_without_outputs(tmp_path: Path) -> None:
    too_big = tmp_path / "huge.ipynb"
    with open(too_big, "wb") as f:  # sparse: 101 MB that cost no disk
        f.truncate(read.MAX_NOTEBOOK_BYTES + (1 << 20))
    assert read_trusted(too_big).unreadable == "the file is too large to grade (101.0 MB; the limit is 100 MB)"
    code = "x = 1\n" + "# " + "c" * (21 << 20) + "\n"  # 21 MB of code and text: outputs are not the cause
    why = read_trusted(big_notebook(tmp_path / "code.ipynb", 0, code=code)).unreadable
    assert why.startswith("the notebook is too large to grade: more than 20 MB without its outputs"), why
    py = tmp_path / "big.py"
    py.write_text("x = 1\n" + "#" * (21 << 20))
    assert read_trusted(py).unreadable.startswith("the file is too large to grade (21.0 MB; the limit is 20 MB)")
