"""Generate everything that derives from the master notebook.

    assignment/dit_assignment.ipynb  --otter assign-->  student_template/   (what students get)
                                                        solutions/          (the filled-in notebook + public tests)
                                     --extract------->  autograder/ditgrade/reference.py  (what the graders import)

The outputs are committed so instructors can diff them; ``tests/test_assignment.py`` rebuilds
them into a temporary folder and fails on any drift.
"""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from . import paths
from .api import ALL_NAMES, GIVEN

REFERENCE_HEADER = '''"""Reference solution of the DiT assignment.

GENERATED from assignment/dit_assignment.ipynb by `ditgrade build`: do not edit by hand.
The graders import it; student processes never see it.
"""
'''
_PROMPT_BLOCK = re.compile(r"^[ \t]*\"\"\" # BEGIN PROMPT\n.*?^[ \t]*\"\"\"  # END PROMPT\n", re.S | re.M)
_MARKER = re.compile(r"^[ \t]*# (BEGIN SOLUTION NO PROMPT|END SOLUTION)\n", re.M)


def run_otter_assign(master: Path, out_dir: Path) -> None:
    """``otter assign`` without its self-test (tests/test_assignment.py runs the notebooks)."""
    cmd = [sys.executable, "-m", "otter", "assign", str(master), str(out_dir), "--no-run-tests"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"otter assign failed:\n{proc.stdout}\n{proc.stderr}")


def solution_source(cell_source: str) -> str:
    """A solution cell as plain Python: otter's markers and the students' prompt blocks removed."""
    text = cell_source if cell_source.endswith("\n") else cell_source + "\n"
    return _MARKER.sub("", _PROMPT_BLOCK.sub("", text))


def reference_from_notebook(solution_nb: Path) -> str:
    """The reference module: the notebook's imports and the API's definitions, in notebook order."""
    nb = nbformat.read(solution_nb, as_version=4)
    imports: list[str] = []
    defs: list[str] = []
    wanted = set(ALL_NAMES) | set(GIVEN)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = solution_source(cell.source)
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a cell of IPython magics; the API never lives there
            continue
        for node in tree.body:
            segment = ast.get_source_segment(source, node)
            if isinstance(node, (ast.Import, ast.ImportFrom)) and segment not in imports:
                imports.append(segment)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in wanted:
                defs.append(segment)
    missing = wanted - {re.match(r"(?:def|class) (\w+)", d).group(1) for d in defs}
    if missing:
        raise RuntimeError(f"the master notebook does not define {sorted(missing)}")
    used = {n.id for d in defs for n in ast.walk(ast.parse(d)) if isinstance(n, ast.Name)}
    imports = [i for i in imports if _bound_names(i) & used]
    stdlib = sorted(i for i in imports if i.split()[1].split(".")[0] in sys.stdlib_module_names)
    third = sorted(i for i in imports if i not in stdlib)
    body = "\n".join(stdlib) + ("\n\n" if stdlib else "") + "\n".join(third) + "\n\n\n" + "\n\n\n".join(defs) + "\n"
    return REFERENCE_HEADER + "\n" + body


def _stable_cell_ids(notebook: Path) -> None:
    """otter gives the cells it inserts random ids; derive every id from position and content instead."""
    nb = nbformat.read(notebook, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell.id = hashlib.sha1(f"{i}:{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
    nbformat.write(nb, notebook)


def _bound_names(import_source: str) -> set[str]:
    node = ast.parse(import_source).body[0]
    return {(a.asname or a.name).split(".")[0] for a in node.names}


def build(out_root: Path = paths.REPO_ROOT, master: Path = paths.MASTER_NOTEBOOK) -> dict[str, Path]:
    """Regenerate student_template/, solutions/ and the reference module under ``out_root``."""
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        run_otter_assign(master, dist)
        targets = {
            "student_template": (dist / "student", out_root / "student_template"),
            "solutions": (dist / "autograder", out_root / "solutions"),
        }
        for src, dst in targets.values():
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
            _stable_cell_ids(dst / master.name)
    reference = out_root / "autograder" / "ditgrade" / "reference.py"
    reference.parent.mkdir(parents=True, exist_ok=True)
    reference.write_text(reference_from_notebook(out_root / "solutions" / master.name))
    return {"student_template": out_root / "student_template", "solutions": out_root / "solutions",
            "reference": reference}
