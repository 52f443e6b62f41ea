"""Finding the submissions under the paths a TA gives.

    a .ipynb / .py / notebook-export .zip file     one submission (id: the file's stem; a Canvas
                                                   download's "name_LATE_123_456_file" gives the
                                                   student, their Canvas id and lateness)
    a Gradescope export (its zip, or its folder)   one submission per submission_<id>/ folder, with
                                                   names, emails, SIDs and times from its metadata
    any other folder                               its files are submissions, and each sub-folder is
                                                   one student's submission (the file Gradescope
                                                   would grade in it)

Only the paths given are looked at for export metadata; what is inside a student's folder is that
student's files and nothing more.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..packaging.gradescope import pick_submission
from .export import (
    METADATA_FILE,
    ExportError,
    Person,
    SubmissionInfo,
    export_root,
    extract_zip,
    is_export_zip,
    read_metadata,
)

GRADEABLE = (".ipynb", ".py", ".zip")


@dataclass
class Submission:
    id: str
    path: Path | None  # the file graded; None when the folder holds nothing gradeable
    source: Path  # what the TA pointed at: the file or the student's folder
    people: list[Person] = field(default_factory=list)
    submitted_at: str = ""
    late: bool | None = None
    problem: str = ""  # why it cannot be graded, when path is None

    @property
    def digest(self) -> str:
        """sha256 of the submission's bytes (every file of a student's folder)."""
        h = hashlib.sha256()
        root = self.source
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.is_dir() else [root]
        for p in files:
            h.update(str(p.relative_to(root) if root.is_dir() else p.name).encode() + b"\0")
            try:
                h.update(p.read_bytes())
            except OSError:
                h.update(b"<unreadable>")
        return h.hexdigest()


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:100] or "submission"


def discover(inputs: Iterable[str | Path], work_dir: Path, *, notebook_name: str = "") -> tuple[list[Submission], list[str]]:
    """The submissions under ``inputs`` and notes about what was skipped (see the module docstring)."""
    subs: list[Submission] = []
    notes: list[str] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            root = export_root(p)
            if root is not None:
                _read_export(root, subs, notes, notebook_name)
            else:
                _read_folder(p, subs, notes, work_dir, notebook_name)
        elif p.suffix.lower() == ".zip" and is_export_zip(p):
            dest = work_dir / "exports" / safe_id(p.stem)
            try:
                extract_zip(p, dest)
            except ExportError as e:
                notes.append(f"{p}: {e}")
                continue
            _read_export(export_root(dest) or dest, subs, notes, notebook_name)
        elif p.is_file() and p.suffix.lower() in GRADEABLE:
            subs.append(_file_submission(p))
        elif p.exists():
            notes.append(f"{p}: not a .ipynb, .py or .zip file; skipped")
        else:
            notes.append(f"{p}: no such file or folder")
    _unique_ids(subs)
    return subs, notes


_CANVAS = re.compile(r"^(?P<name>[a-z]+)(?P<late>_LATE)?_(?P<user>\d+)_(?P<sub>\d+)_(?P<file>.+)$")


def _file_submission(p: Path) -> Submission:
    """One file; Canvas's download names (lastfirst[_LATE]_userid_submissionid_file) say who and when."""
    m = _CANVAS.match(p.name)
    if not m:
        return Submission(p.stem, p, p)
    return Submission(f"{m['name']}_{m['user']}", p, p, people=[Person(name=m["name"], sid=m["user"])],
                      late=bool(m["late"]))


def _student_folder(folder: Path, notebook_name: str) -> Submission:
    path = pick_submission(folder, notebook_name)
    if path is not None:
        return Submission(folder.name, path, folder)
    listed = ", ".join(sorted(p.name for p in folder.rglob("*") if p.is_file())[:5]) or "nothing"
    return Submission(folder.name, None, folder, problem=f"no .ipynb, .py or .zip file in the submission ({listed})")


def _read_export(root: Path, subs: list[Submission], notes: list[str], notebook_name: str) -> None:
    try:
        meta = read_metadata(root / METADATA_FILE)
    except ExportError as e:  # the submissions are still graded, without names
        notes.append(f"{root / METADATA_FILE}: {e}; graded without names")
        meta = {}
    for entry in sorted(root.iterdir()):
        if not entry.is_dir() or entry.name.startswith((".", "__")):
            continue
        sub = _student_folder(entry, notebook_name)
        info = meta.get(entry.name, SubmissionInfo())
        sub.people, sub.submitted_at, sub.late = info.people, info.submitted_at, info.late
        subs.append(sub)


def _read_folder(folder: Path, subs: list[Submission], notes: list[str], work_dir: Path, notebook_name: str) -> None:
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            if entry.resolve() == work_dir.resolve():
                continue  # the output folder, placed inside the submissions folder
            subs.append(_student_folder(entry, notebook_name))
        elif entry.suffix.lower() in GRADEABLE:
            subs.append(_file_submission(entry))
        else:
            notes.append(f"{entry}: not a .ipynb, .py or .zip file; skipped")


def _unique_ids(subs: list[Submission]) -> None:
    seen: dict[str, int] = {}
    for s in subs:
        base = safe_id(s.id)
        n = seen.get(base, 0)
        seen[base] = n + 1
        s.id = base if n == 0 else f"{base}-{n + 1}"
