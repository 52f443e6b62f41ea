"""Attack: file names that make ``discover._unique_ids`` give two submissions the same id.

Ids are the file's stem, made unique by appending ``-2``, ``-3``... to later duplicates, but
without checking that the new id is free: next to a classmate's ``team-2.ipynb``, a student who
uploads ``team.ipynb`` and ``team.py`` gets ids ``team`` and ``team-2``. Both ``team-2`` rows then
share results/team-2.json and feedback/team-2.txt (the later one overwrites the classmate's), and
``grade_batch`` keys its rows by id: the classmate's row shows the attacker's grade.

What must hold instead: every submission gets an id of its own; the classmate keeps 46.
"""
from pathlib import Path


def build(dest: Path, victim_notebook: bytes = b"") -> list[Path]:
    folder = dest / "team_uploads"
    folder.mkdir(parents=True)
    (folder / "team-2.ipynb").write_bytes(victim_notebook or b"{}")
    (folder / "team.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    (folder / "team.py").write_text("def sequence_length(h, w, p):\n    return 0\n")
    return [folder]
