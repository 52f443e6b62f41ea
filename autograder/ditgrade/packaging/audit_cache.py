"""Verdicts kept between runs: each release gate's, and the audit's, under the project.

A verdict is stored with a key, a digest of everything that can change it: the grader's
fingerprint (``Assignment.fingerprint``: the engine, the grading folder, the reference, the
settings), the bytes of the files the gate reads (bank entries, notebooks, the reviewed file), and
this Python and its installed packages. A lookup with another key is a miss, so a stale verdict is
never reused; one file per gate keeps only the latest. The folder ignores itself in git (it holds a
``.gitignore`` of ``*``, as pytest's cache does), so no project needs an entry of its own.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

FOLDER = ".ditgrade-cache"
FORMAT = 1  # bump when what is stored changes meaning


def folder(project_root: Path) -> Path:
    path = project_root / FOLDER
    path.mkdir(exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by ditgrade: verdicts of the release gates and the audit\n*\n")
    return path


@cache
def environment() -> str:
    """This interpreter and every installed distribution, as one digest (an upgrade is a miss)."""
    dists = sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
                    if d.metadata["Name"]})
    return hashlib.sha256("\n".join([sys.version, *dists]).encode()).hexdigest()


def files_digest(paths: Iterable[Path], root: Path) -> str:
    """A digest of the files' names (relative to ``root``) and bytes, in sorted order."""
    h = hashlib.sha256()
    for p in sorted(paths):
        name = p.relative_to(root).as_posix() if p.is_relative_to(root) else p.name
        h.update(name.encode() + b"\0" + (p.read_bytes() if p.is_file() else b"<missing>") + b"\0")
    return h.hexdigest()


def key(*parts: str) -> str:
    return hashlib.sha256("\0".join([str(FORMAT), *parts]).encode()).hexdigest()


def load(project_root: Path, name: str, wanted: str) -> dict[str, Any] | None:
    """The stored verdict ``name`` when it was stored under ``wanted``; None otherwise."""
    path = project_root / FOLDER / f"{name}.json"
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != wanted:
        return None
    return entry


def store(project_root: Path, name: str, wanted: str, data: dict[str, Any]) -> None:
    """Keep ``data`` as verdict ``name`` under the key ``wanted`` (written whole or not at all)."""
    path = folder(project_root) / f"{name}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"key": wanted, "stored": time.strftime("%Y-%m-%d %H:%M:%S"), **data}))
    os.replace(tmp, path)
