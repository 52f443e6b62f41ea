"""Extraction: a notebook that runs top to bottom keeps everything its graded functions rely on
(imports, definitions with their decorators, assignments, the template's set-up), exploration code
never runs, and malformed input costs only itself."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import nbformat
from hypothesis import given, settings
from hypothesis import strategies as st

from ditgrade.core.extract import Drivers, extract, source_digest


def notebook(path: Path, *cells: str, ids: tuple[str, ...] = ()) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for cell, cid in zip(nb.cells, ids, strict=False):
        cell.id = cid
    nbformat.write(nb, path)
    return path


def sources(path: Path, **kw) -> list[str]:
    return [s.source for s in extract(path, **kw).statements]


def test_decorators_lambdas_assignments_and_try_imports_are_kept(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "a.ipynb",
                  "import torch\nimport otter\ngrader = otter.Notebook('x.ipynb')",
                  "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\ntorch.manual_seed(0)",
                  "@torch.no_grad()\ndef generate(pipe):\n    return device",
                  "linear = lambda i, o: i * o + o\nSIZES: dict = {'a': 1}\nSIZES['b'] = 2\nn = 1\nn += 1",
                  "try:\n    import scipy\nexcept ImportError:\n    scipy = None",
                  "if torch.cuda.is_available():\n    DEV = 'cuda'\nelse:\n    DEV = 'cpu'",
                  "for i in range(3):\n    print(i)\nplt_result = print('x')\nprint('hi')")
    got = sources(nb)
    assert "@torch.no_grad()\ndef generate(pipe):\n    return device\n" in got
    assert any(s.startswith("device = torch.device(") for s in got)
    assert "linear = lambda i, o: i * o + o\n" in got and "n += 1\n" in got and "SIZES: dict = {'a': 1}\n" in got
    assert any(s.startswith("try:\n    import scipy") for s in got) and any(s.startswith("if torch.cuda") for s in got)
    assert not any("otter" in s or "print(i)" in s or "manual_seed" in s or "for i" in s for s in got)
    out = extract(nb)
    assert [s.label for s in out.skipped_for("i")] == ["cell 7, line 1"]
    assert "SIZES['b'] = 2\n" in got  # every top-level assignment runs
    assert "plumbing" in out.skipped_for("grader")[0].reason


def test_the_templates_driver_cells_keep_only_definitions(tmp_path: Path) -> None:
    driver = "tokens = patchify(z, 2)\ndef helper():\n    return 1\nimport math"
    nb = notebook(tmp_path / "a.ipynb", "x = 1", driver, "y = 2", ids=("setup", "explore", "mine"))
    got = sources(nb, drivers=Drivers(frozenset({"explore"})))
    assert got == ["x = 1\n", "def helper():\n    return 1\n", "import math\n", "y = 2\n"]
    # recognised by its source too (a platform that drops cell ids)
    nb2 = notebook(tmp_path / "b.ipynb", driver, ids=("other",))
    assert sources(nb2, drivers=Drivers(sources=frozenset({source_digest(driver)}))) == [
        "def helper():\n    return 1\n", "import math\n"]


def test_u2028_in_a_comment_and_windows_newlines_are_fine(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "a.ipynb", "# a comment with \u2028 inside it x = 1\r\ndef f():\r\n    return 2\r\n")
    assert sources(nb) == ["def f():\n    return 2\n"]


def test_later_definitions_win_and_a_syntax_error_costs_only_its_cell(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "a.ipynb", "def f():\n    return 1", "def g(:\n    pass", "def f():\n    return 2")
    out = extract(nb)
    assert [s.source for s in out.statements][-1] == "def f():\n    return 2\n"
    assert any("cell 2: syntax error" in n for n in out.notes)


def test_magics_are_blanked_and_non_python_cell_magics_skipped(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "a.ipynb", "%pip install x\n!ls\ndef f():\n    return 1", "%%bash\necho hi",
                  "%%time\ndef g():\n    return 2")
    out = extract(nb)
    assert [s.label for s in out.statements] == ["cell 1, line 3", "cell 3, line 2"]
    assert any("cell magic" in n for n in out.notes)


def test_a_py_file_is_filtered_like_a_cell(tmp_path: Path) -> None:
    p = tmp_path / "s.py"
    p.write_text("import torch\n\ndef f():\n    return 1\n\nprint(f())\nif __name__ == '__main__':\n    f()\n")
    assert sources(p) == ["import torch\n", "def f():\n    return 1\n"]


def test_export_zip_takes_the_assignments_notebook(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("other.ipynb", json.dumps(nbformat.v4.new_notebook()))
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("def mine():\n    return 1")]
        z.writestr("hw.ipynb", nbformat.writes(nb))
    p = tmp_path / "export.zip"
    p.write_bytes(buf.getvalue())
    assert sources(p, notebook_name="hw.ipynb") == ["def mine():\n    return 1\n"]


def test_malformed_inputs_are_notes_not_exceptions(tmp_path: Path) -> None:
    bad = {"cells": [{"cell_type": "code", "source": ["def f():\n", 7, "    return 1\n"]},
                     {"cell_type": "code", "source": "def g():\n    return 2"}], "nbformat": 4}
    (tmp_path / "int.ipynb").write_text(json.dumps(bad))
    out = extract(tmp_path / "int.ipynb")
    assert [s.source for s in out.statements] == ["def g():\n    return 2\n"]
    assert any("cell 1: its source is not text" in n for n in out.notes)
    deep = tmp_path / "deep.py"
    deep.write_text("x = " + "-" * 200_000 + "1\ndef h():\n    return 3\n")
    out = extract(deep)
    assert any("nested too deeply" in n for n in out.notes) and not out.statements
    parens = notebook(tmp_path / "p.ipynb", "x = " + "(" * 100_000 + "1" + ")" * 100_000, "def h():\n    return 3")
    out = extract(parens)
    assert any("cell 1: syntax error" in n for n in out.notes) and sources(parens) == ["def h():\n    return 3\n"]
    for name, data in (("n.ipynb", "{not json"), ("z.zip", "PK garbage"), ("b.py", b"\xff\xfe\x00")):
        p = tmp_path / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
        assert extract(p).notes and not extract(p).statements
    assert extract(tmp_path / "missing.ipynb").notes


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.lists(st.text(max_size=200), max_size=5))
def test_any_cell_text_is_handled(cells: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.ipynb"
        p.write_text(json.dumps({"cells": [{"cell_type": "code", "source": c} for c in cells], "nbformat": 4}))
        out = extract(p)
        for s in out.statements:
            compile(s.source, s.label, "exec")


def test_predictions_and_json_bombs_are_bounded(tmp_path) -> None:
    """What one student adds to the class's report is capped; a notebook of millions of JSON
    containers is refused before it is parsed (the grader's memory), with a note."""
    import json

    from ditgrade.core import extract as ex

    cells = [{"cell_type": "markdown", "metadata": {"tags": ["prediction"]}, "id": f"p{i}",
              "source": f"**Your predictions (exercise {i}):** " + "x" * 3000} for i in range(40)]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "flood.ipynb"
    path.write_text(json.dumps(nb))
    got = ex.extract(path).predictions
    assert 0 < len(got) <= ex.MAX_PREDICTIONS
    assert sum(len(v) for v in got.values()) <= ex.MAX_PREDICTION_CHARS + len(ex._TRUNCATED) + 100
    bomb = tmp_path / "bomb.ipynb"
    bomb.write_text('{"cells": [' + "{}," * (ex.MAX_JSON_CONTAINERS + 10) + '{}], "nbformat": 4}')
    out = ex.extract(bomb)
    assert out.statements == [] and any("notebook" in n for n in out.notes), out.notes
