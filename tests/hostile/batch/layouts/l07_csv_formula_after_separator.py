"""Attack: a Gradescope display name (students choose their own) that becomes a formula when the CSV
is opened where the list separator is ``;`` (most of Europe's Excel and LibreOffice defaults).

``core.text.csv_cell`` only looks at a cell's first character. ``Mallory;=cmd|' /C calc'!A0`` holds
no comma or quote, so the csv module writes it unquoted, and a ``;``-separated reader splits it
into ``Mallory`` and ``=cmd|' /C calc'!A0`` (a DDE formula); ``x;@SUM(1+1)`` likewise.

What must hold instead: no part of a student-chosen cell can start a formula in grades.csv,
gradescope_scores.csv or canvas_scores.csv, whatever separator the spreadsheet uses (quote such
cells, or neutralise every ``;``/``,``-separated part).
"""
import zipfile
from pathlib import Path

NAME = "Mallory;=cmd|' /C calc'!A0"
EMAIL = "mallory@example.edu;=1+2"
META = f"""submission_3001:
  :submitters:
  - :name: "{NAME}"
    :sid: '3001'
    :email: "{EMAIL}"
"""


def build(dest: Path) -> list[Path]:
    path = dest / "section_c_export.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("export/submission_metadata.yml", META)
        z.writestr("export/submission_3001/dit_assignment.py", "def sequence_length(h, w, p):\n    return 0\n")
    return [path]
