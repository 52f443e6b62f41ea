"""Grading settings from otter_config.json (the Gradescope settings), with defaults for each key.

$DITGRADE_CONFIG names another settings file (tests, staff trying other limits)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import paths

DEFAULTS: dict[str, Any] = {
    "name": "dit_assignment",
    "seed": 42,
    "stdout_visibility": "hidden",
    "public_test_visibility": "visible",
    "hidden_test_visibility": "after_published",
    "timeout_per_call_s": 20,
    "time_budget_s": 110,
    # Address space a worker may add to its size at fork. Measured (PSS of the whole process tree):
    # the reference grades 46/46 at 160 and peaks at ~590 MiB; a worker that fills its budget takes
    # the tree to 694 MiB at 160, 793 MiB at 256. 192 keeps it under Gradescope's 768 MB.
    "memory_limit_mb": 192,
}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def load(path: Path | None = None) -> dict[str, Any]:
    """The settings: defaults overridden by otter_config.json where it sets a key."""
    path = path or Path(os.environ.get("DITGRADE_CONFIG") or paths.OTTER_CONFIG)
    cfg = dict(DEFAULTS)
    if path.is_file():
        cfg.update(json.loads(path.read_text()))
    for key in ("stdout_visibility", "public_test_visibility", "hidden_test_visibility"):
        if cfg[key] not in VISIBILITIES:
            raise ValueError(f"{path.name}: {key} must be one of {sorted(VISIBILITIES)}, not {cfg[key]!r}")
    return cfg
