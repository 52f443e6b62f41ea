"""Attack: a Gradescope export whose one student's folder holds a 1,200-deep path.

Gradescope unpacks a student's zip upload into its submission folder, and the export zips it again:
``submission_<id>/d/d/.../x.txt`` (2,400 characters, a valid zip name). ``export.extract_zip``
creates its parent with ``Path.mkdir(parents=True)``, which recurses once per missing level: a
RecursionError (not an ExportError) escapes ``discover`` and the whole batch stops.

What must hold instead: the export is unpacked or refused with a note; at worst that student's
row is lost, never everybody's.
"""
import zipfile
from pathlib import Path

DEPTH = 1200
META = """submission_1001:
  :submitters:
  - :name: Honest Student
    :sid: '1001'
    :email: honest@example.edu
submission_1002:
  :submitters:
  - :name: Mallory Deep
    :sid: '1002'
    :email: mallory@example.edu
"""


def build(dest: Path, victim_notebook: bytes = b"") -> list[Path]:
    path = dest / "deep_export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("export/submission_metadata.yml", META)
        z.writestr("export/submission_1001/dit_assignment.ipynb", victim_notebook or b"{}")
        z.writestr("export/submission_1002/dit_assignment.py", "def sequence_length(h, w, p):\n    return 0\n")
        z.writestr("export/submission_1002/" + "d/" * DEPTH + "x.txt", "deep\n")
    return [path]
