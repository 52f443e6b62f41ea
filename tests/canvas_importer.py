"""Canvas's Gradebook CSV importer, re-implemented in Python from its Ruby source, for testing the
canvas_scores.csv ditgrade writes against the rules Canvas really applies.

Source: instructure/canvas-lms, ``lib/gradebook_importer.rb`` (read at commit 00b222d77ee4) and
``Assignment.title_and_id`` in ``app/models/assignment.rb``. The repository was read through a
code index that gives no line numbers (its 2.2 GB snapshot could not be fetched here), so each rule
below names the Ruby method it follows:

* ``csv_stream``, ``semicolon_delimited?``, ``identify_delimiter``: the separator is ";" only when
  the first lines split into a consistent, larger number of fields on ";" than on ","; lines made
  only of separators and spaces are skipped (``skip_lines: /^[;, ]+$/``); the
  ``decimal_comma_to_period`` converter rewrites a field made of digits, "," and "." (one decimal
  separator kept); an empty unquoted field is nil.
* ``check_for_non_student_row``: the first row is the header; a row whose first field includes
  "Points Possible" sets the assignments' points (``process_pp``); a row of blanks, "Muted" or
  "Manual Posting..." is skipped; every other row is a student.
* ``header?``, ``row_has_student_headers?``, ``update_column_count``, ``last_student_info_column``:
  the header must have more than 3 fields, the first including "Student" and the second "ID"
  (or LastName/FirstName/ID, a feature flag this model leaves off); student columns are 3, plus 1
  when the third matches ``SIS\\s+Login\\s+ID``, or plus 2 when the third matches
  ``SIS\\s+User\\s+ID`` and the fourth ``SIS\\s+Login\\s+ID`` (plus "Integration ID" and "Root
  Account" after them); the last student column must include "Section", or the file is refused
  ("Invalid header row").
* ``strip_non_assignment_columns``: after the student columns, a header matching any of
  ``NON_ASSIGNMENT_COLUMN_HEADERS`` ("Current Score", "Final Grade", ...) anywhere is dropped
  (custom columns, matched by title, are left out of this model: a course here has none).
* ``parse_assignments`` with ``Assignment.title_and_id`` (``/\\A(.*)\\s\\((\\d+)\\)\\z/``): a
  header ``Title (123)`` names the assignment with id 123; when there is none in the course, or
  the header has no id, the course's assignment whose title equals the *whole* header; else a new
  assignment titled with the title part.
* ``process_student``: the student whose Canvas id is the ID column's integer (Ruby's ``to_i``:
  leading digits, else 0); else the one whose pseudonym has the SIS User ID, else the SIS Login
  ID; else the one whose name or sortable name equals the Student column; else a new (unknown)
  student.
* ``process_submissions``: each assignment's grade is the row's field in its column, stripped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

NON_ASSIGNMENT_COLUMN_HEADERS = ("Current Score", "Current Points", "Current Grade", "Final Score", "Final Points",
                                 "Final Grade", "Override Score", "Override Grade", "Override Status")
_RUBY_SPACE = "[ \\t\\r\\n\\f\\v]"  # Ruby's \s (ASCII only)
TITLE_AND_ID = re.compile(rf"(.*){_RUBY_SPACE}\((\d+)\)")  # fullmatch: \A ... \z; "." stops at "\n" as in Ruby


class InvalidHeaderRow(ValueError):
    pass


@dataclass
class Student:
    id: int
    name: str
    sortable_name: str = ""
    sis_user_id: str = ""
    login_id: str = ""


@dataclass
class Course:
    assignments: dict[int, str]  # id -> title (published, gradeable)
    students: list[Student]


@dataclass
class Import:
    """What the importer made of a file."""

    assignments: list[tuple[int | None, str]] = field(default_factory=list)  # (existing id or None: new, title)
    points: dict[int, str] = field(default_factory=dict)  # column -> points possible from the points row
    grades: dict[tuple[int | None, str], dict[int | None, str]] = field(default_factory=dict)
    # (assignment) -> {student id (None: unknown student) -> grade}
    unknown_students: list[str] = field(default_factory=list)

    @property
    def new_assignments(self) -> list[str]:
        return [title for aid, title in self.assignments if aid is None]


def _ruby_to_i(text: str) -> int:
    m = re.match(r"\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else 0


def _decimal_comma_to_period(value: str | None) -> str | None:
    if value is None or not re.fullmatch(r"-?[0-9.,]+%?", value):
        return value
    parts = re.split(r"[,.]", value)
    last = parts.pop()
    return last if not parts else "".join(parts) + "." + last


def _parse(text: str, sep: str, strict: bool = True) -> list[list[str | None]]:
    rows = []
    for line in text.splitlines(keepends=True):
        if re.fullmatch(r"[;, ]+\r?\n?", line):  # skip_lines
            continue
        rows.append(line)
    out = []
    for fields in csv.reader(io.StringIO("".join(rows)), delimiter=sep, strict=strict):
        out.append([_decimal_comma_to_period(f) if f != "" else None for f in fields])
    return out


def _separator(text: str) -> str:
    counts = {";": 0, ",": 0}
    first = text.splitlines()[:3]
    for sep in counts:
        try:
            sizes = [len(next(csv.reader([line], delimiter=sep, strict=True))) for line in first]
        except csv.Error:  # MalformedCSVError: rescued, this separator counts 0
            continue
        if len(set(sizes)) == 1:
            counts[sep] = sizes[0]
    return ";" if counts[";"] > counts[","] else ","


def _student_columns(header: list[str]) -> int:
    if not (len(header) > 3 and "Student" in header[0] and "ID" in header[1]):
        raise InvalidHeaderRow("the header does not start Student, ID")
    columns = 3
    third, fourth = header[2], header[3] if len(header) > 3 else ""
    if re.search(r"SIS\s+Login\s+ID", third):
        columns += 1
    elif re.search(r"SIS\s+User\s+ID", third) and re.search(r"SIS\s+Login\s+ID", fourth):
        extra = 1 if len(header) > 4 and re.search(r"Integration\s+ID", header[4]) else 0
        columns += 2 + extra
        if len(header) > 4 + extra and re.search(r"Root\s+Account", header[4 + extra]):
            columns += 1
    if "Section" not in header[columns - 1]:
        raise InvalidHeaderRow("the last student column is not Section")
    return columns


def import_csv(text: str, course: Course) -> Import:
    """Read ``text`` as Canvas's importer would for ``course``."""
    rows = _parse(text, _separator(text))
    header = [h or "" for h in rows[0]]
    n = _student_columns(header)
    sis_user, sis_login = (2, 3) if n >= 5 and "SIS User" in header[2] else (None, 2 if n == 4 else None)
    result = Import()
    columns: list[tuple[int, tuple[int | None, str]]] = []
    for index in range(n, len(header)):
        name = header[index]
        if any(re.search(w, name) for w in NON_ASSIGNMENT_COLUMN_HEADERS):
            continue
        m = TITLE_AND_ID.fullmatch(name)
        title, aid = (m.group(1), int(m.group(2))) if m else (name, None)
        if aid is not None and aid in course.assignments:
            found: tuple[int | None, str] = (aid, course.assignments[aid])
        else:
            same = [i for i, t in course.assignments.items() if t == name]
            found = (same[0], name) if same else (None, title)
        result.assignments.append(found)
        result.grades[found] = {}
        columns.append((index, found))
    for row in rows[1:]:
        cells = list(row)
        first = cells[0] if cells else None
        if first is not None and "Points Possible" in first:
            result.points.update({i: cells[i] or "" for i, _ in columns if i < len(cells)})
            continue
        if all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", c or "", re.I) for c in cells if c is not None):
            continue
        student = _find_student(cells, course, sis_user, sis_login)
        if student is None:
            result.unknown_students.append(first or "")
        for index, assignment in columns:
            grade = (cells[index] or "").strip() if index < len(cells) else ""
            result.grades[assignment][student.id if student else None] = grade
    return result


def _find_student(cells: list[str | None], course: Course, sis_user: int | None, sis_login: int | None):
    by_id = {s.id: s for s in course.students}
    if cells[1]:
        found = by_id.get(_ruby_to_i(cells[1]))
        if found:
            return found
    if sis_user is not None and cells[sis_user]:
        found = next((s for s in course.students if s.sis_user_id == cells[sis_user]), None)
        if found:
            return found
    if sis_login is not None and cells[sis_login]:
        found = next((s for s in course.students if s.login_id == cells[sis_login]), None)
        if found:
            return found
    name = cells[0] or ""
    return next((s for s in course.students if name and name in (s.name, s.sortable_name)), None)
