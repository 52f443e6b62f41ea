"""Extraction: definitions only, cell by cell; bad input becomes a note, never an exception."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import nbformat
from hypothesis import given, settings
from hypothesis import strategies as st

from ditgrade.extract import extract


def notebook(tmp_path: Path, *cells: str, name: str = "sub.ipynb") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")] + [nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def run_chunks(chunks) -> dict:
    ns: dict = {}
    for c in chunks:
        exec(compile(c.source, c.label, "exec"), ns)
    return ns


def test_definitions_kept_drivers_dropped(tmp_path: Path) -> None:
    path = notebook(
        tmp_path,
        "import math\nfrom math import sqrt as root\nP = 2\nSCALE = 1 / math.sqrt(4)\n"
        "model = DiTPipeline.from_pretrained('facebook/DiT-XL-2-256')\nprint('hi')",
        "%matplotlib inline\n!pip install torch\ndef f(x):\n    return x * P\n\nf(3)\nplt.show()",
        "class A:\n    n = 3\n\nif __name__ == '__main__':\n    raise SystemExit(1)\nfor i in range(10**9):\n    pass",
        "block = model.blocks[0]\nx = [i for i in range(3)]\nwith open('/etc/passwd') as fh:\n    pass",
    )
    ex = extract(path)
    assert [c.label for c in ex.chunks] == ["cell 2", "cell 3", "cell 4"]  # cell 1 is markdown
    src = "\n".join(c.source for c in ex.chunks)
    for dropped in ("from_pretrained", "print(", "f(3)", "plt.show", "__main__", "range(10**9)", "model.blocks",
                    "open(", "pip install", "matplotlib"):
        assert dropped not in src, dropped
    ns = run_chunks(ex.chunks)
    assert ns["f"](3) == 6 and ns["A"].n == 3 and ns["SCALE"] == 0.5 and ns["root"](9) == 3


def test_later_definitions_win_and_a_syntax_error_costs_only_its_cell(tmp_path: Path) -> None:
    path = notebook(tmp_path, "def f():\n    return 1", "def g(:\n    pass\ndef h():\n    return 0",
                    "def f():\n    return 2")
    ex = extract(path)
    assert any("cell 3" in n and "syntax error" in n for n in ex.notes), ex.notes
    ns = run_chunks(ex.chunks)
    assert ns["f"]() == 2 and "h" not in ns


def test_a_py_file_is_filtered_like_a_cell(tmp_path: Path) -> None:
    path = tmp_path / "sub.py"
    path.write_text("import os\ndef f():\n    return 1\nos.system('echo pwned')\n"
                    "if __name__ == '__main__':\n    f()\n")
    ex = extract(path)
    assert [c.label for c in ex.chunks] == ["file"]
    assert "os.system" not in ex.chunks[0].source and "__main__" not in ex.chunks[0].source


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_export_zip_takes_the_top_level_notebook(tmp_path: Path) -> None:
    nb = notebook(tmp_path, "def patchify(z, p):\n    return 'top'").read_bytes()
    other = notebook(tmp_path, "def patchify(z, p):\n    return 'nested'", name="o.ipynb").read_bytes()
    z = tmp_path / "export.zip"
    z.write_bytes(zip_bytes({"sub/o.ipynb": other, "dit_assignment.ipynb": nb, "notes.txt": b"x",
                             ".ipynb_checkpoints/dit_assignment-checkpoint.ipynb": other}))
    assert run_chunks(extract(z).chunks)["patchify"](0, 0) == "top"


def test_malformed_inputs_are_notes_not_exceptions(tmp_path: Path) -> None:
    cases = {
        "garbage.ipynb": b"\x00\xff\xfe garbage",
        "empty.ipynb": b"",
        "nocells.ipynb": json.dumps({"cells": "nope"}).encode(),
        "useless.zip": zip_bytes({"readme.txt": b"hello"}),
        "bad.zip": b"PK\x03\x04 not really",
        "latin1.py": "def f():\n    return '\xe9'\n".encode("latin-1"),
        "paper.pdf": b"%PDF-1.4",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        ex = extract(tmp_path / name)
        assert ex.chunks == [] and ex.notes, name
    assert extract(tmp_path / "missing.ipynb").notes
    assert extract(tmp_path).notes  # a folder with nothing gradeable in it
    empty = notebook(tmp_path, "", "print('only a driver')", name="blank.ipynb")
    assert extract(empty).chunks == [] and "no functions or classes" in extract(empty).notes[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=5))
def test_any_cell_text_is_handled(tmp_path_factory, cells: list[str]) -> None:
    path = notebook(tmp_path_factory.mktemp("nb"), *cells)
    ex = extract(path)
    for c in ex.chunks:
        compile(c.source, c.label, "exec")  # whatever was kept still parses on its own
