"""Turn a submission file into the statements the grader runs, one top-level statement at a time.

What runs, from every code cell in notebook order (a ``.py`` file is one cell):

* imports (notebook plumbing such as ``otter`` and ``IPython`` aside), function and class
  definitions *with their decorators*, and assignments (``x = ...``, ``x: T = ...``, ``x += ...``);
* ``if`` and ``try`` blocks made only of those (``try: import x`` / ``except ImportError: ...``).

What does not: bare expressions (calls, prints, plots, ``grader.check``), loops, ``with`` blocks and
anything else, because exploration code that downloads, plots or trains must not run while
grading; and, in the template's own driver cells (recognised by cell id or by identical source),
everything but imports and definitions. Each skipped statement is recorded with the names it
would have defined, so that a test failing on one of those names can say which line was not run
and why. IPython magics and shell escapes are blanked (keeping line numbers).

Each statement becomes its own unit ("cell 7, line 3"): one that fails, exits or hangs while
loading costs only itself. Malformed input (a cell whose source is not text, a syntax error, an
expression nested too deeply to parse) costs only its cell, with a note; ``extract`` never raises
for a submission's content.

The notebook is parsed here, in the grader's own process, which has no memory limit: a notebook (or
a zip member) over ``MAX_SUBMISSION_BYTES``, or with more than ``MAX_JSON_CONTAINERS`` ``{``/``[``
(a small zip can hold 20 MiB of ``{},``, which ``json.loads`` turns into gigabytes of dicts), is
refused with a note before it is parsed, and it is parsed once (``Extracted.predictions``).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from . import taint

MAX_SUBMISSION_BYTES = 20 * 1024 * 1024  # a submission file, or the notebook inside a zip
MAX_JSON_CONTAINERS = 200_000  # "{" plus "[" in a notebook's bytes: far more than a real one holds
MAX_PREDICTIONS = 16  # prediction answers kept per submission (each at most `limit` characters) ...
MAX_PREDICTION_CHARS = 16 * 1024  # ... and in all: what one student adds to the class's report.html
_TRUNCATED = " [...] (more predictions were written; the rest was left out)"
SKIPPED_IMPORTS = frozenset({"otter", "IPython", "google"})  # notebook plumbing the grader has no use for
_PYTHON_CELL_MAGICS = ("%%time", "%%timeit", "%%capture")  # cell magics whose body is still Python


@dataclass(frozen=True)
class Statement:
    label: str  # "cell 7, line 3" / "file, line 12"
    source: str
    names: tuple[str, ...]  # the top-level names it binds


@dataclass(frozen=True)
class Skipped:
    label: str
    text: str  # its first line, shortened
    names: tuple[str, ...]
    reason: str


@dataclass
class Extracted:
    statements: list[Statement] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # problems found while reading, for the student
    predictions: dict[str, str] = field(default_factory=dict)  # the written answers, for staff (see predictions)

    def skipped_for(self, name: str) -> list[Skipped]:
        return [s for s in self.skipped if name in s.names]


@dataclass(frozen=True)
class Drivers:
    """The template's driver cells: by cell id, and by the sha1 of their source."""

    ids: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()

    def __contains__(self, cell: dict) -> bool:
        return cell.get("id") in self.ids or source_digest(_cell_source(cell) or "") in self.sources


def source_digest(source: str) -> str:
    return hashlib.sha1(normalise_newlines(source).strip().encode()).hexdigest()


def normalise_newlines(source: str) -> str:
    """One newline convention. Only these three are line breaks for Python's tokenizer: splitting
    on anything else (U+2028 in a comment, form feeds) would turn a comment's rest into code."""
    return source.replace("\r\n", "\n").replace("\r", "\n")


def _strip_magics(source: str) -> str | None:
    """Blank IPython magics and shell escapes, keeping line numbers; None for a non-Python cell magic."""
    lines = normalise_newlines(source).split("\n")
    first = lines[0].lstrip()
    if first.startswith("%%"):
        if not first.startswith(_PYTHON_CELL_MAGICS):
            return None
        lines[0] = ""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _bound_names(node: ast.stmt) -> tuple[str, ...]:
    names: list[str] = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.append(node.name)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        names += [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    else:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.append(sub.id)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                names += [(a.asname or a.name).split(".")[0] for a in sub.names if a.name != "*"]
    return tuple(dict.fromkeys(names))


def _is_plumbing(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] in SKIPPED_IMPORTS for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] in SKIPPED_IMPORTS
    return False


def _why_skipped(node: ast.stmt, driver: bool) -> str:
    """'' when the statement runs; otherwise why not (for the student)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return "notebook plumbing is not needed for grading" if _is_plumbing(node) else ""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return ""
    if driver:
        return "it is in one of the template's exploration cells, which do not run during grading"
    if isinstance(node, (ast.Assign, ast.AugAssign)) or (isinstance(node, ast.AnnAssign) and node.value is not None):
        used = {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
        return "notebook plumbing is not needed for grading" if used & SKIPPED_IMPORTS else ""
    if isinstance(node, (ast.If, ast.Try)):
        if _simple_block([node]):
            return ""
        return "only imports, definitions and assignments run during grading; this block holds other code"
    if isinstance(node, ast.Expr):
        return "a bare expression (a call, a print, a plot) does not run during grading"
    kind = {ast.For: "a for loop", ast.While: "a while loop", ast.With: "a with block"}.get(type(node), "this statement")
    return f"{kind} does not run during grading; only imports, definitions and assignments do"


def _simple_block(body: list[ast.stmt]) -> bool:
    """Only imports, definitions, assignments, ``pass`` and ``if``/``try`` blocks of the same."""
    for s in body:
        if isinstance(s, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                          ast.Assign, ast.AugAssign, ast.Pass)):
            continue
        if isinstance(s, ast.AnnAssign) and s.value is not None:
            continue
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant):  # a docstring, `...`
            continue
        if isinstance(s, ast.If) and _simple_block(s.body) and _simple_block(s.orelse):
            continue
        if isinstance(s, ast.Try) and all(_simple_block(b) for b in
                                          (s.body, s.orelse, s.finalbody, *[h.body for h in s.handlers])):
            continue
        return False
    return True


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def cell_statements(source: str, label: str, out: Extracted, *, driver: bool = False) -> None:
    """Add one cell's statements (or its notes) to ``out``."""
    text = _strip_magics(source)
    if text is None:
        out.notes.append(f"{label}: a cell magic ({source.lstrip().split()[0]}) that is not Python; not graded")
        return
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        out.notes.append(f"{label}: syntax error on line {e.lineno}: {e.msg}; this cell was skipped")
        return
    except (RecursionError, MemoryError, ValueError):
        out.notes.append(f"{label}: the code is nested too deeply (or holds a null byte) to be read; "
                         f"this cell was skipped")
        return
    lines = text.split("\n")
    for node in tree.body:
        first = _first_line(node)
        where = f"{label}, line {first}"
        names = _bound_names(node)
        why = _why_skipped(node, driver)
        if why:
            if names or not isinstance(node, ast.Expr):
                shown = lines[first - 1].strip()
                out.skipped.append(Skipped(where, shown if len(shown) <= 80 else shown[:77] + "...", names, why))
            continue
        out.statements.append(Statement(where, "\n".join(lines[first - 1 : node.end_lineno]) + "\n", names))


def _cell_source(cell: dict) -> str | None:
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(src) if all(isinstance(s, str) for s in src) else None
    return src if isinstance(src, str) else None


def _notebook_cells(data: bytes, out: Extracted) -> list | None:
    """The notebook's cells, or None (with a note); refuses a JSON bomb before parsing it."""
    if data.count(b"{") + data.count(b"[") > MAX_JSON_CONTAINERS:  # counted without building anything
        out.notes.append("the notebook is malformed or too large to read (too many JSON objects); nothing was graded")
        return None
    try:
        cells = json.loads(data.decode("utf-8"))["cells"]
        if not isinstance(cells, list):
            raise TypeError("cells is not a list")
    except Exception as e:
        out.notes.append(f"the notebook could not be read ({type(e).__name__}); nothing was graded")
        return None
    return cells


def _from_notebook(data: bytes, out: Extracted, drivers: Drivers) -> None:
    cells = _notebook_cells(data, out)
    if cells is None:
        return
    out.predictions = _predictions_of(cells)
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = _cell_source(cell)
        if src is None:
            out.notes.append(f"cell {i}: its source is not text; this cell was skipped")
            continue
        cell_statements(src, f"cell {i}", out, driver=cell in drivers)


def _from_zip(data: bytes, out: Extracted, notebook_name: str) -> tuple[str, bytes] | None:
    """The (name, bytes) of the submission file inside an export zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")]
            notebooks = [i for i in infos if i.filename.endswith(".ipynb") and ".ipynb_checkpoints" not in i.filename]
            pys = [i for i in infos if i.filename.endswith(".py")]
            top = [i for i in notebooks if "/" not in i.filename]
            named = [i for i in top if i.filename == notebook_name]
            pick = (named or top or notebooks or pys or [None])[0]
            if pick is None:
                out.notes.append("the zip holds no notebook (.ipynb) or Python file")
                return None
            if not named and (len(top) > 1 or (not top and len(notebooks) > 1)):
                out.notes.append(f"the zip holds several notebooks; graded {pick.filename}")
            if pick.file_size > MAX_SUBMISSION_BYTES:  # zipfile reads no more than the size it declares
                out.notes.append(f"{pick.filename} is too large to grade")
                return None
            return pick.filename, zf.read(pick)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as e:
        out.notes.append(f"the zip could not be read ({type(e).__name__})")
        return None


def _read(path: Path, out: Extracted, notebook_name: str) -> tuple[str, bytes] | None:
    """(name, bytes) of the file to grade: ``path``, or the notebook or .py file inside its zip."""
    if not path.is_file():
        out.notes.append("no notebook (.ipynb), Python file or export zip was found in the submission")
        return None
    try:
        if path.stat().st_size > MAX_SUBMISSION_BYTES:
            out.notes.append("the submission is too large to grade")
            return None
        name, data = path.name, path.read_bytes()
    except OSError as e:
        out.notes.append(f"the submission could not be read ({e.strerror})")
        return None
    return _from_zip(data, out, notebook_name) if name.endswith(".zip") else (name, data)


def extract(path: str | Path, *, drivers: Drivers = Drivers(), notebook_name: str = "") -> Extracted:
    """The statements to run for the submission at ``path``, and its predictions (never raises for
    bad content)."""
    path = Path(path)
    taint.mark("a submission")
    out = Extracted()
    found = _read(path, out, notebook_name)
    if found is None:
        return out
    name, data = found
    if name.endswith(".ipynb"):
        _from_notebook(data, out, drivers)
    elif name.endswith(".py"):
        try:
            cell_statements(data.decode("utf-8"), "file", out)
        except UnicodeDecodeError:
            out.notes.append("the file is not UTF-8 text")
    else:
        out.notes.append(f"unsupported submission type {Path(name).suffix!r}: upload the .ipynb, a .py or the export zip")
    if not out.statements and not out.notes:
        out.notes.append("no functions or classes were found in the submission")
    return out


_PREDICTION = re.compile(r"^\*\*Your predictions(?: \((?P<label>[^)]*)\))?:\*\*\s*(?:_[^_]*_)?\s*", re.S)


def predictions(path: str | Path, limit: int = 4000, notebook_name: str = "") -> dict[str, str]:
    """The written answers of a notebook's prediction cells (markdown tagged ``prediction`` or starting
    with "**Your predictions (label):**"), for staff to read; an untouched cell is left out. ``extract``
    gives the same as ``Extracted.predictions`` without reading the notebook again."""
    taint.mark("a submission")
    out = Extracted()
    found = _read(Path(path), out, notebook_name)
    cells = _notebook_cells(found[1], out) if found and found[0].endswith(".ipynb") else None
    return _predictions_of(cells or [], limit)


def _predictions_of(cells: list, limit: int = 4000) -> dict[str, str]:
    """At most MAX_PREDICTIONS answers of at most ``limit`` characters, MAX_PREDICTION_CHARS in all
    (one student's share of the class's report); the last one kept says so when more were written."""
    out: dict[str, str] = {}
    room = MAX_PREDICTION_CHARS
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        text = _cell_source(cell) or ""
        meta = cell.get("metadata")
        tags = meta.get("tags") if isinstance(meta, dict) else None
        match = _PREDICTION.match(text)
        if not match and not (isinstance(tags, list) and "prediction" in tags):
            continue
        label = ((match.group("label") if match else None) or f"prediction {len(out) + 1}")[:80]
        answer = (text[match.end():].strip() if match else text.strip())[:limit]
        if not answer:
            continue
        if len(out) == MAX_PREDICTIONS or room <= 0:
            out[next(reversed(out))] += _TRUNCATED
            break
        out[label] = answer[:room]
        if len(answer) > room:
            out[label] += _TRUNCATED
            break
        room -= len(answer)
    return out
