"""The reviewed survivors: mutants of the audit that no hidden test kills, read by an instructor and
judged equivalent to the reference (or allowed by the task text), each with a one-line reason.

The file is ``bank/audit_reviewed.toml`` in the grading folder, written by hand::

    [[equivalent]]
    operator = 'core/ReplaceComparisonOperator_NotEq_Gt'
    function = 'normalize'
    old = 'if x.dim() != 2:'
    new = 'if x.dim() > 2:'
    reason = 'a 1-D x fails the unpacking on the next line with a ValueError as well'

An entry names its mutant by the tool's operator, the function it is in and the lines it changes
(stripped): stable when the reference changes elsewhere, unlike the tool's occurrence numbers. The
audit's report prints a ready entry for every survivor that has none. ``operator = "*"`` with
``new = "*"`` covers every mutant of the ``old`` line: only for a line none of whose changes can
matter, such as the text of an error message.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

FILE = Path("bank") / "audit_reviewed.toml"
FIELDS = ("operator", "function", "old", "new", "reason")
ANY = "*"  # as operator and new: every mutant of the old line


class ReviewError(ValueError):
    """The reviewed file cannot be read; the message names the file and the entry."""


@dataclass(frozen=True)
class Review:
    operator: str
    function: str  # as the report shows it: ``outer.inner``, ``Class.method``
    old: str
    new: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.operator, self.function, self.old, self.new

    def covers(self, operator: str, function: str, old: str, new: str) -> bool:
        return (self.function == function and self.old == old and self.operator in (ANY, operator)
                and self.new in (ANY, new))


def path_in(grading_folder: Path) -> Path:
    return grading_folder / FILE


def load(path: Path) -> list[Review]:
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ReviewError(f"{path}: {e}") from None
    unknown = set(data) - {"equivalent"}
    if unknown:
        raise ReviewError(f"{path}: unknown table(s) {sorted(unknown)}; entries are [[equivalent]]")
    reviews = []
    for i, entry in enumerate(data.get("equivalent", []), 1):
        missing = [f for f in FIELDS if not isinstance(entry.get(f), str)]
        extra = sorted(set(entry) - set(FIELDS))
        if missing or extra:
            raise ReviewError(f"{path}: entry {i} " + (f"lacks {missing}" if missing else f"has unknown {extra}"))
        reason = entry["reason"].strip()
        if not reason or "\n" in reason or reason.upper().startswith("TODO"):
            raise ReviewError(f"{path}: entry {i} ({entry['function']}: {entry['new']!r}) needs a one-line reason")
        if (entry["operator"] == ANY) != (entry["new"].strip() == ANY):
            raise ReviewError(f"{path}: entry {i}: operator and new are both \"*\" (every mutant of the line) "
                              "or neither")
        reviews.append(Review(entry["operator"], entry["function"], entry["old"].strip(), entry["new"].strip(),
                              reason))
    return reviews


def _toml_string(text: str) -> str:
    if "'" not in text and "\n" not in text and text.isprintable():
        return f"'{text}'"  # a literal string: code reads as written, no escapes
    if "\n" in text:
        return '"""\n' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def entry(operator: str, function: str, old: str, new: str, reason: str = "TODO: why it is equivalent") -> str:
    """A ready [[equivalent]] entry for the file."""
    return "\n".join(["[[equivalent]]", *(f"{k} = {_toml_string(v)}" for k, v in
                                          (("operator", operator), ("function", function), ("old", old),
                                           ("new", new), ("reason", reason))), ""])
