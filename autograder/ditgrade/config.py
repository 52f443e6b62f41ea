"""The course's grading settings: ``otter_config.json`` at the project's root, validated.

Every key is listed in ``KEYS`` with its type, default and meaning (the README's table is this
table). An unknown key or a bad value is a ``ConfigError`` naming the file and the key, raised by
every command that reads the settings, so a typo never silently falls back to a default.
``$DITGRADE_CONFIG`` names another settings file (tests, staff trying other limits).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


class ConfigError(ValueError):
    """The settings file is missing a requirement, has an unknown key or a bad value."""


@dataclass(frozen=True)
class Key:
    type: type | tuple[type, ...]
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None


KEYS: dict[str, Key] = {
    "name": Key(str, None, "the assignment's name: the master is assignment/<name>.ipynb, students submit <name>.ipynb"),
    "grading_folder": Key(str, None, "this assignment's grading material, relative to the project (e.g. autograder/dit)"),
    "lang": Key(str, "python", "the notebook's language (only python)", choices=("python",)),
    "seed": Key(int, 42, "base seed of every random case the hidden tests draw (change it to draw other cases)"),
    "stdout_visibility": Key(str, "hidden", "who sees the student's captured output on Gradescope", VISIBILITIES),
    "public_test_visibility": Key(str, "visible", "when students see the notebook's public checks", VISIBILITIES),
    "hidden_test_visibility": Key(str, "after_published", "when students see the hidden tests", VISIBILITIES),
    "public_test_weight": Key((int, float), 0, "weight of a question's public checks among its hidden tests' "
                                               "weights (0: shown, not scored)", minimum=0),
    "call_cpu_s": Key((int, float), 20, "CPU seconds one call of student code may use", minimum=1),
    "question_cpu_s": Key((int, float), 22, "CPU seconds all calls of one question's tests may use", minimum=1),
    "statement_cpu_s": Key((int, float), 10, "CPU seconds one top-level statement may use while loading", minimum=1),
    "load_cpu_s": Key((int, float), 30, "CPU seconds all top-level statements may use while loading", minimum=1),
    "idle_s": Key((int, float), 20, "seconds one call or top-level statement may wait without computing "
                                    "(sleeping, blocked)", minimum=1),
    "submission_s": Key((int, float), 240, "the student's own time (CPU and idle seconds, not waiting for a "
                                           "CPU) one submission may use in all, every load and call", minimum=10),
    "submission_wall_s": Key((int, float), 420, "wall-clock seconds after which a submission's remaining tests "
                                                "fail, whatever the machine is doing (Gradescope stops a grade "
                                                "at 600)", minimum=30),
    "wall_factor": Key((int, float), 10, "wall-clock backstop, in multiples of each CPU budget (>= 10)", minimum=10),
    "memory_limit_mb": Key(int, 192, "address space (MB) a sandboxed worker may add to its start", minimum=64),
    "output_kb": Key(int, 16, "KiB of the student's printed output kept for staff", minimum=1),
    "gpu_call_s": Key((int, float), 180, "seconds one call may take under --gpu (loading and sampling)", minimum=10),
    "gpu_memory_limit_mb": Key(int, 16384, "data-segment MB a worker may add under --gpu (CUDA needs "
                                           "address space, so it is limited this way)", minimum=256),
}
REQUIRED = ("name", "grading_folder")


def load(path: Path) -> dict[str, Any]:
    """The settings in ``path`` (or ``$DITGRADE_CONFIG``), defaults filled in; ConfigError when invalid."""
    path = Path(os.environ.get("DITGRADE_CONFIG") or path)
    try:
        raw = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the settings ({e.strerror})") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object of settings")
    return validate(raw, path.name)


def validate(raw: dict[str, Any], where: str = "otter_config.json") -> dict[str, Any]:
    problems = []
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        problems.append(f"unknown key(s) {unknown} (known: {sorted(KEYS)})")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        problems.append(f"missing required key(s) {missing}")
    cfg: dict[str, Any] = {}
    for name, key in KEYS.items():
        value = raw.get(name, key.default)
        if name not in raw:
            cfg[name] = value
            continue
        if not isinstance(value, key.type) or isinstance(value, bool):
            problems.append(f"{name} must be {_kind(key.type)}, not {value!r}")
        elif key.choices and value not in key.choices:
            problems.append(f"{name} must be one of {list(key.choices)}, not {value!r}")
        elif key.minimum is not None and value < key.minimum:
            problems.append(f"{name} must be at least {key.minimum:g}, not {value!r}")
        cfg[name] = value
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return cfg


def _kind(t: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string"}
    if isinstance(t, tuple):
        return "a number" if float in t else " or ".join(names.get(x, x.__name__) for x in t)
    return names.get(t, t.__name__)


def table() -> str:
    """The keys as a Markdown table (the README's)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, key in KEYS.items():
        default = "required" if name in REQUIRED else json.dumps(key.default)
        rows.append(f"| `{name}` | {default} | {key.help} |")
    return "\n".join(rows)
