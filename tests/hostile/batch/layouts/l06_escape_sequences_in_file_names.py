"""Attack: terminal escape sequences in a file name the TA's folder holds (an LMS download keeps the
student's own file name after its prefix).

Files that are not submissions become notes (``discover._read_folder``: ``"{entry}: not a .ipynb,
.py or .zip file; skipped"``), and ``cli.cmd_grade.run`` prints every note to the TA's terminal
as it is: the name clears the screen, retitles the window and prints a fake, green "all graded"
line. (report.html cleans its copy of the notes; the terminal's copy is not.)

What must hold instead: nothing a student names reaches the terminal with control characters.
"""
from pathlib import Path

NAME = ("smith_1234_99_notes\x1b[2J\x1b[H\x1b]0;grading done\x07"
        "\x1b[32m46 submissions graded, 0 errors\x1b[0m<script>alert(1)<\\script>.txt")


def build(dest: Path) -> list[Path]:
    folder = dest / "canvas_download"
    folder.mkdir(parents=True)
    (folder / NAME).write_text("see my notebook\n")
    return [folder]
