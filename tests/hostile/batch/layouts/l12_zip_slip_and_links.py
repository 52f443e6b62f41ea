"""Attack: an export zip whose entries climb out of the target (``../``, absolute) or are symlinks
to the grader's reference solution.

What must hold instead: ``export.extract_zip`` writes nothing outside its target and creates no
link; the export's honest submission is graded as usual.
"""
import stat
import zipfile
from pathlib import Path

META = """submission_4001:
  :submitters:
  - :name: Honest Student
    :sid: '4001'
submission_4002:
  :submitters:
  - :name: Mallory Slip
    :sid: '4002'
"""


def build(dest: Path, victim_notebook: bytes = b"", marker: str = "") -> list[Path]:
    path = dest / "slip_export.zip"
    marker = marker or str(dest / "zipslip_marker")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("export/submission_metadata.yml", META)
        z.writestr("export/submission_4001/dit_assignment.ipynb", victim_notebook or b"{}")
        z.writestr("export/submission_4002/" + "../" * 12 + marker.lstrip("/") + ".rel", "pwned\n")
        z.writestr(marker + ".abs", "pwned\n")
        link = zipfile.ZipInfo("export/submission_4002/dit_assignment.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/work/main/autograder/dit/generated/reference.py")
    return [path]
