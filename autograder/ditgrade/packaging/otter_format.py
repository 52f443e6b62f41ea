"""Reading otter-grader's Assign format (v1), the master notebook's markup, in one place, with
otter's own block functions (``otter.assign.blocks``): a boundary is what otter takes for one (its
case-insensitive pattern) and a Markdown cell fenced as ```` ```otter ```` counts as the raw cell it
holds, so a master that ``otter assign`` builds is read the same way here.

    raw cell  "# BEGIN QUESTION" + YAML (name: q1, points: 10)      ... "# END QUESTION"
    raw cell  "# BEGIN SOLUTION" / "# END SOLUTION"                 around the solution cells
    raw cell  "# BEGIN TESTS" / "# END TESTS"                       around the public tests
    in code   "# BEGIN SOLUTION NO PROMPT" ... "# END SOLUTION"   solution lines
              a triple-quoted "# BEGIN PROMPT" ... "# END PROMPT"     what students see instead
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

PROMPT_BLOCK = re.compile(r"^[ \t]*\"\"\" # BEGIN PROMPT\n.*?^[ \t]*\"\"\"  # END PROMPT\n", re.S | re.M)
SOLUTION_MARKER = re.compile(r"^[ \t]*# (BEGIN SOLUTION NO PROMPT|BEGIN SOLUTION|END SOLUTION)[ \t]*\n", re.M)


class FormatError(ValueError):
    """The master notebook's otter markup is malformed."""


@dataclass
class QuestionBlock:
    id: str
    points: float
    solution_cells: list[str] = field(default_factory=list)  # code, markers and prompts removed


def _marker(cell: Any) -> str:
    """"# BEGIN QUESTION", "# END SOLUTION", ... when otter reads ``cell`` as that boundary, else ""."""
    from otter.assign.blocks import BlockType, is_block_boundary_cell

    if cell.get("cell_type") != "raw" or not cell.source.strip():
        return ""
    for kind in BlockType:
        for end in (False, True):
            if is_block_boundary_cell(cell, kind, end=end):
                return f"# {'END' if end else 'BEGIN'} {kind.name}"
    return ""


def cells(nb: Any) -> list[Any]:
    """The master's cells as otter reads them: each ```otter fence of a Markdown cell a raw cell."""
    from otter.assign.blocks import extract_all_fenced_otter_cells

    return extract_all_fenced_otter_cells(nb.cells)


def solution_source(cell_source: str) -> str:
    """A solution cell as plain Python: otter's markers and the students' prompt blocks removed."""
    text = cell_source if cell_source.endswith("\n") else cell_source + "\n"
    return SOLUTION_MARKER.sub("", PROMPT_BLOCK.sub("", text))


def questions(nb: Any) -> list[QuestionBlock]:
    """The master's questions in order, with their points and solution cells."""
    out: list[QuestionBlock] = []
    current: QuestionBlock | None = None
    in_solution = False
    for cell in cells(nb):
        marker = _marker(cell)
        if marker == "# BEGIN QUESTION":
            config = yaml.safe_load("\n".join(cell.source.strip().splitlines()[1:])) or {}
            if not isinstance(config, dict) or "name" not in config:
                raise FormatError(f"a BEGIN QUESTION cell without a name: {cell.source[:80]!r}")
            points = config.get("points")
            if isinstance(points, list):
                points = sum(float(p) for p in points)
            if not isinstance(points, (int, float)) or isinstance(points, bool):
                raise FormatError(f"question {config['name']} has no points: set `points:` in its BEGIN QUESTION cell")
            current = QuestionBlock(str(config["name"]), float(points))
            out.append(current)
        elif marker == "# END QUESTION":
            current, in_solution = None, False
        elif marker == "# BEGIN SOLUTION":
            in_solution = True
        elif marker == "# END SOLUTION":
            in_solution = False
        elif in_solution and current is not None and cell.get("cell_type") == "code":
            current.solution_cells.append(solution_source(cell.source))
    ids = [q.id for q in out]
    if len(ids) != len(set(ids)):
        raise FormatError(f"question names repeat: {ids}")
    return out


def solution_lines(nb: Any) -> tuple[list[str], set[str]]:
    """(lines inside ``# BEGIN SOLUTION NO PROMPT`` ... ``# END SOLUTION``, every other line of the master)."""
    solution, public, inside = [], set(), False
    for cell in nb.cells:
        for raw in cell.source.splitlines():
            line = raw.strip()
            if line == "# BEGIN SOLUTION NO PROMPT":
                inside = True
            elif line == "# END SOLUTION" and inside:
                inside = False
            elif inside:
                if line:
                    solution.append(line)
            else:
                public.add(line)
    return solution, public
