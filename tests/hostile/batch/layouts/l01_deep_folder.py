"""Attack: a student's folder holding a 1,200-deep tree of folders (a zip upload can carry one).

``pick_submission`` and ``Submission.digest`` walk the folder with ``Path.rglob``, which recurses
once per level in Python: past ~1,000 levels it raises RecursionError, which nothing catches, so
``discover`` fails and ``ditgrade grade`` stops before grading anyone (no grades.csv, no report).

What must hold instead: the deep folder costs at most its own row (graded or "nothing found");
every other submission of the batch is graded and the outputs are written.
"""
import os
from pathlib import Path

DEPTH = 1200


def build(dest: Path) -> list[Path]:
    folder = dest / "deep_subs" / "mallory_deep"
    folder.mkdir(parents=True)
    (folder / "dit_assignment.py").write_text("def sequence_length(h, w, p):\n    return 0\n")
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(DEPTH):  # relative to a descriptor: no path ever gets long
            os.mkdir("d", dir_fd=fd)
            nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        with open(os.open("x.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
            f.write("deep\n")
    finally:
        os.close(fd)
    return [folder.parent]
