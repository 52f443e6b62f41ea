"""Finding the submissions under the paths a TA gives.

    a .ipynb / .py / notebook-export .zip file     one submission (id: the file's stem; Canvas's
                                                   download names "name_LATE_123_456_file" give the
                                                   student, their Canvas id and lateness, when every
                                                   submission file in that folder has one)
    a Gradescope export: its zip (the metadata at  one submission per submission_<id>/ folder, with
    its root or in its one top-level folder), or   names, emails, SIDs and times from its metadata
    the folder that holds the metadata itself
    any other folder                               its files are submissions, and each sub-folder is
                                                   one student's submission: the file
                                                   ``core.choose`` picks in it (the expected name,
                                                   else the only notebook...); none, or several and
                                                   none named as expected, is a row that says so

Only the paths given are looked at for export metadata (never one level down, never a zip inside a
folder); what is inside a student's folder is that student's files and nothing more. A path or a
student's folder that cannot be read costs its own note or row, never the others. An SID or email
claimed by more than one submission is a note.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.files import pick, walk_files
from ..core.text import clean
from .export import (
    METADATA_FILE,
    ExportError,
    Person,
    SubmissionInfo,
    export_zip_root,
    extract_zip,
    is_export_folder,
    read_metadata,
)

GRADEABLE = (".ipynb", ".py", ".zip")
# What a student's layout can raise while it is read (a name the file system refuses, a tree too
# deep, a file name that is not UTF-8): it costs that input or that student only.
READ_ERRORS = (OSError, RecursionError, ValueError, UnicodeError)


@dataclass
class Submission:
    id: str
    path: Path | None  # the file graded; None when the folder holds nothing gradeable
    source: Path  # what the TA pointed at: the file or the student's folder
    people: list[Person] = field(default_factory=list)
    submitted_at: str = ""
    late: bool | None = None
    problem: str = ""  # why it cannot be graded, when path is None
    named_by_file: bool = False  # people taken from a Canvas download name, not from an export's metadata
    note: str = ""  # what choosing the file to grade found besides it (core.choose), for the feedback

    @property
    def file_name(self) -> str:
        """The graded file as the student named it: relative to their folder, or the file's name."""
        if self.path is None:
            return ""
        try:
            return self.path.relative_to(self.source).as_posix() if self.source.is_dir() else self.path.name
        except ValueError:
            return self.path.name

    @property
    def digest(self) -> str:
        """sha256 of the submission's bytes (every file of a student's folder, ``walk_files``):
        each file's name length-prefixed and its content hashed on its own, so that no two
        different folders hash alike; names as bytes (they need not be UTF-8); files streamed."""
        h = hashlib.sha256()
        root = self.source
        is_dir = root.is_dir()
        for p in walk_files(root) if is_dir else [root]:
            name = os.fsencode(p.relative_to(root) if is_dir else p.name)
            h.update(len(name).to_bytes(8, "big") + name)
            h.update(_file_digest(p))
        return h.hexdigest()


def _file_digest(path: Path) -> bytes:
    """b"F" and the sha256 of the file's bytes (read in chunks), or b"U" when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return b"U"
    return b"F" + h.digest()


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:100] or "submission"


def discover(inputs: Iterable[str | Path], work_dir: Path, *, notebook_name: str = "") -> tuple[list[Submission], list[str]]:
    """The submissions under ``inputs`` and notes about what was skipped (see the module docstring)."""
    subs: list[Submission] = []
    notes: list[str] = []
    exports: set[str] = set()  # folders under work_dir/exports/ used by this call
    for raw in inputs:
        p = Path(raw)
        try:
            _read_input(p, subs, notes, work_dir, notebook_name, exports)
        except READ_ERRORS as e:
            notes.append(f"{p}: could not be read ({type(e).__name__}: {str(e)[:200]}); skipped")
    _unique_ids(subs)
    notes += _shared_identities(subs)
    return subs, notes


def _read_input(p: Path, subs: list[Submission], notes: list[str], work_dir: Path, notebook_name: str,
                exports: set[str]) -> None:
    if p.is_dir():
        if is_export_folder(p):
            _read_export(p, subs, notes, notebook_name)
        else:
            _read_folder(p, subs, notes, work_dir, notebook_name)
    elif p.is_file() and p.suffix.lower() == ".zip" and (top := export_zip_root(p)) is not None:
        dest = _export_folder(work_dir, p, exports)
        try:
            notes += [f"{p}: {n}" for n in extract_zip(p, dest)]
        except ExportError as e:
            notes.append(f"{p}: {e}")
            return
        _read_export(dest / top, subs, notes, notebook_name)
    elif p.is_file() and p.suffix.lower() in GRADEABLE:
        subs.append(_file_submission(p, canvas=_canvas_download(p.parent)))
    elif p.exists():
        notes.append(f"{p}: not a .ipynb, .py or .zip file; skipped")
    else:
        notes.append(f"{p}: no such file or folder")


def _export_folder(work_dir: Path, zip_path: Path, used: set[str]) -> Path:
    """work_dir/exports/<stem>, or <stem>-2, -3...: two exports with the same name never share one."""
    base = name = safe_id(zip_path.stem)
    n = 1
    while name.lower() in used:
        n += 1
        name = f"{base}-{n}"
    used.add(name.lower())
    return work_dir / "exports" / name


_CANVAS = re.compile(r"^(?P<name>[a-z]+)(?P<late>_LATE)?_(?P<user>\d+)_(?P<sub>\d+)_(?P<file>.+)$")


def _canvas_download(folder: Path) -> bool:
    """Every submission file directly in ``folder`` has Canvas's download name: a real Canvas
    download, rather than files named by their senders (anyone can imitate one such name)."""
    try:
        names = [e.name for e in os.scandir(folder) if not e.name.startswith((".", "__"))
                 and os.path.splitext(e.name)[1].lower() in GRADEABLE and e.is_file()]
    except OSError:
        return False
    return bool(names) and all(_CANVAS.match(n) for n in names)


def _file_submission(p: Path, canvas: bool = False) -> Submission:
    """One file; in a Canvas download, its name (lastfirst[_LATE]_userid_submissionid_file) says who and when."""
    m = _CANVAS.match(p.name) if canvas else None
    if not m:
        return Submission(p.stem, p, p)
    return Submission(f"{m['name']}_{m['user']}", p, p, people=[Person(name=m["name"], canvas_id=m["user"])],
                      late=bool(m["late"]), named_by_file=True)


def _student_folder(folder: Path, notebook_name: str) -> Submission:
    """One student's folder: the file to grade in it (``core.choose``), or a row saying why there is none."""
    try:
        path, note = pick(folder, notebook_name)
        if path is not None:
            return Submission(folder.name, path, folder, note=clean(note))
        problem = note
    except READ_ERRORS as e:
        problem = f"the submission's folder could not be read ({type(e).__name__})"
    return Submission(folder.name, None, folder, problem=clean(problem))  # file names need not be UTF-8


def _read_export(root: Path, subs: list[Submission], notes: list[str], notebook_name: str) -> None:
    try:
        meta = read_metadata(root / METADATA_FILE)
    except ExportError as e:  # the submissions are still graded, without names
        notes.append(f"{root / METADATA_FILE}: {e}; graded without names")
        meta = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "__")) or not entry.is_dir():
            continue
        sub = _student_folder(entry, notebook_name)
        info = meta.get(entry.name, SubmissionInfo())
        sub.people, sub.submitted_at, sub.late = info.people, info.submitted_at, info.late
        subs.append(sub)


def _read_folder(folder: Path, subs: list[Submission], notes: list[str], work_dir: Path, notebook_name: str) -> None:
    canvas = _canvas_download(folder)
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")):
            continue
        try:
            if entry.is_dir():
                if entry.resolve() == work_dir.resolve():
                    continue  # the output folder, placed inside the submissions folder
                if is_export_folder(entry):
                    notes.append(f"{entry}: holds {METADATA_FILE}, but only a path named on the command line "
                                 "is read as an export; graded as one student's folder")
                subs.append(_student_folder(entry, notebook_name))
            elif entry.suffix.lower() in GRADEABLE:
                subs.append(_file_submission(entry, canvas))
            else:
                notes.append(f"{entry}: not a .ipynb, .py or .zip file; skipped")
        except READ_ERRORS as e:  # this entry costs its own note
            notes.append(f"{entry}: could not be read ({type(e).__name__}); skipped")


def _unique_ids(subs: list[Submission]) -> None:
    """Every submission its own id (its results/ and feedback/ file names): the first with a name keeps
    it, later ones get -2, -3... skipping every id taken, another submission's own name included
    (``team.py`` beside ``team.ipynb`` and ``team-2.ipynb`` is ``team-3``). Compared without case,
    as a case-insensitive file system would."""
    bases = [safe_id(s.id) for s in subs]
    first: dict[str, int] = {}
    for i, base in enumerate(bases):
        first.setdefault(base.lower(), i)
    taken = set(first)
    for i, (s, base) in enumerate(zip(subs, bases, strict=True)):
        if first[base.lower()] == i:
            s.id = base
            continue
        n = 2
        while f"{base}-{n}".lower() in taken:
            n += 1
        s.id = f"{base}-{n}"
        taken.add(s.id.lower())


def _shared_identities(subs: list[Submission]) -> list[str]:
    """A note for each SID or email that more than one submission carries; every row is kept. Where
    an export's metadata gives it to one submission, a Canvas download name that claims it too (a
    name anyone can give a file) loses it: that row stays, without a student."""
    claims: dict[tuple[str, str], dict[int, Submission]] = {}
    for s in subs:
        for p in s.people:
            # a Canvas user id and an SID are both numbers a TA reads as "the student's id"
            for kind, value in (("SID", p.sid.strip()), ("SID", p.canvas_id.strip()),
                                ("email", p.email.strip().casefold())):
                if value:
                    claims.setdefault((kind, value), {})[id(s)] = s
    notes = []
    for (kind, value), owners in claims.items():
        if len(owners) < 2:
            continue
        ids = ", ".join(s.id for s in owners.values())
        exported = [s for s in owners.values() if not s.named_by_file]
        if exported and len(exported) < len(owners):
            for s in owners.values():
                if s.named_by_file:
                    s.people = []
            kept = ", ".join(s.id for s in exported)
            notes.append(f"{kind} {value} is claimed by {len(owners)} submissions ({ids}); kept for {kept}, whose "
                         "export says so (the others took it from their file names); check before uploading grades")
        else:
            notes.append(f"{kind} {value} is claimed by {len(owners)} submissions ({ids}); every row keeps it: "
                         "check before uploading grades")
    return notes
