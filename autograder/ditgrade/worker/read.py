"""Read a submission's bytes into the top-level statements the grader runs, as the notebook runs them.

Runs in the sandboxed worker, before any of the student's code (``ditgrade.worker.main``): whatever
the bytes hold (a zip bomb, gigabytes of AST, a JSON bomb, an ``"id"`` that is a list) is parsed
under the worker's memory and CPU limits, never in the grader's process, and the result is plain
data the grader checks again (``ditgrade.core.extract``). ``read_submission`` never raises for the
content of the bytes.

What runs: every top-level statement of every code cell, in notebook order (a ``.py`` file is one
cell): imports, definitions with their decorators, assignments, loops, ``with`` blocks, calls,
``del``, ``global`` ... each its own unit ("cell 7, line 3"). What does not, by design:

* shell escapes, help queries (``obj?``) and the IPython magics that run no Python of the notebook,
  blanked a whole logical line at a time as IPython reads them, keeping line numbers, and cell
  magics whose body is not Python (``ditgrade.worker.ipython_cells``: ``%%writefile`` becomes the
  statement that writes its file; ``%time``, ``%prun``, ``%timeit`` and their cell forms run their
  Python as IPython runs it);
* notebook plumbing: imports of ``otter``/``IPython``/``google.colab``, and every statement that
  uses a name they bound (``grader = otter.Notebook(...)``, ``grader.check("q1")``);
* in the template's own driver and exploration cells (known by cell id, or by identical source),
  everything but imports and definitions.

Each statement carries the names it binds and the names it changes in place (``TABLE[k] = v``,
``REGISTRY.append(x)``, ``obj.attr = v``; method calls on imported modules aside), and whether it is
a *definition* (imports, ``def``, ``class``, and ``if``/``try`` blocks of only those), which the
grader runs even after the time for top-level code is used up. ``uses`` gives, per question, every
name the student's graded code reaches through their own top-level code, so that a statement that
was skipped or failed and touches one of them can be named in that question's feedback.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import symtable
import sys
import zipfile

from .choose import choose
from .drop_outputs import OutputsDropped
from .ipython_cells import is_capture_end, python_of_cell

MAX_SUBMISSION_BYTES = 20 * 1024 * 1024  # a submission file, or a notebook without its outputs
MAX_NOTEBOOK_BYTES = 100 * 1024 * 1024  # a notebook with its outputs (dropped as it is read: drop_outputs)
MAX_CODE_CHARS = 1_000_000  # all code cells together: far more than a real notebook holds
MAX_STATEMENT_CHARS = 50_000  # one top-level statement
MAX_STATEMENTS = 3_000
MAX_NOTES = 200  # notes kept (the grader keeps no more); later ones are dropped, the reading goes on
MAX_SKIPPED = MAX_STATEMENTS  # statements listed as not run; every later one is not run either
MAX_JSON_CONTAINERS = 200_000  # "{" plus "[" in a notebook's bytes: far more than a real one holds
MAX_PREDICTIONS = 16  # prediction answers kept per submission (each at most PREDICTION_CHARS) ...
PREDICTION_CHARS = 4_000
MAX_PREDICTION_CHARS = 16 * 1024  # ... and in all: what one student adds to the class's report.html
TRUNCATED = " [...] (more predictions were written; the rest was left out)"
PLUMBING_MODULES = frozenset({"otter", "IPython", "google"})  # notebook plumbing the grader has no use for
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

# why a statement does not run (shown to the student)
DRIVER = "it is in one of the template's exploration cells, whose code does not run during grading"
PLUMBING = "notebook plumbing (otter's grader, IPython, Colab) does not run during grading"


def normalise_newlines(source: str) -> str:
    """One newline convention. Only these three are line breaks for Python's tokenizer: splitting
    on anything else (U+2028 in a comment, form feeds) would turn a comment's rest into code."""
    return source.replace("\r\n", "\n").replace("\r", "\n")


def source_digest(source: str) -> str:
    return hashlib.sha1(normalise_newlines(source).strip().encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# names a statement binds, changes, and uses
# ---------------------------------------------------------------------------------------------


def _root(node: ast.expr) -> str | None:
    """The name an attribute/subscript chain starts from (``a`` of ``a.b[c].d``)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _walk_scope(node: ast.AST, *, class_bodies: bool = False):
    """``ast.walk`` that does not enter function or lambda bodies (they run when called, in scopes of
    their own), though it yields the definition itself and its decorators, bases and defaults. Class
    bodies run when the class is defined: ``class_bodies`` enters them too."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack += getattr(n, "decorator_list", [])
            if isinstance(n, ast.ClassDef):
                stack += n.bases + [k.value for k in n.keywords] + (n.body if class_bodies else [])
            else:
                stack += [d for d in n.args.defaults + n.args.kw_defaults if d is not None]
            continue
        stack += list(ast.iter_child_nodes(n))


def binds(node: ast.stmt) -> list[str]:
    """Top-level names the statement binds or deletes (definitions, imports, targets, ``global`` names
    assigned inside its functions when they are called)."""
    out: list[str] = []
    for n in _walk_scope(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out += [(a.asname or a.name).split(".")[0] for a in n.names if a.name != "*"]
        elif isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.append(n.id)
    for n in ast.walk(node):  # `global X` in a function it defines: X is bound when that runs
        if isinstance(n, ast.Global):
            out += n.names
    return list(dict.fromkeys(out))


def changes(node: ast.stmt, modules: set[str]) -> list[str]:
    """Names the statement changes in place: item and attribute targets, ``setattr``/``delattr``,
    method calls and decorators (``REGISTRY.append(x)``, ``@REGISTRY.register``), except method
    calls on ``modules`` (``torch.manual_seed`` does not change what ``torch`` is to the grader)."""
    out: list[str] = []
    for n in _walk_scope(node, class_bodies=True):
        targets: list[ast.expr] = []
        if isinstance(n, ast.Assign):
            targets = n.targets
        elif isinstance(n, (ast.AugAssign, ast.AnnAssign)):
            targets = [n.target]
        elif isinstance(n, ast.Delete):
            targets = n.targets
        elif isinstance(n, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            targets = [n.target] if isinstance(n, (ast.For, ast.AsyncFor)) else \
                [i.optional_vars for i in n.items if i.optional_vars is not None]
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, (ast.Attribute, ast.Subscript)) and (r := _root(sub)):
                    out.append(r)
        if isinstance(n, ast.Call):
            if isinstance(n.func, ast.Name) and n.func.id in ("setattr", "delattr") and n.args \
                    and (r := _root(n.args[0])):
                out.append(r)
            elif isinstance(n.func, ast.Attribute) and (r := _root(n.func)) and r not in modules:
                out.append(r)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out += [r for d in n.decorator_list if (r := _root(d.func if isinstance(d, ast.Call) else d))
                    and r not in modules]
    return list(dict.fromkeys(out))


def uses(node: ast.stmt) -> set[str]:
    """Every name the statement reads, nested scopes included (a function's globals)."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def global_reads(node: ast.stmt, source: str) -> set[str]:
    """The notebook's names the statement reads: at its top level and in the bodies of the classes
    it makes, and inside the functions, lambdas and comprehensions it makes wherever a name is not
    their own. A parameter or a local is not: a skipped top-level ``for name, module in ...`` has
    nothing to do with a function's own loop variables of those names, which an independent student
    round found named in every failure's feedback. Every name read where Python's symbol table
    cannot read the statement (``uses``)."""
    try:
        tables = [symtable.symtable(source, "<statement>", "exec")]
    except Exception:  # noqa: BLE001 - SyntaxError, RecursionError ...: the coarser answer
        return uses(node)
    names: set[str] = set()
    while tables:
        table = tables.pop()
        # a class body reads a name it has not bound yet from the notebook (``N = N``), which the
        # symbol table calls the class's own (independent attack round 25)
        every = table.get_type() in ("module", "class")
        names.update(s.get_name() for s in table.get_symbols() if s.is_referenced() and (every or s.is_global()))
        tables += table.get_children()
    return names


def is_definition(node: ast.stmt) -> bool:
    """Imports, definitions, ``pass``/docstrings, and ``if``/``try`` blocks made only of those."""
    if isinstance(node, _DEFINITIONS + (ast.Pass,)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True
    if isinstance(node, ast.If):
        return all(map(is_definition, node.body + node.orelse))
    if isinstance(node, ast.Try):
        return all(map(is_definition, node.body + node.orelse + node.finalbody
                       + [s for h in node.handlers for s in h.body]))
    return False


def _plumbing_import(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] in PLUMBING_MODULES for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] in PLUMBING_MODULES
    return False


# ---------------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------------


class _Reading:
    """What one read collects (turned into plain data by ``read_submission``)."""

    def __init__(self) -> None:
        self.statements: list[dict] = []
        self.skipped: list[dict] = []
        self.notes: list[str] = []
        self.trees: list[ast.stmt] = []  # every statement's node, for ``uses``
        self.plumbing: set[str] = set()
        self.modules: set[str] = set()
        self.code_chars = 0
        self.full = False  # a cap was reached: later cells are not read (one note says so)

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)

    def stop(self, text: str) -> None:
        """No more cells are read (a cap was reached), with one note saying why."""
        if not self.full:
            self.full = True
            self.notes.append(text)


def _text(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """The text from ``start`` to ``end`` ((line from 1, column in UTF-8 bytes), as ``ast`` counts)."""
    (a, ac), (b, bc) = start, end
    if a == b:
        return lines[a - 1].encode()[ac:bc].decode()
    return "\n".join([lines[a - 1].encode()[ac:].decode(), *lines[a:b - 1], lines[b - 1].encode()[:bc].decode()])


def _segment(lines: list[str], node: ast.stmt) -> str:
    """A statement's own text, without what shares its first or last line."""
    return _text(lines, (node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset))


def _semicolon_between(lines: list[str], a: ast.stmt, b: ast.stmt) -> bool:
    """Whether ``;`` joins two consecutive statements (the text between them holds only blanks,
    comments, backslashes and that ``;``; a line break after a backslash still joins them: round 13)."""
    if getattr(b, "decorator_list", None):
        return False
    between = _text(lines, (a.end_lineno, a.end_col_offset), (b.lineno, b.col_offset))
    return ";" in "\n".join(line.split("#", 1)[0] for line in between.split("\n"))


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _shorten(line: str) -> str:
    line = line.strip()
    return line if len(line) <= 80 else line[:77] + "..."


def cell(source: str, label: str, out: _Reading, *, driver: bool = False) -> None:
    """Add one cell's statements (or its notes) to ``out``. Whatever the cells hold, the answer stays
    within the caps (``MAX_CODE_CHARS``, ``MAX_STATEMENTS``, ``MAX_NOTES``, ``MAX_SKIPPED``): a code bomb
    of many statements, cells or notes costs the reading no work past them, and the grader never
    sees a list longer than it accepts."""
    if out.full:
        return
    out.code_chars += len(source)  # counted before any work on the text (CI: a 4 MB cell took 10 s to clean up)
    if out.code_chars > MAX_CODE_CHARS:
        out.stop(f"{label}: the code cells hold more than {MAX_CODE_CHARS:,} characters; this cell and "
                 "the rest were not read")
        return
    text, why = python_of_cell(source)
    if text is None:
        out.note(f"{label}: {why}; not graded")
        return
    out.code_chars += max(0, len(text) - len(source))  # what magics grew into counts too (round 23: 100x)
    if out.code_chars > MAX_CODE_CHARS:
        out.stop(f"{label}: the code cells hold more than {MAX_CODE_CHARS:,} characters once IPython's magics "
                 "are read; this cell and the rest were not read")
        return
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        version = f"Python {sys.version_info.major}.{sys.version_info.minor}"  # round 12: 3.12's f-strings
        line = text.split("\n")[e.lineno - 1] if e.lineno and 0 < e.lineno <= text.count("\n") + 1 else ""
        why = (" (IPython reads a line ending in ? as a help query only when it ends with name? or name??, "
               "so Jupyter does not run this cell either)") if line.split("#", 1)[0].rstrip().endswith("?") else ""
        out.note(f"{label}: syntax error on line {e.lineno} for the grader's {version}: {e.msg}{why}; "
                 "this cell was skipped")
        return
    except (RecursionError, MemoryError, ValueError):
        out.note(f"{label}: the code is nested too deeply, too large or holds a null byte; "
                         "this cell was skipped")
        return
    lines = text.split("\n")
    body = tree.body
    on_line: dict[int, int] = {}  # statements so far that start on each line: `a; b` gets a label each (round 13)
    for i, node in enumerate(body):
        if isinstance(node, ast.Pass):
            continue  # does nothing (a line IPython turns into a call at the left edge is one: _blank)
        first = _first_line(node)
        if len(out.statements) >= MAX_STATEMENTS:
            out.stop(f"{label}, line {first}: the submission has more than {MAX_STATEMENTS:,} top-level "
                     "statements; this one and every later one were not run")
            return
        on_line[node.lineno] = on_line.get(node.lineno, 0) + 1
        where = f"{label}, line {first}" + (f", statement {on_line[node.lineno]}" if on_line[node.lineno] > 1 else "")
        bound = binds(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not _plumbing_import(node):
            out.modules.update(bound)
        touched = list(dict.fromkeys(bound + changes(node, out.modules)))
        why = ""
        if _plumbing_import(node):
            out.plumbing.update(bound)
            why = PLUMBING
        elif uses(node) & out.plumbing and not isinstance(node, _DEFINITIONS):
            out.plumbing.update(bound)  # `grader = otter.Notebook(...)` makes `grader` plumbing too
            why = PLUMBING
        elif driver and not isinstance(node, _DEFINITIONS):
            why = DRIVER
        if (i and _semicolon_between(lines, body[i - 1], node)) or (
                i + 1 < len(body) and _semicolon_between(lines, node, body[i + 1])):
            # `a; b`: each runs once, as its own text (round 12: whole lines ran `a; b` twice)
            source = _segment(lines, node) + "\n"
        else:
            source = "\n".join(lines[first - 1 : node.end_lineno]) + "\n"
        if not why and len(source) > MAX_STATEMENT_CHARS:
            why = f"it is longer than {MAX_STATEMENT_CHARS:,} characters"
        if why:
            if len(out.skipped) < MAX_SKIPPED:
                out.skipped.append({"label": where, "text": _shorten(lines[first - 1]), "names": touched,
                                    "reason": why})
            continue
        out.trees.append(node)
        out.statements.append({"label": where, "source": source, "names": touched,
                               "definition": is_definition(node) or is_capture_end(source)})


def _cell_source(c: dict) -> str | None:
    src = c.get("source", "")
    if isinstance(src, list):
        return "".join(src) if all(isinstance(s, str) for s in src) else None
    return src if isinstance(src, str) else None


def _is_driver(c: dict, drivers: dict) -> bool:
    cid = c.get("id")
    if isinstance(cid, str) and cid in drivers.get("ids", ()):
        return True
    return source_digest(_cell_source(c) or "") in drivers.get("sources", ())


def _notebook_cells(data: bytes) -> tuple[list | None, str]:
    """The notebook's cells, or (None, why it cannot be read). A JSON bomb is refused before parsing."""
    if data.count(b"{") + data.count(b"[") > MAX_JSON_CONTAINERS:  # counted without building anything
        return None, "the notebook is malformed or too large to read (too many JSON objects)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "the notebook is not UTF-8 text"
    if not text.strip():
        return None, "the file is empty"
    try:
        nb = json.loads(text)
    except (ValueError, RecursionError):
        return None, "the notebook is not valid JSON (was it cut short while saving or uploading?)"
    if not isinstance(nb, dict):
        return None, "the file is not a Jupyter notebook (it has no list of cells)"
    return _jupyters_cells(nb)


def _jupyters_cells(nb: dict) -> tuple[list | None, str]:
    """The cells Jupyter sees in the notebook ``nb``, in version 4's form, or (None, why not).
    nbformat reads a file by its ``"nbformat"`` version (1 where it names none) and upgrades it:
    version 4's ``"cells"``; version 3's and 2's worksheets, merged, a code cell's source in
    ``"input"``, a heading cell a markdown line of ``#``; version 1's ``"cells"``, code in ``"code"``,
    text in ``"text"``. Nothing else in the file is read, here or by Jupyter (attack round 20: a
    version 3 file holding the template in its worksheet and the solutions in a ``"cells"`` key
    scored 46 while Jupyter showed and ran the stubs; a correct version 3 file scored 0)."""
    major = nb.get("nbformat", 1)
    major = int(major) if type(major) is bool else major  # nbformat's table of versions takes true for 1
    if type(major) is not int or not 1 <= major <= 4:
        return None, f"the notebook's format version ({str(major)[:20]}) is not one Jupyter reads (1 to 4)"
    if major in (2, 3):
        worksheets = nb.get("worksheets", [])
        if not isinstance(worksheets, list) or not all(isinstance(w, dict) and isinstance(w.get("cells"), list)
                                                       for w in worksheets):
            return None, f"the notebook (format version {major}) has no list of worksheets with cells"
        return [_upgraded(c, "\n" if major == 2 else "") for w in worksheets for c in w["cells"]], ""
    cells = nb.get("cells")
    if not isinstance(cells, list):
        return None, "the file is not a Jupyter notebook (it has no list of cells)"
    return (cells if major == 4 else [_from_version_1(c) for c in cells]), ""


def _upgraded(cell: object, joiner: str) -> object:
    """A version 2 or 3 cell as nbformat upgrades it to version 4 (``nbformat.v4.convert.upgrade_cell``),
    its text's lines joined by ``joiner`` as that version's reader joins them (version 2's with a
    newline: attack round 21's stub line, joined onto a comment with "", never ran)."""
    if not isinstance(cell, dict):
        return cell
    cell = {k: (joiner.join(v) if k in ("input", "source") and isinstance(v, list) and all(isinstance(x, str) for x in v)
                else v) for k, v in cell.items()}
    kind = cell.get("cell_type")
    if kind == "code":
        return {**cell, "source": cell.get("input", "")}
    if kind == "heading":
        level = cell.get("level", 1)
        source = _cell_source(cell) or ""
        return {**cell, "cell_type": "markdown",
                "source": "#" * (level if type(level) is int else 1) + " " + " ".join(source.splitlines())}
    if kind == "html":
        return {**cell, "cell_type": "markdown"}
    return cell


def _from_version_1(cell: object) -> object:
    """A version 1 cell as nbformat upgrades it: code from ``"code"``, markdown from ``"text"``."""
    if not isinstance(cell, dict):
        return cell
    # as text, whatever it is (nbformat.v2's new_code_cell: a list of lines becomes its repr, which
    # defines nothing; attack round 21 ran it as code)
    if cell.get("cell_type") == "code":
        return {"cell_type": "code", "source": "" if cell.get("code") is None else str(cell["code"])}
    if cell.get("cell_type") == "text":
        return {"cell_type": "markdown", "source": "" if cell.get("text") is None else str(cell["text"])}
    return {}


def predictions(cells: list) -> dict[str, str]:
    """The written answers of a notebook's prediction cells (markdown tagged ``prediction`` or starting
    with "**Your predictions (label):**"), for staff to read; an untouched cell is left out. At most
    MAX_PREDICTIONS answers of at most PREDICTION_CHARS characters, MAX_PREDICTION_CHARS in all (one
    student's share of the class's report); the last one kept says so when more were written."""
    out: dict[str, str] = {}
    room = MAX_PREDICTION_CHARS
    for c in cells:
        if not isinstance(c, dict) or c.get("cell_type") != "markdown":
            continue
        text = _cell_source(c) or ""
        meta = c.get("metadata")
        tags = meta.get("tags") if isinstance(meta, dict) else None
        match = _PREDICTION.match(text)
        if not match and not (isinstance(tags, list) and "prediction" in tags):
            continue
        label = ((match.group("label") if match else None) or f"prediction {len(out) + 1}")[:80]
        answer = (text[match.end():].strip() if match else text.strip())[:PREDICTION_CHARS]
        if not answer:
            continue
        if len(out) == MAX_PREDICTIONS or room <= 0:
            out[next(reversed(out))] += TRUNCATED
            break
        out[label] = answer[:room]
        if len(answer) > room:
            out[label] += TRUNCATED
            break
        room -= len(answer)
    return out


_PREDICTION = re.compile(r"^\*\*Your predictions(?: \((?P<label>[^)]*)\))?:\*\*\s*(?:_[^_]*_)?\s*", re.S)


def _graded_uses(out: _Reading, graded: dict) -> dict[str, list[str]]:
    """Per question: its graded names and every name they reach through the student's top-level code
    (the globals their definitions read, and what the statements binding those names read)."""
    by_name: dict[str, list[int]] = {}  # name -> the statements (by index) that bind or change it
    for i, st in enumerate(out.statements):
        for name in st["names"]:
            by_name.setdefault(name, []).append(i)
    read: dict[int, set[str]] = {}  # each statement's reads, found when a graded name first reaches it
    result = {}
    for question, names in graded.items():
        reached, todo = set(), [n for n in names if isinstance(n, str)]
        while todo:
            name = todo.pop()
            if name in reached:
                continue
            reached.add(name)
            for i in by_name.get(name, ()):
                if i not in read:
                    read[i] = global_reads(out.trees[i], out.statements[i]["source"])
                todo += [n for n in read[i] if n not in reached]
        result[str(question)] = sorted(reached)
    return result


def size_limit(name: str) -> int:
    """The most bytes a submission file named ``name`` may hold (the grader reads no more, the worker
    refuses more): a notebook's outputs are dropped as it is read, so it may hold more."""
    return MAX_NOTEBOOK_BYTES if name.lower().endswith(".ipynb") else MAX_SUBMISSION_BYTES


def too_large(size: int, name: str) -> str:
    return f"the file is too large to grade ({size / 2**20:.1f} MB; the limit is {size_limit(name) >> 20} MB)"


class Pieces:
    """A submission's bytes as they arrive, a piece at a time (the grader sends a large notebook in
    pieces, so that neither process holds all of it): a notebook's outputs are dropped as they pass
    (``drop_outputs``), anything else is kept up to MAX_SUBMISSION_BYTES."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.notebook = name.lower().endswith(".ipynb")
        self._dropped = OutputsDropped(MAX_SUBMISSION_BYTES) if self.notebook else None
        self._raw = bytearray()
        self.size = 0

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self._dropped is not None:
            if self.size <= MAX_NOTEBOOK_BYTES:
                self._dropped.add(piece)
        elif len(self._raw) <= MAX_SUBMISSION_BYTES:
            self._raw += piece[:MAX_SUBMISSION_BYTES + 1 - len(self._raw)]

    def too_large(self) -> str:
        """Why these bytes are too large to read, or ''."""
        if self.size > size_limit(self.name):
            return too_large(self.size, self.name)
        if self._dropped is not None and self._dropped.too_large:
            return (f"the notebook is too large to grade: more than {MAX_SUBMISSION_BYTES >> 20} MB without its "
                    "outputs (its code and text cells)")
        return ""

    def data(self) -> bytes:
        return bytes(self._dropped.kept if self._dropped is not None else self._raw)


def read_submission(data: bytes, name: str, *, notebook_name: str = "", drivers: dict | None = None,
                    graded: dict | None = None) -> dict:
    """The statements of the submission ``name`` with bytes ``data``, as plain data (see the module
    docstring): {"file", "statements", "skipped", "notes", "unreadable", "predictions", "uses"}."""
    pieces = Pieces(name)
    pieces.add(data)
    return read_pieces(pieces, notebook_name=notebook_name, drivers=drivers, graded=graded)


def read_pieces(pieces: Pieces, *, notebook_name: str = "", drivers: dict | None = None,
                graded: dict | None = None) -> dict:
    """``read_submission`` of the bytes ``pieces`` holds."""
    out = _Reading()
    name = pieces.name
    result = {"file": name, "statements": out.statements, "skipped": out.skipped, "notes": out.notes,
              "unreadable": "", "predictions": {}, "uses": {}}
    drivers = drivers or {}
    result["unreadable"] = pieces.too_large()
    if result["unreadable"]:
        return result
    data = pieces.data()
    if name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
                choice = choose(list(infos), notebook_name)
                pick = choice.name
                if pick is None or pick.lower().endswith(".zip"):  # a zip in the zip is not unpacked again
                    result["unreadable"] = choice.note or f"the zip holds another zip ({pick}), not a notebook"
                    return result
                if choice.note:
                    out.notes.append(choice.note)
                inner = Pieces(pick)
                with zf.open(pick) as member:  # zipfile reads no more than the size the entry declares
                    while piece := member.read(1 << 20):
                        inner.add(piece)
                        if inner.size > MAX_NOTEBOOK_BYTES:
                            break
                why = inner.too_large()
                if why:
                    result["unreadable"] = f"{pick} in the zip: {why}"
                    return result
                name, data = pick, inner.data()
                result["file"] = f"{result['file']}:{pick}"
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError, RuntimeError,
                MemoryError, zipfile.LargeZipFile) as e:
            result["unreadable"] = f"the zip could not be read ({type(e).__name__})"
            return result
    kind = name.lower()
    if kind.endswith(".ipynb"):
        cells, why = _notebook_cells(data)
        if cells is None:
            result["unreadable"] = why
            return result
        result["predictions"] = predictions(cells)
        for i, c in enumerate(cells, start=1):
            if not isinstance(c, dict) or c.get("cell_type") != "code":
                continue
            src = _cell_source(c)
            if src is None:
                out.note(f"cell {i}: its source is not text; this cell was skipped")
                continue
            cell(src, f"cell {i}", out, driver=_is_driver(c, drivers))
    elif kind.endswith(".py"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            result["unreadable"] = "the file is not UTF-8 text"
            return result
        if not text.strip():
            result["unreadable"] = "the file is empty"
            return result
        cell(text, "file", out)
    else:
        result["unreadable"] = (f"{name.rsplit('/', 1)[-1][:80]!r} is not a notebook (.ipynb), a Python file or "
                                "an export zip")
        return result
    if not out.statements and not out.notes:
        out.notes.append("no code was found in the submission")
    result["uses"] = _graded_uses(out, graded or {})
    return result
