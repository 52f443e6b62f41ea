"""Where the project's files live, so no module hard-codes a path."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The package lives in <repo>/autograder/ditgrade; an editable install keeps it there.
REPO_ROOT = PACKAGE_DIR.parent.parent

ASSIGNMENT_DIR = REPO_ROOT / "assignment"
MASTER_NOTEBOOK = ASSIGNMENT_DIR / "dit_assignment.ipynb"
STUDENT_TEMPLATE_DIR = REPO_ROOT / "student_template"
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXAMPLES_DIR = REPO_ROOT / "examples"
OTTER_CONFIG = REPO_ROOT / "otter_config.json"
REFERENCE_MODULE = PACKAGE_DIR / "reference.py"
NOTEBOOK_NAME = MASTER_NOTEBOOK.name
