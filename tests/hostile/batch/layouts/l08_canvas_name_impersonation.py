"""Attack: name one's own upload like a Canvas download of someone else's submission.

``discover._file_submission`` believes any file name of the form ``lastfirst_<userid>_<subid>_file``
and takes the student's name and SID from it. Where the TA's folder holds files named by their
senders (uploads collected by email, a shared drive, a course form), a student who calls their
empty upload ``victimperson_424242_1_dit_assignment.py`` gets a row in gradescope_scores.csv and
canvas_scores.csv with the victim's SID (424242) and a score of 0, next to (or instead of) the
victim's own.

What must hold instead: a name and SID are only taken from where the LMS put them; the CSVs never
hold a row with an SID that the LMS did not assign to that submission.
"""
from pathlib import Path

FILE = "victimperson_424242_1_dit_assignment.py"


def build(dest: Path) -> list[Path]:
    folder = dest / "emailed_uploads"
    folder.mkdir(parents=True)
    (folder / FILE).write_text("def sequence_length(h, w, p):\n    return 0\n")
    return [folder / FILE]
