"""Attack: an export zip in which one path is both a file and a folder (``work`` and ``work/x``).

Zip names are free text; ``export.extract_zip`` writes ``work`` as a file, then
``Path.mkdir(parents=True, exist_ok=True)`` for ``work/`` raises FileExistsError (an OSError, not
an ExportError), which ``discover`` does not catch: the batch stops before grading anyone. (Any
other OSError while unpacking does the same: a name over 255 bytes, a full disk.)

What must hold instead: an entry that cannot be written is skipped or the export refused with a
note; the batch goes on.
"""
import zipfile
from pathlib import Path

META = """submission_2001:
  :submitters:
  - :name: Honest Student
    :sid: '2001'
submission_2002:
  :submitters:
  - :name: Mallory Clash
    :sid: '2002'
"""


def build(dest: Path, victim_notebook: bytes = b"") -> list[Path]:
    path = dest / "clash_export.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("export/submission_metadata.yml", META)
        z.writestr("export/submission_2001/dit_assignment.ipynb", victim_notebook or b"{}")
        z.writestr("export/submission_2002/work", "a file\n")
        z.writestr("export/submission_2002/work/dit_assignment.py", "x = 1\n")
    return [path]
