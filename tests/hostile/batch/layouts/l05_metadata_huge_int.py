"""Attack: student-supplied export metadata whose name is a 16,000-bit hexadecimal integer.

YAML 1.1 reads ``0xfff...`` as an int, and hexadecimal is exempt from Python's 4,300-digit limit on
int/str conversion; ``export._text`` then calls ``str()`` on it, which raises ValueError outside the
``try`` in ``read_metadata``; ``discover`` only catches ExportError, so the batch stops before
grading anyone. (Reached through l04's route: a student's folder taken for an export, or a
student's zip named on the command line.)

What must hold instead: unreadable metadata is a note ("graded without names"), never a crash.
"""
from pathlib import Path

META = "submission_1:\n  :submitters:\n  - :name: 0x" + "f" * 4000 + "\n    :sid: '1'\n"


def build(dest: Path) -> list[Path]:
    lone = dest / "regrade_requests"
    student = lone / "mallory"
    (student / "submission_1").mkdir(parents=True)
    (student / "submission_metadata.yml").write_text(META)
    (student / "submission_1" / "dit_assignment.py").write_text("x = 1\n")
    return [lone]
