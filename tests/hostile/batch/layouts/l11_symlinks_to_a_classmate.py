"""Attack: a student's folder whose notebook and sub-folder are symlinks into a classmate's folder.

In a folder of student folders (unpacked with a tool that keeps symlinks), ``mallory/`` holds
``dit_assignment.ipynb -> ../honest/dit_assignment.ipynb`` and ``work -> ../honest``, hoping to be
graded on the classmate's notebook.

What must hold instead: links are never followed; mallory's row finds nothing to grade (0).
"""
import os
from pathlib import Path


def build(dest: Path, victim_notebook: bytes = b"") -> list[Path]:
    root = dest / "student_folders"
    (root / "honest").mkdir(parents=True)
    (root / "honest" / "dit_assignment.ipynb").write_bytes(victim_notebook or b"{}")
    (root / "mallory").mkdir()
    os.symlink("../honest/dit_assignment.ipynb", root / "mallory" / "dit_assignment.ipynb")
    os.symlink("../honest", root / "mallory" / "work")
    return [root]
