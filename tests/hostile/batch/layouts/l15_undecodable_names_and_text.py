"""Attack: text that cannot be written as UTF-8 reaching the batch's outputs from a layout.

Two routes besides a07's exception message: a student's folder whose only file has a name that is
not UTF-8 (Python reads it with surrogate escapes; ``discover._student_folder`` quotes it in the
row's "nothing to grade" message, which ``_finish`` writes to feedback/<id>.txt), and a notebook
whose prediction cell holds ``\\ud800`` (valid JSON; ``report.html`` is written with it). Either
raises UnicodeEncodeError out of the batch.

What must hold instead: every output is written, every other submission graded.
"""
import json
import os
from pathlib import Path


def build(dest: Path) -> list[Path]:
    root = dest / "student_folders_bytes"
    (root / "mallory_bytes").mkdir(parents=True)
    with open(os.path.join(os.fsencode(root / "mallory_bytes"), b"notes-\xff\xfe.txt"), "w") as f:
        f.write("no notebook here\n")
    nb = {"cells": [{"cell_type": "markdown", "metadata": {"tags": ["prediction"]},
                     "source": "**Your predictions (q1):** shapes \ud800 match"},
                    {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": "def sequence_length(h, w, p):\n    return 0\n"}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "mallory_text").mkdir()
    (root / "mallory_text" / "dit_assignment.ipynb").write_text(json.dumps(nb))  # ASCII: "\ud800" escaped
    return [root]
