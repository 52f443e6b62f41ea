"""One assignment's grading material, as the engine sees it.

The grading folder (``grading_folder`` in otter_config.json, e.g. ``autograder/dit``) is a Python
package laid out by convention::

    assignment.toml     title, gpu_note (the staff's note when the GPU part did not run)
    hooks.py            HOOKS: what the engine asks of the assignment (``ditgrade.hooks``: preload,
                        warm-up, readable folders, GPU availability, environment)
    probes.py           PROBES: the operations student code is called through (student's process)
    hidden/             the hidden tests, one module per question or topic (grader's process)
    generated/          written by `ditgrade build` from the master notebook, never by hand:
        assignment.json     questions and their points, the names each defines, the template's
                            driver cells, the public checks
        reference.py        the reference solution (secret: never in a student's process)
    bank/               correct solutions and mutants: the release gates' evidence

The engine knows nothing else about an assignment: a second assignment is a second folder.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..hooks import AssignmentHooks
from ..hooks import load as load_hooks
from ..hooks import probes as load_probes
from ..project import Project
from ..worker.probe import Probes
from . import public, taint
from .compare import use_seed
from .suite import GradedTest, collect, order

GENERATED = "generated"
# The version of generated/assignment.json: 2 added the template's given code and the schema itself.
SCHEMA = 2
DESCRIPTOR = "assignment.toml"


class AssignmentError(RuntimeError):
    """The grading folder is missing, malformed, or out of date with the master notebook."""


@dataclass(frozen=True)
class Question:
    id: str
    points: float
    names: tuple[str, ...]  # what the question's answer cells define (its graded API)


@dataclass
class Assignment:
    project: Project

    @classmethod
    def load(cls, project: Project | None = None) -> Assignment:
        assignment = cls(project or Project.find())
        assignment.descriptor  # noqa: B018 - fail early, naming the file
        return assignment

    # -- the folder ------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return self.project.grading_folder

    @property
    def package(self) -> str:
        return self.folder.name

    @cached_property
    def descriptor(self) -> dict[str, Any]:
        path = self.folder / DESCRIPTOR
        try:
            data = tomllib.loads(path.read_text())
        except OSError:
            raise AssignmentError(f"no {DESCRIPTOR} in the grading folder {self.folder} "
                                  f"(grading_folder in {self.project.root / 'otter_config.json'})") from None
        except tomllib.TOMLDecodeError as e:
            raise AssignmentError(f"{path}: {e}") from None
        unknown = set(data) - {"title", "gpu_note"}
        if unknown:
            moved = " (preload and warm-up are hooks now: hooks.py)" if unknown & {"preload", "warm"} else ""
            raise AssignmentError(f"{path}: unknown key(s) {sorted(unknown)}{moved}")
        return data

    @property
    def title(self) -> str:
        return str(self.descriptor.get("title", self.project.name))

    @property
    def gpu_note(self) -> str:
        return str(self.descriptor.get("gpu_note", ""))

    @property
    def generated_dir(self) -> Path:
        return self.folder / GENERATED

    @property
    def reference_path(self) -> Path:
        taint.mark("the reference")  # whoever asks for it reads it
        return self.generated_dir / "reference.py"

    @property
    def bank_dir(self) -> Path:
        return self.folder / "bank"

    @cached_property
    def generated(self) -> dict[str, Any]:
        """``generated/assignment.json``, of the schema this engine reads (``SCHEMA``)."""
        path = self.generated_dir / "assignment.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            raise AssignmentError(f"{path} is missing or unreadable: run `ditgrade build`") from None
        schema = data.get("schema") if isinstance(data, dict) else None
        if schema != SCHEMA:
            raise AssignmentError(f"{path} has schema {schema!r}, this ditgrade reads schema {SCHEMA}: run "
                                  "`ditgrade build`")
        return data

    # -- what the master notebook says -------------------------------------------------------------
    @cached_property
    def questions(self) -> list[Question]:
        return [Question(q["id"], float(q["points"]), tuple(q["names"])) for q in self.generated["questions"]]

    @property
    def question_ids(self) -> list[str]:
        return [q.id for q in self.questions]

    @property
    def points(self) -> dict[str, float]:
        return {q.id: q.points for q in self.questions}

    @property
    def graded_names(self) -> list[str]:
        return [n for q in self.questions for n in q.names]

    # -- code ------------------------------------------------------------------------------------------
    def import_package(self) -> None:
        """Make the grading folder importable under its own name, from this project and nowhere else."""
        parent = str(self.folder.parent)
        if parent not in sys.path:
            sys.path.insert(0, parent)
        module = importlib.import_module(self.package)
        found = Path(module.__file__ or "").resolve().parent
        if found != self.folder:
            raise AssignmentError(f"the package {self.package!r} imports from {found}, not from the "
                                  f"grading folder {self.folder}; rename one of them")

    @cached_property
    def hooks(self) -> AssignmentHooks:
        """The grading folder's ``hooks.HOOKS`` (``ditgrade.hooks``). Its ``environment()`` is set in
        this process when they are first loaded: the grader imports the assignment's libraries too."""
        self.import_package()
        try:
            hooks = load_hooks(self.package)
        except LookupError as e:
            raise AssignmentError(str(e)) from None
        os.environ.update(hooks.environment())
        return hooks

    @cached_property
    def probes(self) -> Probes:
        """The probe registry, with the engine's own check runner added (public checks)."""
        self.import_package()
        try:
            registry = load_probes(self.package)
        except LookupError as e:
            raise AssignmentError(str(e)) from None
        registry.table.setdefault(public.PROBE.name, public.PROBE)
        return registry

    def tests(self, *, gpu: bool = False) -> list[GradedTest]:
        """The tests one grade reports, question by question: hidden ones, then the public checks
        (``suite.run_tests`` runs the public checks first)."""
        self.import_package()
        hidden = [t for t in collect(f"{self.package}.hidden") if gpu or not t.requires_gpu]
        unknown = sorted({t.question for t in hidden} - set(self.question_ids))
        if unknown:
            raise AssignmentError(f"hidden tests name question(s) {unknown} that the master notebook does not "
                                  f"define ({self.question_ids})")
        use_seed(self.project.config.seed)
        weight = float(self.project.config.public_test_weight)
        checks = public.checks(self.generated.get("public_tests", {}), weight)
        return order(hidden + checks, self.question_ids)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of everything that decides a grade besides the submission: the engine's code,
        this grading folder (hidden tests, probes, generated data, reference) and the settings."""
        taint.mark("the grading folder's files")
        h = hashlib.sha256()
        for root in (self.project.engine_folder, self.folder):
            for p in sorted(root.rglob("*")):
                rel = p.relative_to(root)
                if p.is_file() and p.suffix in (".py", ".json", ".toml", ".txt", ".sh", "") \
                        and "__pycache__" not in rel.parts and "bank" not in rel.parts[:1]:
                    h.update(str(rel).encode() + b"\0" + p.read_bytes() + b"\0")
        h.update(json.dumps(self.project.config.to_json(), sort_keys=True).encode())
        return h.hexdigest()
