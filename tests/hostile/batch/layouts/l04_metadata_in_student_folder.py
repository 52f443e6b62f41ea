"""Attack: a student's own folder holding ``submission_metadata.yml`` and ``submission_*/`` folders.

``discover`` treats a folder as a Gradescope export when the metadata file is in it *or in its
only sub-folder* (``export.export_root``). When the TA grades a folder that holds just one
student's folder (a late submission, a regrade, a section of one), that student's upload becomes
the export: its made-up folders are graded as separate submissions and its made-up metadata gives
them any name, email, SID and lateness. Here a folder with nothing gradeable is credited to
another student's SID and email, so gradescope_scores.csv / canvas_scores.csv carry a second row,
scored 0, for the victim (and the attacker's own work is not graded under its name at all).

What must hold instead: only a path the TA names is read as an export (the module docstring of
``ditgrade.batch.export`` says so); a student's files never decide anyone's name, email or SID.
"""
from pathlib import Path

VICTIM_SID = "424242"
VICTIM_EMAIL = "victim@example.edu"
META = f"""submission_1:
  :submitters:
  - :name: Victim Person
    :sid: '{VICTIM_SID}'
    :email: {VICTIM_EMAIL}
  :late: false
"""


def build(dest: Path) -> list[Path]:
    lone = dest / "late_submissions"
    student = lone / "mallory"
    (student / "submission_1").mkdir(parents=True)
    (student / "submission_metadata.yml").write_text(META)
    (student / "submission_1" / "README.txt").write_text("nothing to grade here\n")
    (student / "dit_assignment.py").write_text("def sequence_length(h, w, p):\n    return 0\n")
    return [lone]
