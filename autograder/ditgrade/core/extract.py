"""A submission's statements, as the grader holds them: read in the sandbox, checked here.

The grader never parses a submission's bytes itself: it reads the file (at most
``MAX_NOTEBOOK_BYTES`` for a notebook, ``MAX_SUBMISSION_BYTES`` otherwise, without looking inside)
and hands the bytes, a piece at a time, to a fresh sandboxed worker before any student code runs
there (``SandboxRunner.read``; the worker drops a notebook's outputs as they arrive, and only what is
left must fit ``MAX_SUBMISSION_BYTES``), and gets back plain data from
``ditgrade.worker.read``, which ``from_plain`` checks field by field, type and size, into an
``Extracted``. Anything that does not check out costs that submission only, as a note.

``read_trusted`` runs the same reader in this process, for files the grader trusts (the template
at build time, tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..worker.read import (
    MAX_NOTEBOOK_BYTES,
    MAX_NOTES,
    MAX_PREDICTIONS,
    MAX_SUBMISSION_BYTES,
    read_submission,
    size_limit,
    source_digest,
    too_large,
)

__all__ = ["ExplorationCells", "Extracted", "Skipped", "Statement", "from_plain", "file_pieces", "read_trusted",
           "source_digest", "MAX_NOTEBOOK_BYTES", "MAX_SUBMISSION_BYTES", "PIECE_BYTES"]

MAX_LABEL = 200
MAX_ITEMS = 10_000  # statements, skipped statements, notes or questions in one reader's answer


class ExtractError(ValueError):
    """The reader's answer does not have the shape it must have."""


@dataclass(frozen=True)
class Statement:
    label: str  # "cell 7, line 3" / "file, line 12" / "given: cell 3, line 1"
    source: str
    names: tuple[str, ...]  # the top-level names it binds or changes in place
    definition: bool = False  # imports and definitions: run even after the time for top-level code is used up


@dataclass(frozen=True)
class Skipped:
    label: str
    text: str  # its first line, shortened
    names: tuple[str, ...]
    reason: str


@dataclass
class Extracted:
    file: str = ""  # what was graded: the file's name (and the member of a zip)
    statements: list[Statement] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # problems found while reading, for the student
    unreadable: str = ""  # why the file could not be read at all ("the file is empty"); '' when it could
    predictions: dict[str, str] = field(default_factory=dict)  # the written answers, for staff
    uses: dict[str, frozenset[str]] = field(default_factory=dict)  # question -> names its graded code reaches

    def skipped_for(self, name: str) -> list[Skipped]:
        return [s for s in self.skipped if name in s.names]


@dataclass(frozen=True)
class ExplorationCells:
    """The template's driver cells: by cell id, and by the sha1 of their source."""

    ids: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()

    def to_plain(self) -> dict:
        return {"ids": sorted(self.ids), "sources": sorted(self.sources)}


# One READ request's share of a submission. With 4 MB pieces the grader's heap grew by about the
# notebook's size while a 94 MB one was read (each new piece was placed above the last); not so here.
PIECE_BYTES = 256 << 10


def file_pieces(path: str | Path) -> tuple[str, Iterator[bytes]] | str:
    """(name, the file's bytes in pieces of at most PIECE_BYTES) of the file at ``path``, or why it
    cannot be read. Nothing is parsed, and the grader never holds more than a piece: a notebook may
    be MAX_NOTEBOOK_BYTES with its outputs, anything else MAX_SUBMISSION_BYTES (never more than that
    is read, even from a file that grows meanwhile: the worker then says it is too large)."""
    path = Path(path)
    if not path.is_file():
        return "no notebook (.ipynb), Python file or export zip was found in the submission"
    limit = size_limit(path.name)
    try:
        size = path.stat().st_size
    except OSError as e:
        return f"the submission could not be read ({e.strerror})"
    if size > limit:
        return too_large(size, path.name)
    if size == 0:
        return "the file is empty"

    def pieces() -> Iterator[bytes]:
        left = limit + 1
        with open(path, "rb") as f:
            while left > 0 and (piece := f.read(min(PIECE_BYTES, left))):
                left -= len(piece)
                yield piece

    return path.name, pieces()


def _str(value: object, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise ExtractError(f"{what} is not text")
    return value[:limit]


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 10_000:
        raise ExtractError("a statement's names are not a list")
    return tuple(_str(n, 200, "a name") for n in value)


def from_plain(raw: object) -> Extracted:
    """An ``Extracted`` from the reader's plain data, every field checked; ExtractError otherwise."""
    if not isinstance(raw, dict):
        raise ExtractError("the reader's answer is not a record")
    out = Extracted(file=_str(raw.get("file", ""), 300, "the file name"),
                    unreadable=_str(raw.get("unreadable", ""), 500, "the reason"))
    for key in ("statements", "skipped", "notes"):
        if not isinstance(raw.get(key), list) or len(raw[key]) > MAX_ITEMS:
            raise ExtractError(f"the reader's {key} are not a list of at most {MAX_ITEMS:,}")
    for s in raw["statements"]:
        if not isinstance(s, dict) or not isinstance(s.get("definition"), bool):
            raise ExtractError("a statement is malformed")
        out.statements.append(Statement(_str(s.get("label"), MAX_LABEL, "a label"),
                                        _str(s.get("source"), 100_000, "a statement"), _names(s.get("names")),
                                        s["definition"]))
    for s in raw["skipped"]:
        if not isinstance(s, dict):
            raise ExtractError("a skipped statement is malformed")
        out.skipped.append(Skipped(_str(s.get("label"), MAX_LABEL, "a label"), _str(s.get("text"), 100, "a line"),
                                   _names(s.get("names")), _str(s.get("reason"), 300, "a reason")))
    out.notes = [_str(n, 500, "a note") for n in raw["notes"][:MAX_NOTES]]
    predictions = raw.get("predictions", {})
    if not isinstance(predictions, dict):
        raise ExtractError("the predictions are not a record")
    out.predictions = {_str(k, 100, "a label"): _str(v, 20_000, "a prediction")
                       for k, v in list(predictions.items())[:MAX_PREDICTIONS]}
    uses = raw.get("uses", {})
    if not isinstance(uses, dict) or len(uses) > MAX_ITEMS:
        raise ExtractError("the names in use are not a record")
    out.uses = {_str(q, 100, "a question"): frozenset(_names(v)) for q, v in uses.items()}
    return out


def read_trusted(path: str | Path, *, drivers: ExplorationCells = ExplorationCells(), notebook_name: str = "",
                 graded: dict[str, list[str]] | None = None) -> Extracted:
    """The reader run in this process: for files the grader trusts (the template at build time, tests)."""
    found = file_pieces(path)
    if isinstance(found, str):
        return Extracted(unreadable=found)
    name, pieces = found
    return from_plain(read_submission(b"".join(pieces), name, notebook_name=notebook_name, drivers=drivers.to_plain(),
                                      graded=graded or {}))
