"""Gradescope's autograder.zip, and the two helpers its ``run_autograder`` calls.

    autograder.zip                unpacked by Gradescope into /autograder/source (the project root there)
        setup.sh                  builds the image: a Python the dependencies accept, CPU-only torch,
                                  the requirements, this package (see the script)
        run_autograder            picks the submission, runs `ditgrade run ... --out results`, and
                                  always leaves a valid results.json
        requirements.txt          the grader's dependencies besides torch
        otter_config.json         the grading settings (ditgrade.config)
        pyproject.toml, README.md the engine's metadata, so `pip install -e` works
        autograder/ditgrade/...   the engine
        autograder/<assignment>/  the grading folder: hidden tests, probes, generated/ (no bank)

The zip is reproducible (``zips.write_zip``). ``python -m ditgrade.packaging.gradescope pick
FOLDER`` prints the file to grade in Gradescope's submission folder; ``... ensure RESULTS`` replaces
a missing or invalid results.json with a valid one for staff. The /autograder root is
``$DITGRADE_AUTOGRADER_ROOT`` (default /autograder), so tests can run the real scripts against a
simulated tree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.files import pick
from ..project import Project
from .zips import write_zip

TEMPLATES = Path(__file__).resolve().parent / "gradescope_files"
EXECUTABLE = {"setup.sh", "run_autograder"}
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".hypothesis", ".pytest_cache", ".ruff_cache", "bank"}


def tree_entries(root: Path, prefix: str, skip: set[str] = SKIP_PARTS) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file under ``root``, named ``prefix/<relative path>``, caches left out."""
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not skip.intersection(rel.parts) and p.suffix not in (".pyc", ".pyo"):
            out.append((f"{prefix}/{rel.as_posix()}" if prefix else rel.as_posix(), p.read_bytes()))
    return out


def autograder_entries(project: Project) -> list[tuple[str, bytes]]:
    """Every (name, bytes) of the autograder zip."""
    entries = [(name, (TEMPLATES / name).read_bytes()) for name in ("setup.sh", "run_autograder", "requirements.txt")]
    entries.append(("otter_config.json", (project.root / "otter_config.json").read_bytes()))
    engine_root = Path(__file__).resolve().parents[2]  # the folder holding the engine's package
    for name in ("pyproject.toml", "README.md"):
        source = project.root / name if (project.root / name).is_file() else engine_root.parent / name
        entries.append((name, source.read_bytes()))
    entries += [e for e in tree_entries(project.engine_folder, "autograder/ditgrade")
                if not e[0].startswith("autograder/ditgrade/packaging/gradescope_files/")]
    grading = project.grading_folder.relative_to(project.root).as_posix()
    entries += tree_entries(project.grading_folder, grading)
    return entries


def build_autograder_zip(out_path: str | Path, project: Project | None = None) -> Path:
    """Write Gradescope's autograder.zip to ``out_path`` (reproducibly) and return its path."""
    return write_zip(autograder_entries(project or Project.find()), Path(out_path), executable=EXECUTABLE)


def _valid_results(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("score"), (int, float)) and \
        isinstance(data.get("tests", []), list)


def ensure_results(path: str | Path, *, exit_code: int = 0, log: str | Path | None = None) -> bool:
    """Leave a valid results.json at ``path``; True when the grader's own one was already valid."""
    from ..core.results import error_results

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
    path.write_text(json.dumps(error_results(detail).to_gradescope(), indent=2))
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ditgrade.packaging.gradescope")
    sub = parser.add_subparsers(dest="op", required=True)
    p = sub.add_parser("pick", help="print the submission file to grade in FOLDER")
    p.add_argument("folder", type=Path)
    p.add_argument("--prefer", default="", help="the assignment's notebook name")
    e = sub.add_parser("ensure", help="make sure RESULTS is a valid results.json")
    e.add_argument("results", type=Path)
    e.add_argument("--exit-code", type=int, default=0)
    e.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    if args.op == "pick":
        found = pick(args.folder, args.prefer)[0]
        # with no file, the folder itself is graded: `ditgrade run` then explains that nothing was found
        print(found if found is not None else args.folder)
    else:
        ensure_results(args.results, exit_code=args.exit_code, log=args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
