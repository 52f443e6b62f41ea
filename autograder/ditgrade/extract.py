"""Turn a submission file into the code the grader will run: definitions only, cell by cell.

From a notebook we keep each code cell's imports, function and class definitions and simple
constant assignments, and nothing else: exploration cells that download models, plot or train
never run during grading. Each cell becomes its own chunk, so a cell with a syntax error costs
only its own definitions; later definitions win because chunks run in notebook order.

A ``.py`` file is treated as one cell (the same filter, so a top-level driver does not run either).
A ``.zip`` (what the notebook's export cell makes) is unpacked in memory and its notebook used.
"""

from __future__ import annotations

import ast
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
# Calls allowed on the right of a kept assignment: cheap and side-effect free.
_SAFE_CALLS = {"int", "float", "str", "bool", "tuple", "list", "dict", "set", "frozenset", "range", "len",
               "torch.device", "torch.dtype", "math.sqrt", "np.float32", "np.float64"}
_SKIPPED_IMPORTS = {"otter", "IPython", "google"}  # notebook plumbing the grader has no use for


@dataclass
class Chunk:
    label: str  # "cell 12" / "file"
    source: str


@dataclass
class Extracted:
    chunks: list[Chunk] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # problems found while reading, for the student


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_simple_value(node: ast.AST) -> bool:
    """Literals, names, attributes and arithmetic on them, and a few harmless calls."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if _dotted(sub.func) not in _SAFE_CALLS:
                return False
        elif isinstance(sub, ast.Subscript):  # `block = model.blocks[0]` needs objects a driver cell made
            return False
        elif isinstance(sub, (ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr,
                              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return False
    return True


def _keep(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
        return not any(n.split(".")[0] in _SKIPPED_IMPORTS for n in names)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Assign):
        return all(isinstance(t, (ast.Name, ast.Tuple)) for t in node.targets) and _is_simple_value(node.value)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.value is not None and _is_simple_value(node.value)
    if isinstance(node, ast.Try):  # `try: import x / except ImportError: ...`
        return all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) for s in node.body)
    return False


def _strip_magics(source: str) -> str:
    """Blank out IPython magics and shell escapes (keeping line numbers for error messages)."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def definitions(source: str, label: str, notes: list[str]) -> str | None:
    """The kept statements of one cell, as source; None (with a note) when the cell does not parse."""
    source = _strip_magics(source)
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        notes.append(f"{label}: syntax error on line {e.lineno}: {e.msg}; its definitions were skipped")
        return None
    kept = [node for node in tree.body if _keep(node)]
    if not kept:
        return None
    return "\n\n".join(ast.get_source_segment(source, node) or ast.unparse(node) for node in kept) + "\n"


def _from_notebook(data: bytes, notes: list[str]) -> list[Chunk]:
    try:
        nb = json.loads(data.decode("utf-8"))
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError("cells is not a list")
    except Exception as e:
        notes.append(f"the notebook could not be read ({type(e).__name__}); nothing was graded")
        return []
    chunks = []
    for i, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if not isinstance(src, str):
            continue
        code = definitions(src, f"cell {i}", notes)
        if code:
            chunks.append(Chunk(f"cell {i}", code))
    return chunks


def _from_zip(data: bytes, notes: list[str]) -> tuple[str, bytes] | None:
    """The (name, bytes) of the submission file inside an export zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX")]
            notebooks = [i for i in infos if i.filename.endswith(".ipynb") and ".ipynb_checkpoints" not in i.filename]
            pys = [i for i in infos if i.filename.endswith(".py")]
            top = [i for i in notebooks if "/" not in i.filename]
            pick = (top or notebooks or pys or [None])[0]
            if len(top) > 1 or (not top and len(notebooks) > 1):
                notes.append(f"the zip holds several notebooks; graded {pick.filename}")
            if pick is None:
                notes.append("the zip holds no notebook (.ipynb) or Python file")
                return None
            if pick.file_size > MAX_SUBMISSION_BYTES:
                notes.append(f"{pick.filename} is too large to grade")
                return None
            return pick.filename, zf.read(pick)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
        notes.append(f"the zip could not be read ({type(e).__name__})")
        return None


def extract(path: str | Path) -> Extracted:
    """The chunks of code to run for the submission at ``path`` (never raises for bad content)."""
    path = Path(path)
    out = Extracted()
    if path.is_dir():
        out.notes.append("no notebook (.ipynb), Python file or export zip was found in the submission")
        return out
    try:
        if path.stat().st_size > MAX_SUBMISSION_BYTES:
            out.notes.append("the submission is too large to grade")
            return out
        name, data = path.name, path.read_bytes()
    except OSError as e:
        out.notes.append(f"the submission could not be read ({e.strerror})")
        return out
    if name.endswith(".zip"):
        found = _from_zip(data, out.notes)
        if found is None:
            return out
        name, data = found
    if name.endswith(".ipynb"):
        out.chunks = _from_notebook(data, out.notes)
    elif name.endswith(".py"):
        try:
            code = definitions(data.decode("utf-8"), "file", out.notes)
        except UnicodeDecodeError:
            out.notes.append("the file is not UTF-8 text")
            code = None
        out.chunks = [Chunk("file", code)] if code else []
    else:
        out.notes.append(f"unsupported submission type {Path(name).suffix!r}: upload the .ipynb, a .py or the export zip")
    if not out.chunks and not out.notes:
        out.notes.append("no functions or classes were found in the submission")
    return out
