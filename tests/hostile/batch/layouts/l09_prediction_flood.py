"""Attack: thousands of "prediction" cells, each at the 4,000-character cap, in one notebook.

``core.extract.predictions`` keeps every markdown cell tagged ``prediction`` (4,000 characters
each, no limit on their number) in results/<id>.json, and ``batch.report`` copies all of them into
report.html, which every TA opens: an 8 MiB notebook adds 8 MiB of the student's text to the
class's report (a 50 MiB one, 50 MiB), and can bury the other students' answers or carry a
convincing "note to the grader". The first answer also tries HTML (a script, an event handler).

What must hold instead: what one submission puts in the shared report is bounded (a few KiB of
predictions), results/<id>.json stays small, and no markup of the student's reaches report.html.
"""
import json
from pathlib import Path

CELLS = 2000


def build(dest: Path) -> list[Path]:
    text = "**Your predictions (q%d):** " + ("I predict the shapes will match. " * 130)[:3990]
    cells = [{"cell_type": "markdown", "metadata": {"tags": ["prediction"]}, "source": text % i}
             for i in range(CELLS)]
    cells[0]["source"] = ("**Your predictions (q0 <b onmouseover=alert(1)>):** <script>alert(document.cookie)</script>"
                          "<img src=x onerror=alert(1)>")
    cells.append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                  "source": "def sequence_length(h, w, p):\n    return 0\n"})
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = dest / "flood" / "mallory_predictions.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nb))
    return [path]
