"""Gradescope's autograder.zip, and the two helpers its ``run_autograder`` calls.

    autograder.zip
        setup.sh                  installs python3, a CPU-only torch==2.13.0, the requirements and
                                  this package (editable, from /autograder/source) into a venv
        run_autograder            picks the submission, runs `ditgrade run ... --out results`, and
                                  always leaves a valid results.json
        requirements.txt          the grader's dependencies besides torch
        otter_config.json         the grading settings (ditgrade.config)
        pyproject.toml, README.md the package's metadata, so `pip install -e` works
        autograder/ditgrade/...   the grader's source, hidden tests and reference included

The zip is reproducible: sorted entries, a fixed timestamp, fixed permissions (0755 for the two
scripts, 0644 otherwise) and fixed compression, so two builds of the same sources are byte-identical.

``python -m ditgrade.gradescope pick FOLDER`` prints the file to grade in Gradescope's submission
folder; ``python -m ditgrade.gradescope ensure RESULTS`` replaces a missing or invalid results.json
with a valid one for staff. The /autograder root is ``$DITGRADE_AUTOGRADER_ROOT`` (default
/autograder), so tests can run the real scripts against a simulated tree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import paths
from .zips import write_zip

TEMPLATES = paths.PACKAGE_DIR / "gradescope"
EXECUTABLE = {"setup.sh", "run_autograder"}
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".hypothesis", ".pytest_cache", ".ruff_cache"}
# A submission folder may hold the notebook, the export zip, and whatever else the student uploaded.
_PREFERRED = ("dit_assignment.ipynb",)


def _source_entries() -> list[tuple[str, bytes]]:
    entries = []
    for p in sorted(paths.PACKAGE_DIR.rglob("*")):
        rel = p.relative_to(paths.PACKAGE_DIR)
        if not p.is_file() or _SKIP_PARTS.intersection(rel.parts) or p.suffix in (".pyc", ".pyo"):
            continue
        if rel.parts[0] == "gradescope":  # the templates are the zip's top level, not package data
            continue
        entries.append((f"autograder/ditgrade/{rel.as_posix()}", p.read_bytes()))
    return entries


def autograder_entries() -> list[tuple[str, bytes]]:
    """Every (name, bytes) of the autograder zip."""
    entries = [(name, (TEMPLATES / name).read_bytes()) for name in ("setup.sh", "run_autograder", "requirements.txt")]
    config = paths.OTTER_CONFIG.read_bytes() if paths.OTTER_CONFIG.is_file() else b"{}\n"
    entries.append(("otter_config.json", config))
    for name in ("pyproject.toml", "README.md"):
        entries.append((name, (paths.REPO_ROOT / name).read_bytes()))
    entries += _source_entries()
    return entries


def build_autograder_zip(out_path: str | Path) -> Path:
    """Write Gradescope's autograder.zip to ``out_path`` (reproducibly) and return its path."""
    return write_zip(autograder_entries(), Path(out_path), executable=EXECUTABLE)


def pick_submission(folder: str | Path) -> Path | None:
    """The file to grade in Gradescope's submission folder: a notebook at the top (the assignment's
    name first), else an export zip, else a notebook or a .py anywhere below; None when there is none."""
    folder = Path(folder)
    if folder.is_file():
        return folder
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                   and ".ipynb_checkpoints" not in p.parts and "__MACOSX" not in p.parts)
    top = [p for p in files if p.parent == folder]
    for group in ([p for p in top if p.name in _PREFERRED], [p for p in top if p.suffix == ".ipynb"],
                  [p for p in top if p.suffix == ".zip"], [p for p in files if p.suffix == ".ipynb"],
                  [p for p in top if p.suffix == ".py"], [p for p in files if p.suffix == ".py"]):
        if group:
            return group[0]
    return None


def _valid_results(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("score"), (int, float)) and \
        isinstance(data.get("tests", []), list)


def ensure_results(path: str | Path, *, exit_code: int = 0, log: str | Path | None = None) -> bool:
    """Leave a valid results.json at ``path``; True when the grader's own one was already valid."""
    from .results import error_results

    path = Path(path)
    if _valid_results(path):
        return True
    detail = f"`ditgrade run` exited with {exit_code} and left no valid results.json"
    if log is not None:
        try:
            tail = Path(log).read_text(errors="replace")[-1500:].strip()
        except OSError:
            tail = ""
        if tail:
            detail += f"; the end of its log:\n{tail}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(error_results(detail), indent=2))
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ditgrade.gradescope")
    sub = parser.add_subparsers(dest="op", required=True)
    p = sub.add_parser("pick", help="print the submission file to grade in FOLDER")
    p.add_argument("folder", type=Path)
    e = sub.add_parser("ensure", help="make sure RESULTS is a valid results.json")
    e.add_argument("results", type=Path)
    e.add_argument("--exit-code", type=int, default=0)
    e.add_argument("--log", type=Path)
    b = sub.add_parser("build", help="write autograder.zip")
    b.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.op == "pick":
        found = pick_submission(args.folder)
        # with no file, the folder itself is graded: `ditgrade run` then explains that nothing was found
        print(found if found is not None else args.folder)
    elif args.op == "ensure":
        ensure_results(args.results, exit_code=args.exit_code, log=args.log)
    else:
        print(build_autograder_zip(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
