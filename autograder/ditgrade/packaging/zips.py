"""Reproducible zips: the same entries always give the same bytes (release gate "reproducible")."""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_zip(entries: Iterable[tuple[str, bytes]], zip_path: Path, executable: Iterable[str] = ()) -> Path:
    """Sorted entries, a fixed timestamp, fixed permissions (0755 for ``executable`` names, else 0644)
    and fixed compression."""
    executable = set(executable)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w") as z:
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.create_system = 3  # unix, so the permission bits below are honoured
            info.external_attr = (stat.S_IFREG | (0o755 if name in executable else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data, compresslevel=9)
    return zip_path
