"""Which file of a submission is graded: one rule for a student's folder, a Gradescope submission
folder and the members of an uploaded zip.

``choose(names, expected)`` looks only at names (relative POSIX paths), so every caller applies the
same rule to whatever it lists: ``core.files.pick`` (for ``ditgrade run``, Gradescope and ``batch.discover``) to
a folder's files, the sandboxed reader (``worker.read``, hence this module's place) to a zip's members. The rule, in order:

1. the expected name (``<assignment>.ipynb``) at the top of the submission, as Gradescope's own
   "required file" is matched;
2. the expected name once, anywhere below (a student who uploaded their folder);
3. otherwise the only notebook, else the only zip, else the only ``.py`` file (``__init__.py``
   aside, as otter does), wherever it is;
4. several of the first kind found and none named as expected: nothing is chosen, and the note
   names the candidates, since grading the first of them would be a guess the student never sees.

Copies that editors and archivers leave (``.ipynb_checkpoints/``, ``__MACOSX/``, hidden files) are
never candidates. The note says what else was there when something was chosen among other files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

KINDS = ((".ipynb", "notebooks"), (".zip", "zip files"), (".py", "Python files"))
IGNORED_PARTS = frozenset({".ipynb_checkpoints", "__MACOSX", "__pycache__"})
MAX_NAMED = 5  # candidates named in a note; the rest are counted


@dataclass(frozen=True)
class Choice:
    """The file to grade (``name``: one of the names given) or None, and a note for the student
    and the TA: why nothing was chosen, or what else was there ("" when there is nothing to say)."""

    name: str | None
    note: str = ""
    candidates: tuple[str, ...] = ()  # every gradeable-looking name, the chosen one included


def _usable(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not IGNORED_PARTS.intersection(parts) and not any(p.startswith(".") for p in parts)


def _kind(name: str) -> str:
    lower = name.lower()
    for suffix, _ in KINDS:
        if lower.endswith(suffix) and not (suffix == ".py" and PurePosixPath(lower).name == "__init__.py"):
            return suffix
    return ""


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    return shown + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def choose(names: Iterable[str], expected: str = "") -> Choice:
    """The name to grade among ``names`` (relative POSIX paths of files) for an assignment whose
    students submit ``expected`` ("" when there is no expected name); see the module docstring."""
    usable = sorted(n for n in map(str, names) if _usable(n))
    candidates = [n for n in usable if _kind(n)]
    if not candidates:
        held = f" (it holds {_listed(usable)})" if usable else " (it is empty)"
        return Choice(None, f"no notebook (.ipynb), Python file (.py) or zip was found in the submission{held}")

    def chosen(name: str) -> Choice:
        others = [n for n in candidates if n != name]
        note = f"graded {name}; also in the submission: {_listed(others)}" if others else ""
        return Choice(name, note, tuple(candidates))

    if expected:
        if expected in candidates:
            return chosen(expected)
        named = [n for n in candidates if PurePosixPath(n).name == expected]
        if len(named) == 1:
            return chosen(named[0])
        if named:
            return Choice(None, f"{len(named)} files are named {expected}: {_listed(named)}; "
                                "submit only the one to grade", tuple(candidates))
    for suffix, what in KINDS:
        found = [n for n in candidates if _kind(n) == suffix]
        if len(found) == 1:
            return chosen(found[0])
        if found:
            wanted = f" and none is named {expected}" if expected else ""
            rename = f"rename the one to grade {expected}" if expected else "submit only the one to grade"
            return Choice(None, f"the submission holds {len(found)} {what}{wanted}: {_listed(found)}; {rename}",
                          tuple(candidates))
    return Choice(None, "no file to grade was found", tuple(candidates))  # unreachable: every candidate has a kind
