"""Attack: a "billion laughs" YAML alias bomb, and a 100,000-deep flow sequence, as the export
metadata of a student's folder taken for an export (l04's route).

What must hold instead: ``export.read_metadata`` refuses aliases and nesting without expanding them
(a note: "graded without names"); discovery takes well under a second and the batch goes on.
"""
from pathlib import Path

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9))
DEEP = "submission_1: " + "[" * 100_000 + "]" * 100_000 + "\n"


def build(dest: Path) -> list[Path]:
    paths = []
    for name, text in (("bomb", BOMB), ("deep", DEEP)):
        lone = dest / f"regrade_{name}"
        student = lone / "mallory"
        (student / "submission_1").mkdir(parents=True)
        (student / "submission_metadata.yml").write_text(text)
        (student / "submission_1" / "dit_assignment.py").write_text("x = 1\n")
        paths.append(lone)
    return paths
