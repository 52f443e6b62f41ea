"""Reading a submission (``ditgrade.worker.read``, run here in-process on trusted inputs): a notebook is
graded as it runs top to bottom, every top-level statement of the student's cells included, with the
names each binds or changes; plumbing and the template's exploration cells are left out by design;
malformed input costs only itself and is never an exception."""

from __future__ import annotations

import ast
import io
import json
import zipfile
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ditgrade.core.extract import ExplorationCells, read_trusted, source_digest
from ditgrade.worker import ipython_cells, read


def notebook(path: Path, *cells: str, ids: tuple[str, ...] = ()) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for cell, cid in zip(nb.cells, ids, strict=False):
        cell.id = cid
    nbformat.write(nb, path)
    return path


def sources(path: Path, **kw) -> list[str]:
    return [s.source for s in read_trusted(path, **kw).statements]


def test_every_top_level_statement_runs_in_notebook_order(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "a.ipynb",
                  "import warnings\nTABLE = {}\nfor i in range(3):\n    TABLE[i] = i * i\nREG = []\nREG.append(int)",
                  "with warnings.catch_warnings():\n    import math\nCOUNT = 0\nwhile COUNT < 3:\n    COUNT += 1",
                  "tmp = 5\ndel tmp\nD = {}\nD.update(a=1)\nprint('exploring')\nassert TABLE[2] == 4",
                  "def f():\n    global G\n    G = 1\nf()\nx = [1]\nx[0] += 1")
    got = read_trusted(nb)
    assert [s.label for s in got.statements][:6] == ["cell 1, line 1", "cell 1, line 2", "cell 1, line 3",
                                                    "cell 1, line 5", "cell 1, line 6", "cell 2, line 1"]
    assert len(got.statements) == 18 and not got.skipped and not got.notes
    by_first = {s.source.split("\n")[0]: s for s in got.statements}
    assert by_first["for i in range(3):"].names == ("i", "TABLE")
    assert by_first["REG.append(int)"].names == ("REG",)
    assert by_first["with warnings.catch_warnings():"].names == ("math",)  # warnings is a module: not changed
    assert by_first["D.update(a=1)"].names == ("D",)
    assert by_first["del tmp"].names == ("tmp",)
    assert by_first["def f():"].names == ("f", "G")
    assert by_first["x[0] += 1"].names == ("x",)
    assert by_first["print('exploring')"].names == ()
    assert [s.definition for s in got.statements[:2]] == [True, False]


def test_decorators_class_bodies_setattr_and_module_calls(tmp_path: Path) -> None:
    p = tmp_path / "s.py"
    p.write_text("import torch\nREG = {}\n\n@REG.setdefault('k', [])\ndef g():\n    pass\n\n"
                 "class Parts:\n    ALL = []\n    REG.clear()\n\nsetattr(Parts, 'n', 6)\ntorch.manual_seed(0)\n"
                 "torch.flag = True\n")
    names = {s.source.split("\n")[0]: s.names for s in read_trusted(p).statements}
    assert names["@REG.setdefault('k', [])"] == ("g", "REG")
    assert names["class Parts:"] == ("Parts", "REG")  # its body runs when it is defined
    assert names["setattr(Parts, 'n', 6)"] == ("Parts",)
    assert names["torch.manual_seed(0)"] == ()  # a module's function: torch is not changed
    assert names["torch.flag = True"] == ("torch",)  # but an attribute set on it is


def test_uses_reach_the_top_level_code_graded_functions_rely_on(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "u.ipynb",
                  "import torch\nORDER = {}\nfor k in range(4):\n    ORDER[k] = (k + 1) % 4\nunused = 3",
                  "def helper(x):\n    return ORDER[x]\n\ndef patchify(z, p):\n    return helper(p)")
    got = read_trusted(nb, graded={"q1": ["patchify"], "q9": ["missing"]})
    assert {"patchify", "helper", "ORDER", "k", "range"} <= got.uses["q1"]
    assert "unused" not in got.uses["q1"] and got.uses["q9"] == {"missing"}


def test_uses_leave_out_a_functions_own_names(tmp_path: Path) -> None:
    """Parameters, locals, loop and comprehension variables of the graded code are its own, not the
    notebook's: a top-level loop over ``name, module`` is not what a function's own loop over those
    names relies on (independent student round 24: every failure's feedback named such loops). A
    class body reads a name it binds from the notebook until it has bound it (attack round 25)."""
    nb = notebook(tmp_path / "u.ipynb",
                  "for name, module in [('a', 1)]:\n    print(name)\nC, H, W, p = 4, 8, 8, 2\nLIMIT = N = 3",
                  "def convs(model, attr):\n    out = [name for name, module in model if name.startswith(attr)]\n"
                  "    return [m for m in out][:LIMIT]\n\nclass Walker:\n    depth = LIMIT\n    N = N\n"
                  "    def walk(self, p):\n        return lambda C: C + p\n\n"
                  "def patchify(z, p):\n    C, H, W = z.shape[1:]\n    return z, C, H, W, Walker")
    got = read_trusted(nb, graded={"q1": ["patchify"], "q4": ["convs"]})
    assert got.uses["q4"] == {"convs", "LIMIT"}
    assert got.uses["q1"] == {"patchify", "Walker", "LIMIT", "N"}  # a class body's N = N reads the notebook's N


def test_plumbing_and_the_templates_exploration_cells_are_left_out(tmp_path: Path) -> None:
    driver = "x = patchify(z, 2)\ndef kept():\n    return 1\nimport math"
    nb = notebook(tmp_path / "d.ipynb", "import otter\ngrader = otter.Notebook('x.ipynb')\nimport torch",
                  driver, "grader.check('q1')\ny = 2", ids=("set-up", "explore", "mine"))
    got = read_trusted(nb, drivers=ExplorationCells(ids=frozenset({"explore"})))
    assert [s.source for s in got.statements] == ["import torch\n", "def kept():\n    return 1\n",
                                                  "import math\n", "y = 2\n"]
    reasons = {s.text: s.reason for s in got.skipped}
    assert reasons["import otter"] == reasons["grader = otter.Notebook('x.ipynb')"] == read.PLUMBING
    assert reasons["grader.check('q1')"] == read.PLUMBING and reasons["x = patchify(z, 2)"] == read.DRIVER
    same = read_trusted(notebook(tmp_path / "e.ipynb", driver),
                        drivers=ExplorationCells(sources=frozenset({source_digest(driver)})))
    assert [s.source for s in same.statements] == ["def kept():\n    return 1\n", "import math\n"]


def test_u2028_in_a_comment_and_windows_newlines_are_fine(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "w.ipynb", "# a\u2028b = 1\r\ndef f():\r\n    return 2\r\n")
    assert sources(nb) == ["def f():\n    return 2\n"]


def test_a_syntax_error_costs_only_its_cell(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "s.ipynb", "def f():\n    return 1", "def broken(:\n    pass", "def f():\n    return 2")
    got = read_trusted(nb)
    assert [s.source for s in got.statements] == ["def f():\n    return 1\n", "def f():\n    return 2\n"]
    # the grader's Python is named: code for a newer one is a syntax error here (round 12)
    assert any(n.startswith("cell 2: syntax error on line 1 for the grader's Python 3.") for n in got.notes), got.notes


def test_magics_are_blanked_and_non_python_cell_magics_skipped(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "m.ipynb", "%matplotlib inline\n!pip install x\ndef f():\n    return 1",
                  "%%bash\necho hi", "%%time\nz = 3")
    got = read_trusted(nb)
    assert [s.source for s in got.statements] == ["def f():\n    return 1\n", "z = 3\n"]
    assert [s.label for s in got.statements] == ["cell 1, line 3", "cell 3, line 2"]
    assert any("%%bash" in n for n in got.notes)


@pytest.mark.parametrize(("source", "kept"), [
    # a formatter's continuation lines start with an operator; they are Python (round 10 blanked them)
    ("def f(a, b, c):\n    return (a\n            != b\n            % c)", "def f(a, b, c):\n    return (a\n            != b\n            % c)\n"),
    ('s = """\n%not a magic\n!nor this\n"""', 's = """\n%not a magic\n!nor this\n"""\n'),
    ("x = 1 + \\\n    2\n%time x", "x = 1 + \\\n    2\n"),
    # help queries and assigned magics are IPython's (round 10: one `obj?` cost a whole cell)
    ("import math\nmath.sqrt?\n?math.cos\nmath.pi??\ny = 1", "import math\n"),
    ("files = !ls\nt = %who_ls\nok = 1 != 2\nq = 5 % 2\nw = 'why?'  # why?", "ok = 1 != 2\n"),
    ("!echo it's (\ny = 4", "y = 4\n"),
    ("x = 1  # a comment\n!echo a \\\n  b\ny = 2", "x = 1  # a comment\n"),  # the magic's backslash joins
    # an indented one keeps its block a body (round 11: `for ...:` over one `%time` line lost a cell)
    ("for i in range(2):\n    %who", "for i in range(2):\n    pass\n"),
    ("try:\n    import x\nexcept ImportError:\n    !pip install x", "try:\n    import x\nexcept ImportError:\n    pass\n"),
    # any target may take a shell escape's output (round 11: a subscript was read as Python)
    ('runs = {}\nruns["pip"] = !pip show x\nn: list = !ls\ny = runs != n', "runs = {}\n"),
])
def test_only_whole_logical_lines_are_ipythons(tmp_path: Path, source: str, kept: str) -> None:
    got = read_trusted(notebook(tmp_path / "m.ipynb", source))
    assert not got.notes, got.notes
    assert got.statements[0].source == kept


def test_statements_sharing_a_line_each_run_once_as_their_own_text(tmp_path: Path) -> None:
    """Round 12: each statement of ``a; b`` was the whole line, so ``a; b`` ran twice."""
    nb = notebook(tmp_path / "m.ipynb", "steps = []\nsteps += [1]; s = 'é;'; steps += [2]  # two\nt = (1,\n     2); u = 3\n"
                                        "v = 4; \\\n    w = 5")
    got = read_trusted(nb).statements
    assert [s.source for s in got] == ["steps = []\n", "steps += [1]\n", "s = 'é;'\n", "steps += [2]\n",
                                       "t = (1,\n     2)\n", "u = 3\n", "v = 4\n", "w = 5\n"]
    # each its own label (round 13: a statement stopped at load took its neighbour on the line with it)
    assert [s.label for s in got] == ["cell 1, line 1", "cell 1, line 2", "cell 1, line 2, statement 2",
                                      "cell 1, line 2, statement 3", "cell 1, line 3", "cell 1, line 4",
                                      "cell 1, line 5", "cell 1, line 6"]


@pytest.mark.parametrize(("source", "kept"), [
    ("    def f():\n        return 1\n", "def f():\n    return 1\n"),  # an indented cell is dedented
    (">>> def f():\n...     return 1\n>>> y = 2", "def f():\n    return 1\n"),  # pasted doctest prompts
    ("In [3]: def f():\n   ...:     return 1", "def f():\n    return 1\n"),  # pasted IPython prompts
    ('def f():\n    """\n    >>> f()\n    ...\n    """\n    return 1',  # a docstring's examples stay text
     'def f():\n    """\n    >>> f()\n    ...\n    """\n    return 1\n'),
    # round 14: IPython 9 only dedents a cell whose first line is an indented comment
    ("    # a note\ndef f():\n    return 1\n", "def f():\n    return 1\n"),
    # Colab's IPython 7 rule still where IPython 9's reading is not Python
    ("    def f():\n        return 1\n  # end\n", "def f():\n    return 1\n"),
])
def test_cells_are_cleaned_up_as_ipython_does(tmp_path: Path, source: str, kept: str) -> None:
    """Round 13: IPython dedents a cell and strips pasted prompts before running it."""
    got = read_trusted(notebook(tmp_path / "m.ipynb", source))
    assert not got.notes, got.notes
    assert got.statements[0].source == kept


def test_cell_magics_read_as_ipython_runs_them(tmp_path: Path) -> None:
    """Round 12: a blank line before ``%%writefile`` still makes it a cell magic; ``%%prun`` runs its
    body in the notebook's namespace; ``%%timeit`` runs it once in a function of its own (round 21)."""
    nb = notebook(tmp_path / "m.ipynb", "\n%%writefile x.py\ndef f():\n    return 1", "%%prun -q\ndef g():\n    return 2",
                  "%%timeit\ndef h():\n    return 3", "%%time\nk = 4")
    got = read_trusted(nb)
    wrote = 'write(\'def f():\\n    return 1\\n\')'  # the body goes to x.py and defines nothing
    timed = got.statements[2]
    assert [s.source for s in got.statements][1:2] + [s.source for s in got.statements][3:] == [
        "def g():\n    return 2\n", "k = 4\n"]
    assert wrote in got.statements[0].source and "'x.py'" in got.statements[0].source
    assert got.statements[0].names == () and got.statements[0].label == "cell 1, line 2"
    assert timed.label == "cell 3, line 1" and timed.names == () and "def inner():" in timed.source
    assert not got.notes, got.notes


def test_a_cell_magics_body_is_read_as_a_cell_of_its_own(tmp_path: Path) -> None:
    """Round 14: IPython runs the body of ``%%time``, ``%%capture`` and ``%%prun`` as a cell: cleaned
    up again (an indented body runs) and read for a cell magic again (``%%capture`` over
    ``%%writefile`` defines nothing). A prompt left blank on the first line keeps ``%%`` below it
    from being a cell magic, as in IPython."""
    nb = notebook(tmp_path / "m.ipynb", "%%time\n    def f():\n        return 1\n",
                  "%%capture\n%%writefile draft.py\ndef f():\n    return 0\n",
                  "%%capture\n%%time\n\n    k = 4", "%%time\n%%timeit\nj = 5",
                  ">>> \n%%writefile x.py\n>>> m = 6")
    got = read_trusted(nb)
    assert [s.source for s in got.statements][:1] + [s.source for s in got.statements][2:3] + [
        s.source for s in got.statements][4:] == ["def f():\n    return 1\n", "k = 4\n", "m = 6\n"]
    assert "j = 5" in got.statements[3].source  # %%timeit's body, in its function (round 21)
    assert [s.label for s in got.statements] == ["cell 1, line 2", "cell 2, line 2", "cell 3, line 4",
                                                 "cell 4, line 2", "cell 5, line 3"]
    assert "'draft.py'" in got.statements[1].source and got.statements[1].names == ()
    assert not got.notes, got.notes
    deep = "%%capture\n" * (ipython_cells.MAX_NESTED_CELL_MAGICS + 1) + "z = 1"
    assert ipython_cells.strip_magics(deep) is None and ipython_cells.strip_magics("%%capture\n" * 3 + "z = 1").endswith("z = 1")


@pytest.mark.parametrize(("cell", "written"), [
    ("%%writefile helpers.py\nV = 3\n\ndef seq(h, w, p):\n    return h * w", ("helpers.py", "w", "V = 3\n\ndef seq(h, w, p):\n    return h * w\n")),
    ("%%file -a helpers.py\nW = 4", ("helpers.py", "a", "W = 4\n")),  # %%file is the same magic
    ("%%writefile --app 'my file.py'\nW = 4\n", ("my file.py", "a", "W = 4\n")),  # quotes kept, then stripped
    ("%%writefile blank.py\n\n", ("blank.py", "w", "\n")),  # a blank line is a body
    ("%%writefile ~/x.py\n  x = 1", ("~/x.py", "w", "  x = 1\n")),  # ~ expanded when it runs; the body as written
    ("%%writefile -aa x.py\nx = 1", ("x.py", "a", "x = 1\n")),  # round 21: argparse takes -aa as -a twice
    ("%%writefile x.py\x1cx = 1\x0by = 2", ("x.py", "w", "x = 1\x0by = 2\n")),  # round 21: IPython's lines (splitlines)
    ("%%writefile x.py\r\nx = 1\r\n", ("x.py", "w", "x = 1\n")),  # "\r\n" as the notebook's editor sends it
])
def test_writefile_writes_its_body_as_ipython_does(cell: str, written: tuple[str, str, str]) -> None:
    """``%%writefile`` writes the cell's body to the file (what IPython's magic writes: the body's lines and
    a final newline), binding nothing; the notebook may import it (the worker's folder is on sys.path)."""
    text = ipython_cells.strip_magics(cell)
    calls = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call)]
    opened = next(c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr == "open")
    expand = opened.args[0]
    assert [ast.literal_eval(expand.args[0]), ast.literal_eval(opened.args[1])] == list(written[:2])
    assert ast.literal_eval(calls[0].args[0]) == written[2]  # .write(body)


@pytest.mark.parametrize(("cell", "why"), [
    ("%%writefile x.py\n", "empty body"),
    ("%%writefile\nx = 1", "needs one file name"),
    ("%%writefile a.py b.py\nx = 1", "needs one file name"),
    ("%%writefile -b x.py\nx = 1", "refuses the option '-b'"),
    ("%%writefile -ax.py\nx = 1", "refuses the option '-ax.py'"),  # argparse: -a takes no value
    ("%%writefile $name\nx = 1", "uses variables"),
    ("%%writefile 'x.py\nx = 1", "needs one file name"),  # a quote left open
])
def test_writefile_refused_as_ipython_refuses_it(cell: str, why: str) -> None:
    text, reason = ipython_cells.python_of_cell(cell)
    assert text is None and why in reason, reason


@pytest.mark.parametrize(("source", "kept", "note"), [
    # round 15: IPython refuses these lines ("Can't use statement directly after '%%time'!",
    # "unrecognized arguments", an unknown magic or option, an empty body): the cell never runs
    ("%%time  # how long?\nA = 1", [], "IPython refuses"),
    ("%%capture out extra\nA = 1", [], "IPython refuses"),
    ("%%capture --no-std\nA = 1", [], "IPython refuses"),  # ambiguous
    ("%%prun -z\nA = 1", [], "IPython refuses"),
    ("%%time\tx\nA = 1", [], "is not Python"),
    ("%%prun -q A = 1; B = 2\n", [], "empty body"),
    ("%%prun -q -s cumulative # profile 'em\nA = 1", [], "IPython refuses"),  # round 16: a quote left open
    # ... and accepts these: %%prun runs what follows its options on its line, first
    ("%%prun -q -l 3 A = 7\nB = A", ["A = 7\n", "B = A\n"], "line 1"),
    ("%%capture -- -\n%%time --no-raise\nA = 1", ["A = 1\n"], "line 3"),  # "-": a name no code can use
    ("%%capture --no-stdout -1\nA = 1", ["A = 1\n"], "line 2"),
    ("%%time?\nA = 1", ["A = 1\n"], "line 2"),  # round 16: a help query, then the cell runs
])
def test_a_cell_magics_own_line_is_read_as_ipython_reads_it(tmp_path: Path, source: str, kept: list,
                                                             note: str) -> None:
    got = read_trusted(notebook(tmp_path / "m.ipynb", source))
    assert [s.source for s in got.statements] == kept
    if kept:  # ``note``: where the first statement is
        assert not got.notes and got.statements[0].label == f"cell 1, {note}", (got.notes, got.statements)
    else:
        assert note in got.notes[0], got.notes


def test_export_zip_takes_the_assignments_notebook_or_names_the_candidates(tmp_path: Path) -> None:
    def zipped(name: str, members: dict[str, str]) -> Path:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for member, text in members.items():
                z.writestr(member, text)
        (tmp_path / name).write_bytes(buf.getvalue())
        return tmp_path / name

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def mine():\n    return 1")]
    p = zipped("export.zip", {"other.ipynb": json.dumps(nbformat.v4.new_notebook()), "hw.ipynb": nbformat.writes(nb)})
    got = read_trusted(p, notebook_name="hw.ipynb")
    assert [s.source for s in got.statements] == ["def mine():\n    return 1\n"] and got.file == "export.zip:hw.ipynb"
    two = read_trusted(p, notebook_name="assignment.ipynb")
    assert "2 notebooks" in two.unreadable and "hw.ipynb" in two.unreadable and not two.statements


def test_unreadable_files_say_why_and_malformed_cells_cost_only_themselves(tmp_path: Path) -> None:
    cases = {"empty.ipynb": b"", "blank.py": b"  \n", "cut.ipynb": b'{"cells": [{"cell_type": "co',
             "z.zip": b"PK garbage", "b.py": b"\xff\xfe\x00", "x.txt": b"hello", "nocells.ipynb": b"[1, 2]"}
    why = {}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        got = read_trusted(tmp_path / name)
        assert got.unreadable and not got.statements, name
        why[name] = got.unreadable
    assert why["empty.ipynb"] == why["blank.py"] == "the file is empty"
    assert "not valid JSON" in why["cut.ipynb"] and "UTF-8" in why["b.py"] and "zip" in why["z.zip"]
    assert "not a Jupyter notebook" in why["nocells.ipynb"]
    assert read_trusted(tmp_path / "missing.ipynb").unreadable
    bad = {"cells": [{"cell_type": "code", "id": ["a", "list"], "source": ["def f():\n", 7, "    return 1\n"]},
                     {"cell_type": "code", "id": {"a": 1}, "source": "def g():\n    return 2"}], "nbformat": 4}
    (tmp_path / "int.ipynb").write_text(json.dumps(bad))
    got = read_trusted(tmp_path / "int.ipynb", drivers=ExplorationCells(ids=frozenset({"a"})))
    assert [s.source for s in got.statements] == ["def g():\n    return 2\n"]
    assert any("cell 1: its source is not text" in n for n in got.notes)
    deep = tmp_path / "deep.py"
    deep.write_text("x = " + "-" * 200_000 + "1\ndef h():\n    return 3\n")
    assert any("nested too deeply" in n for n in read_trusted(deep).notes)


def test_size_caps_hold_before_and_after_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    big.write_text("x = 1\n" * (read.MAX_CODE_CHARS // 6 + 10))
    got = read_trusted(big)
    assert not got.statements and any("more than" in n for n in got.notes)
    long = tmp_path / "long.py"
    long.write_text("s = '" + "a" * (read.MAX_STATEMENT_CHARS + 10) + "'\ndef h():\n    return 3\n")
    got = read_trusted(long)
    assert [s.source for s in got.statements] == ["def h():\n    return 3\n"]
    assert "longer than" in got.skipped[0].reason


def test_a_bomb_of_statements_cells_or_notes_reads_within_the_caps(tmp_path: Path) -> None:
    """More statements, skipped lines or notes than the grader accepts (``MAX_ITEMS``) used to make the
    whole reading fail (round 13's leftover: 150,000 one-line statements read as unreadable); the
    reading now stops at the caps, each with one note, and what came before them is graded."""
    many = tmp_path / "many.ipynb"
    notebook(many, "def f():\n    return 1\n", "x = 1\n" * 12_000, "def g():\n    return 2\n")
    got = read_trusted(many)
    assert len(got.statements) == read.MAX_STATEMENTS and got.statements[0].source.startswith("def f")
    assert [n for n in got.notes if "more than 3,000 top-level statements" in n] == got.notes
    assert got.notes[0].startswith("cell 2, line 3000:") and len(got.notes) == 1
    plumbing = tmp_path / "plumbing.ipynb"
    notebook(plumbing, "import otter\n" + "otter.Notebook()\n" * 12_000 + "def h():\n    return 3\n",
             *(["def (:\n"] * 300))
    got = read_trusted(plumbing)
    assert [s.source for s in got.statements] == ["def h():\n    return 3\n"]
    assert len(got.skipped) == read.MAX_SKIPPED and len(got.notes) == read.MAX_NOTES


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(st.lists(st.text(max_size=200), max_size=5))
def test_any_cell_text_is_handled(cells: list[str]) -> None:
    data = json.dumps({"cells": [{"cell_type": "code", "source": c} for c in cells], "nbformat": 4}).encode()
    out = read.read_submission(data, "x.ipynb")
    for s in out["statements"]:
        compile(s["source"], s["label"], "exec")


def test_predictions_and_json_bombs_are_bounded() -> None:
    """What one student adds to the class's report is capped; a notebook of millions of JSON
    containers is refused before it is parsed, with a note."""
    cells = [{"cell_type": "markdown", "metadata": {"tags": ["prediction"]}, "id": f"p{i}",
              "source": f"**Your predictions (exercise {i}):** " + "x" * 3000} for i in range(40)]
    data = json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()
    got = read.read_submission(data, "flood.ipynb")["predictions"]
    assert 0 < len(got) <= read.MAX_PREDICTIONS
    assert sum(len(v) for v in got.values()) <= read.MAX_PREDICTION_CHARS + len(read.TRUNCATED) + 100
    bomb = ('{"cells": [' + "{}," * (read.MAX_JSON_CONTAINERS + 10) + '{}], "nbformat": 4}').encode()
    out = read.read_submission(bomb, "bomb.ipynb")
    assert out["statements"] == [] and "too many JSON objects" in out["unreadable"]


@pytest.mark.parametrize(("cell", "python"), [
    # IPython's autocall escapes at the start of a logical line are calls (attack round 17: a lone
    # `;` after a toy call made the whole answer cell a syntax error here, and IPython runs it)
    ("f()\n;\nA = 1", 'f()\n("")\nA = 1'),
    (";g a  b\nA = 1", 'g("a  b")\nA = 1'),
    (",g a  b\nA = 1", 'g("a", "b")\nA = 1'),
    ("/g 1  2\nA = 1", "g(1, 2)\nA = 1"),
    ("if x:\n    /g 1\nA = 1", "if x:\n    g(1)\nA = 1"),
    ("/g 1 \\\n 2\nA = 1", "g(1, 2)\n\nA = 1"),
    ("x = [1\n, 2]", "x = [1\n, 2]"),  # inside brackets: Python
    ("x //= 2\nA = 1", "x //= 2\nA = 1"),
    # a `?` inside a string is not a help query (round 17: `def f(s="why?#"):` lost its def line)
    ('def f(s="why?#"):\n    return s', 'def f(s="why?#"):\n    return s'),
    ("g?\nA = 1", "pass\nA = 1"),
    # an assigned shell line ends with itself, whatever brackets it holds (round 17)
    ("out = !echo (x\ndef f():\n    return 1", "pass\ndef f():\n    return 1"),
    # an escape's call is read as Python with the lines after it, as IPython reads the cell again
    # after each transform (attack round 18): a string it opens holds the next lines ...
    (';print x"""\n%foo """)\nA = 1', 'print("x"""")\n%foo """)\nA = 1'),
    # ... a bracket it opens makes a `%` line a remainder and a `,` line a comma
    ('/f "K",(18\n%14\n)', 'f("K",(18)\n%14\n)'),
    ('/f (g(1)\n,"x")', 'f((g(1))\n,"x")'),
    # `x = %` assigns a magic only with a name after the `%`, to a target an assignment can have
    ("t = %5\nA = 1", "t = %5\nA = 1"),
    (") = %time 1\nA = 1", ") = %time 1\nA = 1"),
    ("t = % time f()\nA = 1", "pass\nA = 1"),
    # a line holding only a backslash joins onto the magic after it, which IPython reads as one
    ("A = 1\n\\\n%who B", "A = 1\n\npass"),
    ("A = 1\n\\\n%time B = 2", "A = 1\n\nB = 2"),  # %time runs its statement (round 21)
    ("\\\nA = 1", "\\\nA = 1"),
])
def test_ipythons_escapes_read_as_ipython_reads_them(cell: str, python: str) -> None:
    assert ipython_cells.strip_magics(cell) == python


def test_a_slash_with_no_function_stops_the_cell_as_in_ipython() -> None:
    text, why = ipython_cells.python_of_cell("def f():\n    return 1\n/\n")
    assert text is None and "line 3 is only '/'" in why
    assert ipython_cells.strip_magics("A = 1\n//2") == "A = 1\n//2"  # another operator: Python's syntax error, not an escape


def _nbformat_code(text: str) -> list[str] | None:
    """The code cells' sources Jupyter sees (nbformat's reading and upgrade), or None where it refuses."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception:  # noqa: BLE001 - any refusal of nbformat's
            return None
    return [c.source for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("notebook_json", [
    # attack round 20: version 3 keeps its cells in worksheets; a "cells" key beside them is not read
    {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "cells": [{"cell_type": "code", "source": "hidden = 1"}],
     "worksheets": [{"cells": [{"cell_type": "code", "input": ["def f():\n", "    return 1"], "outputs": []},
                               {"cell_type": "heading", "level": 2, "source": "Title"},
                               {"cell_type": "code", "input": "shown = 2", "outputs": []}], "metadata": {}},
                    {"cells": [{"cell_type": "code", "input": "second = 3", "outputs": []}], "metadata": {}}]},
    {"nbformat": 1, "cells": [{"cell_type": "code", "code": "old = 1", "source": "hidden = 2"},
                              {"cell_type": "text", "text": "words"}]},
    {"cells": [{"cell_type": "code", "code": "old = 1", "source": "hidden = 2"}]},  # no version: 1
    {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "worksheets": [{"cells": [{"cell_type": "code", "input": "x"}]}],
     "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "execution_count": None, "source": "v4 = 1"}]},
    # attack round 21: version 2 joins a cell's lines with newlines; version 1 takes its code as text
    {"nbformat": 2, "metadata": {}, "worksheets": [{"cells": [{"cell_type": "code", "outputs": [],
                                               "input": ["x = 1  # a comment", "stub = 2"]}]}]},
    {"nbformat": 1, "cells": [{"cell_type": "code", "code": ["def f():\n", "    return 1\n"]},
                              {"cell_type": "code", "code": 5}]},
    {"nbformat": True, "cells": [{"cell_type": "code", "code": "as_one = 1"}]},
    {"nbformat": 5, "cells": [{"cell_type": "code", "source": "future = 1"}]},
    {"nbformat": "4", "cells": [{"cell_type": "code", "source": "text_version = 1"}]},
])
def test_the_cells_read_are_the_cells_jupyter_reads(notebook_json: dict) -> None:
    text = json.dumps(notebook_json)
    cells, why = read._notebook_cells(text.encode())
    expected = _nbformat_code(text)
    if expected is None:
        assert cells is None and why
    else:
        assert [read._cell_source(c) for c in cells if c.get("cell_type") == "code"] == expected


def test_a_version_3_notebook_grades_as_its_version_4_form(tmp_path: Path) -> None:
    solutions = Path(__file__).resolve().parents[2] / "solutions" / "dit_assignment.ipynb"
    nb = nbformat.read(solutions, as_version=4)
    nbformat.write(nbformat.convert(nb, 3), tmp_path / "v3.ipynb")
    assert [s.source for s in read_trusted(tmp_path / "v3.ipynb").statements] == sources(solutions)


def test_a_line_ending_in_a_question_mark_ipython_refuses_says_so(tmp_path: Path) -> None:
    """Round 22: ``f(2)?`` is no help query for IPython (only ``name?``): the cell does not run in
    Jupyter, nor here, and the note says why."""
    got = read_trusted(notebook(tmp_path / "m.ipynb", "def f(x):\n    return x + 1\nf(2)?\n", "g?\nA = 1"))
    assert [s.source for s in got.statements] == ["A = 1\n"]
    assert any("cell 1" in n and "only when it ends with name?" in n for n in got.notes), got.notes
