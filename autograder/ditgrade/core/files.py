"""Walking a folder a student made: no recursion, no links followed, bounded depth and size.

A student's upload can hold a tree thousands of folders deep (a zip carries one); ``Path.rglob``
recurses once per level in Python and raises RecursionError past ~1,000 levels. ``walk_files``
keeps its own stack and stops at ``MAX_DEPTH`` folders below the root and ``MAX_ENTRIES`` entries:
what lies beyond is never graded (nor hashed for the cache).
"""

from __future__ import annotations

import os
from itertools import islice
from pathlib import Path

from ..worker.choose import choose

MAX_DEPTH = 32  # folders below a submission's root; no real submission is deeper
MAX_ENTRIES = 100_000  # files and folders looked at in one submission


def walk_files(root: Path, *, max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES) -> list[Path]:
    """The regular files under ``root``, sorted: links are neither listed nor followed, folders more
    than ``max_depth`` levels down and unreadable ones are left out."""
    files: list[Path] = []
    stack, seen = [(root, 0)], 0
    while stack and seen < max_entries:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(islice(it, max_entries - seen))
        except OSError:
            continue
        seen += len(entries)
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth < max_depth:
                        stack.append((Path(entry.path), depth + 1))
                elif entry.is_file(follow_symlinks=False):
                    files.append(Path(entry.path))
            except OSError:
                continue
    return sorted(files)


def remove_tree(root: Path) -> None:
    """Remove ``root`` and everything under it, links removed and never followed, with an explicit
    stack: ``shutil.rmtree`` recurses once per level and fails on a tree a student made deep."""
    if root.is_symlink() or not root.is_dir():
        root.unlink(missing_ok=True)
        return
    stack = [(str(root), False)]
    while stack:
        path, emptied = stack.pop()
        if emptied:  # everything below it is gone
            os.rmdir(path)
            continue
        stack.append((path, True))
        with os.scandir(path) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, False))
                else:
                    os.unlink(entry.path)


def pick(folder: str | Path, expected: str = "") -> tuple[Path | None, str]:
    """(the file to grade in a submission folder, or None; the note of ``worker.choose.choose``, which
    decides). A file is itself. The folder is listed at most ``MAX_DEPTH`` folders down,
    links not followed (``walk_files``): a student's tree may be thousands of folders deep."""
    folder = Path(folder)
    if folder.is_file():
        return folder, ""
    if not folder.is_dir():
        return None, "the submission is neither a file nor a folder"
    files = {p.relative_to(folder).as_posix(): p for p in walk_files(folder)}
    choice = choose(files, expected)
    return (files[choice.name] if choice.name is not None else None), choice.note


def pick_submission(folder: str | Path, preferred: str = "") -> Path | None:
    """The file to grade in a submission folder (``pick``), or None."""
    return pick(folder, preferred)[0]
