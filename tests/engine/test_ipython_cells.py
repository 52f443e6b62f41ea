"""The grader's reading of a code cell (``ditgrade.worker.ipython_cells``) against IPython's own
(IPython 9, installed with otter), two ways:

* as text, against ``IPython.core.inputtransformer2.TransformerManager.transform_cell``: on cells
  made of IPython's syntax (magics that run no Python, shell escapes, help queries, autocall
  escapes, pasted prompts, indentation) split by every line break ``str.splitlines`` knows, wherever
  IPython's Python compiles, the grader's compiles to the same statements. The grader blanks what
  IPython turns into a ``get_ipython()`` call, so IPython's text is compared with those lines blanked;
* by what runs, against IPython's ``InteractiveShell`` (in a process of its own): for the magics
  that run Python (``%time``, ``%prun``, ``%timeit``, their cell forms, ``%%writefile``), the
  notebook's names and the files written are the same."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ditgrade.worker.ipython_cells import python_of_cell

inputtransformer2 = pytest.importorskip("IPython.core.inputtransformer2")

FRAGMENTS = ["x = 1", "%who y = 2", "!ls", "# c", "def f():", "    return 1", "s = '''a", "b'''", "(1,", "2)",
             "x = 1 \\", "z?", "y = %who_ls 3", "  w = 4", "", "  ", "x = 1 # c", "%%time", "%%writefile h.py",
             ">>> q = 1", "... r = 2", "/f 1", ",g a b", ";h a b", "k = 5 %2", "t = !ls", "\\", "%%capture",
             "    %who u = 1", "if x:", "    pass", "f(x)?", "%%prun -q"]
# Python's breaks, and the others str.splitlines knows. A lone "\r" is left out: the notebook's
# editors (JupyterLab's and the classic one's CodeMirror) send "\n" for it and for "\r\n".
BREAKS = ["\n", "\n", "\n", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
_CALL = re.compile(r"get_ipython\(\).*$")
_ASSIGNED = re.compile(r"^[ \t\f]*[A-Za-z_]\w*[ \t]*=[ \t]*$")


def _ipython_as_graded(text: str) -> str | None:
    """IPython's Python with each line it made (``get_ipython()...`` to the line's end) a ``pass``
    statement, at the call's indentation; an assigned one (``t = !ls``) with its target. None where
    IPython's call follows other code on its line (an assigned magic after a form feed, the one
    reading the grader does not follow: ``if x:\\x0ct = !ls``)."""
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        call = _CALL.search(line)
        if call:
            before = line[:call.start()]
            if before.strip(" \t\f") and not _ASSIGNED.match(before):
                return None
            indent = before[:len(before) - len(before.lstrip(" \t\f"))]
            line = indent + "pass"
        out.append(line)
    return "\n".join(out)


def _statements(text: str) -> str | None:
    """The statements of ``text``, but for a ``pass`` at the top (the grader blanks a line IPython
    turned into a call there, where that keeps the block structure the same)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    return ast.dump(ast.Module([node for node in tree.body if not isinstance(node, ast.Pass)], []))


cells = st.lists(st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(BREAKS)), min_size=1, max_size=6).map(
    lambda parts: "".join(f + b for f, b in parts))


@settings(derandomize=True, database=None, deadline=None, max_examples=1500)
@given(cells, st.booleans())
def test_a_cell_runs_the_statements_ipython_runs(cell: str, trailing_newline: bool) -> None:
    cell = cell if trailing_newline else cell.rstrip("\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ipython = inputtransformer2.TransformerManager().transform_cell(cell)
        except SyntaxError:
            return  # IPython refuses the cell (an indentation its tokenizer rejects)
    if "run_cell_magic" in ipython:
        return  # a cell magic's body: compared by what it runs in test_extract's magic tests
    graded = _ipython_as_graded(ipython)
    if graded is None or _statements(graded) is None:
        return  # IPython's Python does not compile: that cell never runs in Jupyter
    text, why = python_of_cell(cell)
    assert text is not None, (cell, why)
    assert _statements(text) == _statements(graded), (cell, ipython, text)


@pytest.mark.parametrize(("cell", "python"), [
    ("%%writefile h.py\x1cx = 1\n", None),  # the magic's line ends at \x1c: h.py gets "x = 1\n"
    ("x = 1\n%who y\x1cz = 3\n", "x = 1\npass\nz = 3\n"),  # the magic's line ends there too
    ("\x0c\u2028x = 1\n", "\n\nx = 1\n"),  # blank lines before the first are dropped, their breaks too
    ("x = 1 # c\x0cz?\n", "pass\n\n"),  # the comment ends at \x0c for IPython: z? asks for help
    (",g a b?\n", "pass\n"),  # help first: IPython tries it before the escaped call
    ("x = 1\x0c%who y\n", "x = 1\x0c%who y\n"),  # the magic is inside a logical line: not IPython's
])
def test_ipythons_line_breaks(cell: str, python: str | None) -> None:
    text, why = python_of_cell(cell)
    if python is None:
        assert text is not None and "'h.py'" in text and "'x = 1\\n'" in text, (text, why)
    else:
        assert text == python


# Each case: the cells of one notebook, run in order. Each magic's statement runs once in the grader
# (IPython's count for %timeit depends on the machine's speed unless -n is given), so the cases give
# -n1 -r1 where a body's effect adds up over runs.
RUNS = [
    ['%time s = "a  b"', "%time t = 1;  u = [1,\\\n 2]", "v = %time 3 + 4", "%time --no-raise-error w = 1"],
    ["%time -x q = 1", "%time -- dd = 1", "%timeit -n x -r1 ee = 1", "t = % time f()", "k = 1"],
    ["def f():\n    %time loc = 5\n    return loc\ntry:\n    r = f()\nexcept NameError:\n    r = 'NameError'"],
    ["%prun -q pr = 9", "def g():\n    %prun -q inside = 1\ng()", "class C:\n    %time ca = 1\ncc = C.ca"],
    ["for i in range(2):\n    %time fl = i", "H = []\n%timeit -n1 -r1 H.append(1)", "%timeit -n1 -r1 global G; G = 7"],
    ["%%timeit -n1 -r1\nglobal TG\nTG = 5\nloc = 3", "%%timeit -n1 -r1 SETUP = 1\nglobal TS\nTS = SETUP + 1"],
    ["%%timeit -n1 -r1\n%%writefile h.py\nx = 1\n", "%%timeit -n1 -r1\n%%time\nIN_TIME = 1", "%%timeit -n1 -r1\nreturn 1"],
    ["%%timeit -q -n 1 -r 1\nM = []\nglobal MM\nMM = len(M)", "%%time\n%timeit -n1 -r1 global Q; Q = 2"],
    ["%%timeit\nimport math\nglobal PI\nPI = math.pi", "%%writefile h.py\x1cdef f():\n    return 1\n", "from h import f\nF = f()"],
    ["%%timeit -n1 -r1\n%prun -q global P2; P2 = 3", "A = 1\n\\\n%time B = 2", "%time\n%prun\n%timeit"],
    # %%capture NAME binds what the body printed, or deletes NAME where the body ends with ";"
    ["%%capture out\nprint('hi')\nX = 1", "S, T, O = out.stdout, type(out).__name__, out.outputs"],
    ["%%capture --no-stdout c1\n%%capture c2\nprint('in')", "A, B = c1.stdout, c2.stdout", "gone = 5",
     "%%capture gone\nx = 1;"],
    # attack round 22: a line %timeit sees the locals of the function or class around it (and leaves
    # them in the notebook), and at the top puts back what it changed in existing globals
    ["def count(xs):\n    total = sum(xs)\n    %timeit -q -n1 -r1 sum(v for v in xs)\n    return total\nC = count([1, 2])",
     "class K:\n    a = 3\n    %timeit -n1 -r1 global KK; KK = a", "G = 1\n%timeit -n1 -r1 global G; G = 7"],
    ["%%timeit -n1 -r1\na = 5\n%timeit -n1 -r1 global R; R = a + 1", "%timeit -n1 -r0 global Z; Z = 1",
     "%timeit -n -1 global Z; Z = 1", "%timeit -n1 -n1 global Z; Z = 1", "%timeit -n0 -r1 global Y; Y = 2"],
    # ... %time --no-raise-error swallows the error; an assigned %time of statements binds the last value
    ["for i in range(3):\n    %time --no-raise-error r = 1/0\n    done = i",
     "def g():\n    %time --no-raise-error 1/0\n    return 5\nv = g()", "t = %time x = 1; x + 1"],
    # ... a line ending in ? that is not name? is left for Python (the cell fails); a magic at the
    # left edge ends the block above it (the indented line after it fails the cell)
    ["def f(x):\n    return x + 1\nf(2)?\n", "def h(x):\n    return x\nobj? # c", "A = 1"],
    ["def f2():\n    x = 1\n%who\n    return x\nF = f2()", "B = 2", "def f3():\n    x = 1\n%who\nF3 = 3"],
    # attack round 23: %%capture's ";" is the last token of the raw body (a DEDENT after an indented
    # "x;" is one; a magic's ";" counts); a magic at the left edge before else/except ends the block
    ["%%capture out\nfor i in range(3):\n    print(i);", "A = out.stdout", "%%capture o2\nx = 1;\n%who",
     "o3 = 1", "%%capture o3\nx = 1\n%who;", "%%capture o4\nx = 2\n%who (", "B = 5"],
    ["try:\n    x = 1/0\n%who\nexcept ZeroDivisionError:\n    x = 2", "x2 = 5\nif x2 > 10:\n    y = 1\nx2?\nelse:\n    y = 2",
     "%%capture c5\nx = 1;\n\\", "C = 3"],
]

_COMPARE = r"""
import ast, contextlib, io, json, os, shutil, sys, tempfile, warnings
warnings.simplefilter("ignore")
from IPython.core.interactiveshell import InteractiveShell
from ditgrade.worker.ipython_cells import python_of_cell
shell = InteractiveShell.instance()

def seen(ns, folder):
    names = {k: repr(v) if isinstance(v, (int, str, float, list, type(None))) else type(v).__name__
             for k, v in ns.items() if not k.startswith("_") and k not in ("In", "Out", "exit", "quit", "get_ipython", "open")}
    return names, {f: open(os.path.join(folder, f)).read() for f in sorted(os.listdir(folder)) if f.endswith(".py")}

def run(cells, ipython):
    folder, home = tempfile.mkdtemp(), os.getcwd()
    os.chdir(folder)
    sys.path.insert(0, folder)
    try:
        if ipython:
            shell.reset(new_session=False)
            for cell in cells:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    shell.run_cell(cell)
            return seen(shell.user_ns, folder)
        ns = {"__name__": "__main__"}
        for cell in cells:
            text, _ = python_of_cell(cell)
            try:
                tree = ast.parse(text) if text is not None else ast.Module([], [])
            except SyntaxError:
                continue  # the grader skips the cell, with a note
            saved, sys.stdout = sys.stdout, io.StringIO()  # the worker's streams stay for all statements
            for node in tree.body:  # one statement at a time
                try:
                    exec(compile(ast.Module([node], []), "cell", "exec"), ns)
                except Exception:
                    pass
            sys.stdout = saved
        return seen(ns, folder)
    finally:
        sys.path.remove(folder)
        sys.modules.pop("h", None)
        os.chdir(home)
        shutil.rmtree(folder)

print(json.dumps([[run(cells, True), run(cells, False)] for cells in json.loads(sys.argv[1])]))
"""


def test_the_magics_that_run_python_run_it_as_ipython_does() -> None:
    autograder = Path(__file__).resolve().parents[2] / "autograder"
    done = subprocess.run([sys.executable, "-c", _COMPARE, json.dumps(RUNS)], capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(autograder), "HOME": "/tmp", "PATH": "/usr/bin:/bin"},
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    for cells, (ipython, graded) in zip(RUNS, json.loads(done.stdout), strict=True):
        assert graded == ipython, cells
        assert ipython[0] or ipython[1], cells  # each case binds or writes something


def test_reading_a_cell_of_magics_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 22: each magic line's help check scanned its logical line to the cell's end once a
    bracket was left open (2,000 lines of ``%who (`` took 11.6 s); the scans now share a budget."""
    from ditgrade.worker import ipython_cells
    scanned = [0]
    code = ipython_cells._Scanner.code

    def counting(self, line):
        scanned[0] += 1
        yield from code(self, line)

    monkeypatch.setattr(ipython_cells._Scanner, "code", counting)
    for n in (1_000, 4_000):
        scanned[0] = 0
        text, _ = python_of_cell("%who (\n" * n)
        assert text is not None and text.count("\n") == n
        assert scanned[0] < 8 * n, (n, scanned[0])  # it was about n * n / 2


def test_a_capture_ends_whatever_its_body_does(tmp_path: Path) -> None:
    """Round 23: inside %%timeit an error in a %%capture body skipped the capture's end, and every
    later statement and test printed into it; at the top, the end runs even once the time for
    top-level code is used up (it is read as a definition)."""
    from ditgrade.core.extract import read_trusted
    from ditgrade.worker.read import read_submission

    text, _ = python_of_cell('%%timeit -n1 -r1\n%%capture out\nprint("a")\n1/0\nprint("b")')
    namespace: dict = {}
    saved = sys.stdout
    for node in ast.parse(text).body:
        exec(compile(ast.Module([node], []), "cell", "exec"), namespace)
    assert sys.stdout is saved and namespace["out"].stdout == "a\n"
    got = read_submission(b"%%capture out\nprint('x')\ny = 1\n", "s.py")
    assert [s["definition"] for s in got["statements"]] == [False, False, False, True], got["statements"]
    assert read_trusted is not None
