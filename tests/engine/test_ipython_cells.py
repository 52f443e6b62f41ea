"""The grader's reading of a code cell (``ditgrade.worker.ipython_cells``) against IPython's own
(``IPython.core.inputtransformer2.TransformerManager.transform_cell``, IPython 9, installed with otter):
on cells made of IPython's syntax (magics, shell escapes, help queries, autocall escapes, pasted
prompts, indentation) split by every line break ``str.splitlines`` knows, wherever IPython's Python
compiles, the grader's compiles to the same statements. The grader blanks what IPython turns into a
``get_ipython()`` call (magics and shell escapes do not run during grading), so IPython's text is
compared with those lines blanked the same way."""

from __future__ import annotations

import ast
import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ditgrade.worker.ipython_cells import python_of_cell

inputtransformer2 = pytest.importorskip("IPython.core.inputtransformer2")

FRAGMENTS = ["x = 1", "%time y = 2", "!ls", "# c", "def f():", "    return 1", "s = '''a", "b'''", "(1,", "2)",
             "x = 1 \\", "z?", "y = %time 3", "  w = 4", "", "  ", "x = 1 # c", "%%time", "%%writefile h.py",
             ">>> q = 1", "... r = 2", "/f 1", ",g a b", ";h a b", "k = 5 %2", "t = !ls", "\\", "%%capture",
             "    %time u = 1", "if x:", "    pass", "f(x)?", "%%prun -q"]
# Python's breaks, and the others str.splitlines knows. A lone "\r" is left out: the notebook's
# editors (JupyterLab's and the classic one's CodeMirror) send "\n" for it and for "\r\n".
BREAKS = ["\n", "\n", "\n", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
_CALL = re.compile(r"get_ipython\(\).*$")
_ASSIGNED = re.compile(r"^[ \t\f]*[A-Za-z_]\w*[ \t]*=[ \t]*$")


def _ipython_as_graded(text: str) -> str | None:
    """IPython's Python with each line it made (``get_ipython()...`` to the line's end) blanked as the
    grader blanks it: indented, ``pass``; an assigned one (``t = !ls``) with its target. None where
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
            line = indent + "pass" if indent else ""
        out.append(line)
    return "\n".join(out)


def _statements(text: str) -> str | None:
    try:
        return ast.dump(ast.parse(text))
    except (SyntaxError, ValueError):
        return None


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
    ("x = 1\n%time y = 2\x1cz = 3\n", "x = 1\n\nz = 3\n"),  # the magic's line ends there too
    ("\x0c\u2028x = 1\n", "\n\nx = 1\n"),  # blank lines before the first are dropped, their breaks too
    ("x = 1 # c\x0cz?\n", "\n\n"),  # the comment ends at \x0c for IPython: z? asks for help
    (",g a b?\n", "\n"),  # help first: IPython tries it before the escaped call
    ("x = 1\x0c%time y = 2\n", "x = 1\x0c%time y = 2\n"),  # the magic is inside a logical line: not IPython's
])
def test_ipythons_line_breaks(cell: str, python: str | None) -> None:
    text, why = python_of_cell(cell)
    if python is None:
        assert text is not None and "'h.py'" in text and "'x = 1\\n'" in text, (text, why)
    else:
        assert text == python
