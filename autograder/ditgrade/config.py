"""The course's grading settings: ``otter_config.json`` at the project's root, validated.

Every key is listed in ``KEYS`` with its type, default and meaning, and every key otter-grader 7.0
documents for the same file (``otter.run.run_autograder.autograder_config.AutograderConfig``) in
``OTTER_KEYS``: accepted with otter's meaning where ditgrade can honour it (``show_hidden`` sets
``hidden_test_visibility`` as otter would), accepted when its value asks for nothing (otter's
default: ``"pdf": false``), and otherwise refused with a line saying why. The README's two tables
are ``table()`` and ``otter_table()``. An unknown key or a bad value is a ``ConfigError`` naming the
file and the key, one line per problem, raised by every command that reads the settings, so a typo
never silently falls back to a default. ``$DITGRADE_CONFIG`` names another settings file (tests,
staff trying other limits). ``python -m ditgrade.config`` prints both tables.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
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
    "statement_cpu_s": Key((int, float), 10, "CPU seconds one top-level statement may use", minimum=1),
    "load_cpu_s": Key((int, float), 30, "CPU and idle seconds the top-level code of one load may use; imports and "
                                        "definitions still run after it is used up", minimum=1),
    "idle_s": Key((int, float), 20, "seconds one call or top-level statement may wait without computing "
                                    "(sleeping, blocked)", minimum=1),
    "submission_s": Key((int, float), 240, "the student's own time (CPU and idle seconds, not waiting for a "
                                           "CPU) one submission may use in all, every load and call", minimum=10),
    "submission_wall_s": Key((int, float), 420, "wall-clock seconds after which a submission's remaining tests "
                                                "fail, whatever the machine is doing (Gradescope stops a grade "
                                                "at 600)", minimum=30),
    "wall_factor": Key((int, float), 10, "wall-clock backstop, in multiples of each CPU budget (>= 10)", minimum=10),
    "memory_limit_mb": Key(int, 192, "address space (MB) a sandboxed worker may add to its start (its threads "
                           "share one malloc arena, so this is the student's data, not 64 MB reserved per thread)",
                           minimum=64),
    "output_kb": Key(int, 16, "KiB of the student's printed output kept for staff", minimum=1),
    "gpu_call_s": Key((int, float), 180, "seconds one call may take under --gpu (loading and sampling)", minimum=10),
    "gpu_memory_limit_mb": Key(int, 16384, "data-segment MB a worker may add under --gpu (CUDA needs "
                                           "address space, so it is limited this way)", minimum=256),
}
REQUIRED = ("name", "grading_folder")


@dataclass(frozen=True)
class Settings:
    """The validated settings: one field per key of ``KEYS`` (whose defaults ``validate`` fills in;
    they are written nowhere else), and otter's keys as given or defaulted in ``otter``."""

    name: str
    grading_folder: str
    lang: str
    seed: int
    stdout_visibility: str
    public_test_visibility: str
    hidden_test_visibility: str
    public_test_weight: float
    call_cpu_s: float
    question_cpu_s: float
    statement_cpu_s: float
    load_cpu_s: float
    idle_s: float
    submission_s: float
    submission_wall_s: float
    wall_factor: float
    memory_limit_mb: int
    output_kb: int
    gpu_call_s: float
    gpu_memory_limit_mb: int
    otter: dict[str, Any] = field(default_factory=dict)  # otter-grader's keys (print_summary, points_possible ...)

    def to_json(self) -> dict[str, Any]:
        """Every setting as plain data (the grader's fingerprint covers it)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "otter"}, **self.otter}


@dataclass(frozen=True)
class OtterKey:
    """A key of otter's otter_config.json: what it means to otter, and what ditgrade does with it.

    ``sets``: the ditgrade setting it decides, as ``{value: setting value}`` (otter's meaning);
    ``accepts``: the values honoured as they are (None: any value of ``type``); any other value
    is refused with ``why``."""

    type: type | tuple[type, ...]
    otter_default: Any
    meaning: str  # otter's documentation of the key
    why: str  # accepted: how ditgrade honours it; refused: why it cannot
    sets: tuple[str, dict] | None = None
    accepts: tuple | None = ()

    @property
    def honoured(self) -> bool:
        return self.sets is not None or self.accepts is None


_NULL = type(None)
_PDF = "ditgrade makes no PDFs (it grades code; submit PDFs to a separate Gradescope assignment)"
OTTER_KEYS: dict[str, OtterKey] = {
    "show_stdout": OtterKey(bool, False, "show the autograder's stdout to students on Gradescope",
                            "sets stdout_visibility: true is \"after_published\", false \"hidden\"",
                            sets=("stdout_visibility", {True: "after_published", False: "hidden"})),
    "show_hidden": OtterKey(bool, False, "show the hidden tests' results to students on Gradescope",
                            "sets hidden_test_visibility: true is \"after_published\", false \"hidden\"",
                            sets=("hidden_test_visibility", {True: "after_published", False: "hidden"})),
    "assignment_name": OtterKey(str, None, "the assignment's name, so that students submit to the right autograder",
                                "must equal name (ditgrade knows an assignment's submissions by <name>.ipynb); "
                                "stands for name when name is absent", accepts=None),
    "points_possible": OtterKey((int, float, _NULL), None, "a total for the assignment other than the sum of its "
                                "questions' points", "must equal the sum of the master's points (ditgrade never "
                                "rescales: points are set in the master notebook)", accepts=None),
    "print_summary": OtterKey(bool, True, "print the grading summary", "`ditgrade run` prints its summary or not",
                              accepts=None),
    "print_score": OtterKey(bool, True, "print the score in the grading summary",
                            "`ditgrade run`'s summary shows the scores or not", accepts=None),
    "logo": OtterKey(bool, True, "print otter's logo", "ditgrade prints no logo either way", accepts=None),
    "zips": OtterKey(bool, False, "whether zip files are being graded",
                     "ditgrade grades notebooks, .py files and the notebook's zip alike, either way", accepts=None),
    "force_public_test_summary": OtterKey(bool, True, "show the public tests' summary when show_hidden is true",
                                          "ditgrade always shows each question's public checks as a test",
                                          accepts=(True,)),
    "show_all_public": OtterKey(bool, False, "show every result when all tests are public",
                                "ditgrade shows public checks by public_test_visibility; set that", accepts=(False,)),
    "score_threshold": OtterKey((int, float, _NULL), None, "a score threshold for pass-fail assignments",
                                "ditgrade grades by points, not pass/fail", accepts=(None,)),
    "seed_variable": OtterKey((str, _NULL), None, "a variable of the student's notebook to set to the seed",
                              "ditgrade seeds its own hidden tests (seed), never the student's code", accepts=(None,)),
    "grade_from_log": OtterKey(bool, False, "grade the environment logged by the notebook instead of re-running it",
                               "ditgrade re-runs the submission's definitions in its sandbox; it reads no log",
                               accepts=(False,)),
    "serialized_variables": OtterKey((dict, _NULL), None, "types to check in a logged environment",
                                     "ditgrade reads no logged environment", accepts=(None,)),
    "debug": OtterKey(bool, False, "stop at the autograder's errors instead of ignoring them",
                      "ditgrade never ignores its own errors (results.json's staff entry, exit status 1); "
                      "use `ditgrade run -v` to see every test", accepts=(False,)),
    "log_level": OtterKey((int, str, _NULL), None, "a logging level for otter's messages",
                          "ditgrade has no log levels; use -v", accepts=(None,)),
    "autograder_dir": OtterKey(str, "/autograder", "where grading takes place",
                               "the Gradescope root is $DITGRADE_AUTOGRADER_ROOT (default /autograder)",
                               accepts=("/autograder",)),
    "miniconda_path": OtterKey(str, "/root/miniforge3", "where otter's conda is installed",
                               "ditgrade's setup.sh builds a Python virtual environment, no conda",
                               accepts=("/root/miniforge3",)),
    "plugins": OtterKey(list, [], "otter plugins run while grading",
                        "ditgrade has no otter plugins; grading is extended by hidden tests in the grading folder",
                        accepts=([],)),
    "pdf": OtterKey(bool, False, "make a PDF of the notebook", _PDF, accepts=(False,)),
    "token": OtterKey((str, _NULL), None, "a Gradescope token to upload the PDF", _PDF, accepts=(None,)),
    "course_id": OtterKey((int, str, _NULL), None, "the Gradescope course to upload the PDF to", _PDF,
                          accepts=(None,)),
    "assignment_id": OtterKey((int, str, _NULL), None, "the Gradescope assignment to upload the PDF to", _PDF,
                              accepts=(None,)),
    "filtering": OtterKey(bool, False, "filter the PDF's cells", _PDF, accepts=(False,)),
    "pagebreaks": OtterKey(bool, False, "page breaks between the PDF's filtered sections", _PDF, accepts=(False,)),
    "warn_missing_pdf": OtterKey(bool, False, "a test that says whether a PDF was made", _PDF, accepts=(False,)),
    "submit_blank_pdf_on_export_failure": OtterKey(bool, False, "upload a blank PDF when none can be made", _PDF,
                                                   accepts=(False,)),
    "use_submission_pdf": OtterKey(bool, False, "upload the PDF of the submission zip", _PDF, accepts=(False,)),
    "pdf_via_html": OtterKey(bool, False, "make the PDF through HTML", _PDF, accepts=(False,)),
}
# otter's keys that are ditgrade's own too, with the same meaning (KEYS has their types and defaults)
SHARED = {"lang": "the notebook's language: otter's \"python\" (ditgrade grades no R)",
          "seed": "a seed for the random cases: otter seeds the student's cells, ditgrade its hidden tests' draws"}


def load(path: Path) -> Settings:
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


def validate(raw: dict[str, Any], where: str = "otter_config.json") -> Settings:
    """The settings with defaults filled in, otter's keys applied; ConfigError listing every problem."""
    problems = []
    unknown = sorted(set(raw) - set(KEYS) - set(OTTER_KEYS))
    if unknown:
        problems.append(f"unknown key(s) {unknown} (known: {sorted(KEYS)}; and otter's, in the README)")
    raw = dict(raw)
    if "name" not in raw and isinstance(raw.get("assignment_name"), str):
        raw["name"] = raw["assignment_name"]  # an otter_config.json written by otter assign names it so
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
    for name, key in OTTER_KEYS.items():
        problems += _otter_key(name, key, raw, cfg)
    if problems:
        raise ConfigError("\n".join(f"{where}: {p}" for p in problems))
    return Settings(**{k: cfg[k] for k in KEYS}, otter={k: cfg[k] for k in OTTER_KEYS})


def _otter_key(name: str, key: OtterKey, raw: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """Apply otter's key ``name`` to ``cfg`` (its value, or otter's default, kept under its name);
    the problems with it, one line each."""
    cfg[name] = value = raw.get(name, key.otter_default)
    if name not in raw:
        return []
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        return [f"{name} must be {_kind(key.type)} (as in otter), not {value!r}"]
    if key.sets is not None:
        setting, values = key.sets
        wanted = values[value]
        if setting in raw and raw[setting] != wanted:
            return [f"{name} ({value!r}) and {setting} ({raw[setting]!r}) disagree; keep one of them"]
        cfg[setting] = wanted
        return []
    if name == "assignment_name" and value != raw.get("name"):
        return [f"assignment_name ({value!r}) must equal name ({raw.get('name')!r}): {key.why}"]
    if key.accepts is not None and value not in key.accepts:
        return [f"`{name}`: {key.why} (otter: {key.meaning})"]
    return []


def check_points(cfg: Settings, total: float, where: str = "otter_config.json") -> None:
    """otter's ``points_possible``, where given, must be the master's total: ditgrade never rescales."""
    wanted = cfg.otter.get("points_possible")
    if wanted is not None and abs(float(wanted) - total) > 1e-9:
        raise ConfigError(f"{where}: points_possible is {wanted:g} but the master's points add up to {total:g}; "
                          "ditgrade never rescales: set the points in the master notebook, or drop points_possible")


def _kind(t: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string"}
    if isinstance(t, tuple):
        return "a number" if float in t else " or ".join(names.get(x, x.__name__) for x in t)
    return names.get(t, t.__name__)


def table() -> str:
    """ditgrade's keys as a Markdown table (the README's)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, key in KEYS.items():
        default = "required" if name in REQUIRED else json.dumps(key.default)
        rows.append(f"| `{name}` | {default} | {key.help} |")
    return "\n".join(rows)


def otter_table() -> str:
    """otter-grader's keys for otter_config.json as a Markdown table (the README's): what each means
    to otter and what ditgrade does with it."""
    rows = ["| otter's key | otter's meaning | in ditgrade |", "|---|---|---|"]
    for name, why in SHARED.items():
        rows.append(f"| `{name}` | (see above) | accepted: {why} |")
    for name, key in OTTER_KEYS.items():
        if key.honoured:
            verdict = f"accepted: {key.why}"
        else:
            allowed = " or ".join(json.dumps(v) for v in key.accepts or ())
            verdict = f"refused unless {allowed}: {key.why}"
        rows.append(f"| `{name}` | {key.meaning} | {verdict} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(), otter_table(), sep="\n\n")
