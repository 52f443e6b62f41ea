"""Gradescope's "Export Submissions": reading it without trusting anything a student uploaded.

An export is a zip (or the folder it unpacks to) holding ``submission_metadata.yml`` and one
``submission_<id>/`` folder per submission. Only a path the TA names is ever read as an export: a
student's own upload that holds a metadata file is just files. The metadata is Ruby-flavoured YAML,
read with a safe loader that refuses aliases (so neither a self-referencing alias nor a "billion
laughs" file can run away), ignores Ruby's tags, and stops at ``MAX_METADATA_BYTES``. Unpacking
refuses entries that would land outside the target, links, and more than ``MAX_UNPACKED_BYTES``.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

METADATA_FILE = "submission_metadata.yml"
MAX_METADATA_BYTES = 8 * 1024 * 1024
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_ENTRIES = 200_000


class ExportError(ValueError):
    """The export (or its metadata) cannot be read; the message says why."""


@dataclass
class Person:
    name: str = ""
    email: str = ""
    sid: str = ""


@dataclass
class SubmissionInfo:
    """What the export says about one submission folder."""

    people: list[Person] = field(default_factory=list)
    submitted_at: str = ""  # ISO 8601, as the export gives it
    late: bool | None = None  # None: the export does not say


class _SafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses aliases and reads Ruby's tagged objects as plain data."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise ExportError("the metadata uses YAML aliases, which an export never does")
        return super().compose_node(parent, index)


def _untagged(loader: _SafeLoader, suffix: str, node: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_SafeLoader.add_multi_constructor("!", _untagged)
_SafeLoader.add_multi_constructor("tag:", _untagged)


def _plain(x: Any) -> Any:
    """Keys without Ruby's leading colons; times as ISO strings."""
    if isinstance(x, dict):
        return {(str(k).lstrip(":")): _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    if isinstance(x, datetime):
        return x.isoformat()
    return x


def _text(value: Any, limit: int = 300) -> str:
    return "" if value is None else str(value)[:limit]


def read_metadata(path: Path) -> dict[str, SubmissionInfo]:
    """{submission folder name: SubmissionInfo}; ExportError when the file cannot be read safely."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ExportError(f"{path.name}: {e.strerror}") from None
    if size > MAX_METADATA_BYTES:
        raise ExportError(f"{path.name} is {size:,} bytes, more than an export's metadata ever is")
    try:
        data = yaml.load(path.read_bytes().decode("utf-8", "replace"), Loader=_SafeLoader)  # noqa: S506 - safe loader
    except ExportError:
        raise
    except (yaml.YAMLError, RecursionError, ValueError) as e:
        raise ExportError(f"{path.name} is not valid YAML ({type(e).__name__})") from None
    data = _plain(data)
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
        late = entry.get("late", entry.get("lateness"))
        out[_text(folder, 200)] = SubmissionInfo(people, _text(entry.get("created_at"), 60),
                                                 late if isinstance(late, bool) else None)
    return out


def is_export_zip(path: Path) -> bool:
    """A Gradescope export: its metadata file at the top or under one wrapper folder."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return any(re.fullmatch(rf"(?:[^/]+/)?{METADATA_FILE}", n) for n in names)


def export_root(folder: Path) -> Path | None:
    """The folder holding the metadata: ``folder`` itself, or its only sub-folder (a zip's wrapper)."""
    if (folder / METADATA_FILE).is_file():
        return folder
    subs = [c for c in folder.iterdir() if c.is_dir() and not c.name.startswith(("__MACOSX", "."))]
    if len(subs) == 1 and (subs[0] / METADATA_FILE).is_file():
        return subs[0]
    return None


def extract_zip(path: Path, dest: Path) -> None:
    """Unpack ``path`` into ``dest`` (emptied first): no entry outside it, no links, bounded in size."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    root = dest.resolve()
    total = 0
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ExportError(f"{path.name} holds {len(infos):,} entries")
        for info in infos:
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                continue
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(root) or target == root:
                continue  # a "../" or absolute entry
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise ExportError(f"{path.name} unpacks to more than {MAX_UNPACKED_BYTES / 2**30:.0f} GiB")
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
