"""The master's otter markup is read with otter's own rules (``packaging.otter_format``): a master
whose block boundaries are Markdown cells fenced as ```otter, or written in lower case, builds with
``otter assign`` and is read by ditgrade as the same questions, points and reference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from ditgrade.cli import main
from ditgrade.packaging import otter_format

TINY = Path(__file__).resolve().parent.parent / "fixtures" / "tiny_course"
MASTER = "assignment/tiny.ipynb"


def _restyle(nb, *, fence: bool, lower: bool):
    """The same master with every block boundary (not the assignment config) fenced and/or lower-cased."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    out = []
    for cell in nb.cells:
        first = cell.source.splitlines()[0] if cell.source else ""
        if cell.cell_type == "raw" and first.startswith(("# BEGIN", "# END")):
            source = cell.source
            if lower:
                source = first.lower() + source[len(first):]
            if fence:
                cell = nbformat.v4.new_markdown_cell("```otter\n" + source + "\n```")
            else:
                cell = nbformat.v4.new_raw_cell(source)
        out.append(cell)
    nb.cells = out
    return nb


def _read(nb) -> list[tuple[str, float, list[str]]]:
    return [(q.id, q.points, q.solution_cells) for q in otter_format.questions(nb)]


def test_fenced_and_lower_case_boundaries_read_as_the_raw_ones() -> None:
    nb = nbformat.read(TINY / MASTER, as_version=4)
    plain = _read(nb)
    assert [q[:2] for q in plain] == [("q1", 2.0), ("q2", 3.0)] and all(q[2] for q in plain)
    for fence in (False, True):
        for lower in (False, True):
            assert _read(_restyle(nb, fence=fence, lower=lower)) == plain, (fence, lower)


def test_a_fenced_master_builds_with_otter_and_gives_the_same_generated_files(tmp_path: Path) -> None:
    built = {}
    for fence in (False, True):
        course = tmp_path / f"fence{int(fence)}"
        shutil.copytree(TINY, course)
        if fence:
            nb = nbformat.read(course / MASTER, as_version=4)
            nbformat.write(_restyle(nb, fence=True, lower=False), course / MASTER)
        assert main(["--project", str(course), "build"]) == 0
        generated = course / "autograder" / "tinyq" / "generated"
        data = json.loads((generated / "assignment.json").read_text())
        built[fence] = (data["questions"], (generated / "reference.py").read_text())
    assert built[True] == built[False]
    assert [q["id"] for q in built[True][0]] == ["q1", "q2"]
