"""Attack: a zip of a few KB holding a 4 MB ``.py`` (and one holding a 20 MB notebook member).

Parsed in the grader's own process, 4 MB of code made ``ast.parse`` peak at 3.5 GB; 20 MB needs
about 15 GB. Several at once push the TA's machine into the OOM killer, whose first victims are
other students' sandboxes.

What must hold instead: the grader never parses a submission's bytes (the sandboxed worker does,
under its memory limit, and refuses code over its size caps before parsing); each costs its own
row, with a note; the honest neighbours keep their solo scores and the grader's memory stays bounded.
"""
import zipfile
from pathlib import Path


def build(dest: Path) -> list[Path]:
    folder = dest / "zips"
    folder.mkdir(parents=True)
    small = folder / "mallory_code_bomb.zip"
    with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("dit_assignment.py", "x = 1\n" * (4 * 1024 * 1024 // 6))
    big = folder / "mallory_big_member.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("dit_assignment.ipynb", b'{"cells": [], "metadata": {"pad": "' + b"a" * (20 * 1024 * 1024) + b'"}}')
    return [small, big]
