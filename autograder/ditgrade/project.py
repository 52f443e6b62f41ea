"""The course project ``ditgrade`` works on: the folder you stand in, found the way git finds its root.

A project is a folder holding ``otter_config.json`` (``ditgrade.config``). From it come every
other path: the master notebook ``assignment/<name>.ipynb``, the generated ``student_template/`` and
``solutions/``, and the grading folder (``grading_folder``, e.g. ``autograder/dit``) with its
``assignment.toml``. Nothing is ever read from where ditgrade happens to be installed.

``Project.find()`` walks up from the current folder (or starts at ``--project`` /
``$DITGRADE_PROJECT``); ``NotAProject`` says where it looked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from . import config

CONFIG_FILE = "otter_config.json"


class NotAProject(RuntimeError):
    """No otter_config.json in the starting folder or any folder above it."""


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def find(cls, start: str | Path | None = None) -> Project:
        explicit = start if start is not None else os.environ.get("DITGRADE_PROJECT")
        here = Path(explicit or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / CONFIG_FILE).is_file():
                return cls(folder)
            if explicit:  # an explicit project must hold the settings itself
                break
        raise NotAProject(f"not inside a ditgrade project: no {CONFIG_FILE} in {here}"
                          + ("" if explicit else " or any folder above it")
                          + "; cd into the course folder or pass --project DIR")

    @cached_property
    def config(self) -> config.Settings:
        return config.load(self.root / CONFIG_FILE)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def notebook_name(self) -> str:
        """The file students submit (and the master's name)."""
        return f"{self.name}.ipynb"

    @property
    def master(self) -> Path:
        return self.root / "assignment" / self.notebook_name

    @property
    def student_template(self) -> Path:
        return self.root / "student_template"

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def grading_folder(self) -> Path:
        return (self.root / self.config.grading_folder).resolve()

    @property
    def engine_folder(self) -> Path:
        """The grading engine's source shipped in autograder.zip: the project's own copy when it
        has one (this repository), else the installed package."""
        own = self.root / "autograder" / "ditgrade"
        return own if (own / "__init__.py").is_file() else Path(__file__).resolve().parent

    def secret_paths(self) -> list[str]:
        """Folders a sandboxed worker must never see (the sandbox hides more; these wherever they are)."""
        paths = {self.root, self.grading_folder, self.engine_folder}
        return sorted(str(p) for p in paths)
