"""Gradescope's "Export Submissions": reading it without trusting anything a student uploaded.

An export is a zip (or the folder it unpacks to) holding ``submission_metadata.yml`` and one
``submission_<id>/`` folder per submission. Only a path the TA names is ever read as an export: a zip
holding the metadata at its root or in its single top-level folder, or a folder holding it itself; a
student's own upload that holds a metadata file is just files. The metadata is Ruby-flavoured YAML,
read with a loader that keeps every scalar a string (no number or time parsing a student's text
could make slow), refuses aliases (so neither a self-referencing alias nor a "billion laughs" file
can run away), ignores Ruby's tags, and stops at ``MAX_METADATA_BYTES``. Unpacking refuses entries
that would land outside the target, links, paths deeper than ``MAX_DEPTH`` or longer than
``MAX_NAME_BYTES``, and more than ``MAX_UNPACKED_BYTES``; an entry that cannot be written is skipped
with a note.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..core.files import remove_tree

METADATA_FILE = "submission_metadata.yml"
MAX_METADATA_BYTES = 8 * 1024 * 1024
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_ENTRIES = 200_000
MAX_DEPTH = 32  # path components of one entry: the wrapper, submission_<id>/ and a student's folders
MAX_NAME_BYTES = 1024  # one entry's path
MAX_NOTES = 5  # skipped entries named in the notes; the rest are counted


class ExportError(ValueError):
    """The export (or its metadata) cannot be read; the message says why."""


@dataclass
class Person:
    name: str = ""
    email: str = ""
    sid: str = ""  # the school's student id (an export's metadata)
    canvas_id: str = ""  # Canvas's own user id (a Canvas download's file names)


@dataclass
class SubmissionInfo:
    """What the export says about one submission folder."""

    people: list[Person] = field(default_factory=list)
    submitted_at: str = ""  # ISO 8601, as the export gives it
    late: bool | None = None  # None: the export does not say


class _StringLoader(yaml.BaseLoader):
    """Every scalar stays a string: ``0x`` and 4,000 ``f`` or ``1:1:1:...`` (YAML 1.1 ints whose
    conversion is slow) are never converted; Ruby's tags are ignored; aliases are refused."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise ExportError("the metadata uses YAML aliases, which an export never does")
        return super().compose_node(parent, index)


def _plain(x: Any) -> Any:
    """Keys without Ruby's leading colons."""
    if isinstance(x, dict):
        return {(str(k).lstrip(":")): _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def _text(value: Any, limit: int = 300) -> str:
    return "" if value is None else str(value)[:limit]


def _time(value: Any) -> str:
    """Gradescope's "2026-11-20 10:00:00.000000000 -08:00" in ISO 8601; anything else as given."""
    text = _text(value, 60)
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        return text


def _late(value: Any) -> bool | None:
    return {"true": True, "false": False}.get(str(value).lower())


def read_metadata(path: Path) -> dict[str, SubmissionInfo]:
    """{submission folder name: SubmissionInfo}; ExportError when the file cannot be read safely."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_METADATA_BYTES + 1)
    except OSError as e:
        raise ExportError(f"{path.name}: {e.strerror}") from None
    if len(raw) > MAX_METADATA_BYTES:
        raise ExportError(f"{path.name} is larger than {MAX_METADATA_BYTES:,} bytes, more than an export's "
                          "metadata ever is")
    try:  # everything built from the file inside the try: whatever it holds costs the names only
        data = _plain(yaml.load(raw.decode("utf-8", "replace"), Loader=_StringLoader))  # noqa: S506 - strings only
        if not isinstance(data, dict):
            raise ExportError(f"{path.name} does not map submission folders to their submitters")
        out: dict[str, SubmissionInfo] = {}
        for folder, entry in data.items():
            if not isinstance(entry, dict):
                continue
            submitters = entry.get("submitters")
            submitters = [submitters] if isinstance(submitters, dict) else submitters
            people = [Person(_text(s.get("name")), _text(s.get("email")), _text(s.get("sid")))
                      for s in submitters or [] if isinstance(s, dict)]
            out[_text(folder, 200)] = SubmissionInfo(people, _time(entry.get("created_at")),
                                                     _late(entry.get("late", entry.get("lateness"))))
    except ExportError:
        raise
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as e:
        raise ExportError(f"{path.name} is not valid YAML ({type(e).__name__})") from None
    return out


def export_zip_root(path: Path) -> str | None:
    """Where a zip the TA names keeps an export's metadata: "" (its root), its single top-level
    folder's name, or None when it is not an export."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if METADATA_FILE in names:
        return ""
    parts = [PurePosixPath(n).parts for n in names]
    # an absolute or "../" entry (which extract_zip skips) is no top-level folder
    tops = {p[0] for p in parts if p and p[0] not in ("/", "__MACOSX") and ".." not in p}
    if len(tops) == 1 and (top := tops.pop()) + "/" + METADATA_FILE in names:
        return top
    return None


def is_export_folder(folder: Path) -> bool:
    """A folder the TA names is an export when it holds the metadata itself (never one level down)."""
    return (folder / METADATA_FILE).is_file()


def extract_zip(path: Path, dest: Path) -> list[str]:
    """Unpack ``path`` into ``dest`` (emptied first): no entry outside it, no links, no path too
    deep or too long, bounded in size. Returns notes on the entries skipped because they could not
    be written (``work`` a file and ``work/x`` an entry; a name the file system refuses)."""
    if dest.exists() or dest.is_symlink():
        remove_tree(dest)  # an earlier unpacking (an older ditgrade's may be deep): no recursion
    dest.mkdir(parents=True)
    root = dest.resolve()
    total, skipped = 0, []
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ExportError(f"{path.name} cannot be read ({type(e).__name__})") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ExportError(f"{path.name} holds {len(infos):,} entries")
        for info in infos:
            name = info.filename
            if stat.S_ISLNK(info.external_attr >> 16):
                continue
            parts = PurePosixPath(name).parts
            if len(parts) > MAX_DEPTH or len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
                skipped.append(f"{name[:100]}...: a path too deep or too long")  # mkdir would recurse per level
                continue
            target = (dest / name).resolve()
            if not target.is_relative_to(root) or target == root:
                continue  # a "../" or absolute entry
            if not info.is_dir():
                total += info.file_size
                if total > MAX_UNPACKED_BYTES:
                    raise ExportError(f"{path.name} unpacks to more than {MAX_UNPACKED_BYTES / 2**30:.0f} GiB")
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            except (OSError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
                skipped.append(f"{name[:200]}: {getattr(e, 'strerror', None) or type(e).__name__}")
    notes = [f"entry {s}; skipped" for s in skipped[:MAX_NOTES]]
    if len(skipped) > MAX_NOTES:
        notes.append(f"{len(skipped) - MAX_NOTES} more entries could not be unpacked; skipped")
    return notes
