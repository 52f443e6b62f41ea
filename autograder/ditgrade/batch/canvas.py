"""canvas_scores.csv written so that Canvas's Gradebook importer puts the scores where they belong.

The importer's rules (canvas-lms, ``lib/gradebook_importer.rb`` and ``Assignment.title_and_id`` in
``app/models/assignment.rb``; re-implemented for the tests in ``tests/canvas_importer.py``):

* the header must start ``Student``, ``ID``; ``SIS User ID`` and ``SIS Login ID`` next are student
  columns, and the last student column must be ``Section``; every later column is an assignment,
  except those whose header contains "Current Score", "Final Grade" and the like (dropped);
* an assignment header ``Name (123)`` (a trailing space, then digits in parentheses) names the
  assignment whose *id* is 123; only when the course has no assignment 123 is the whole header
  compared with assignment titles, and a header that matches no title creates a *new* assignment.
  So "Some Assignment (46)", meant as its points, made a new assignment (or wrote into
  assignment 46). With the id the header is ``<title> (<id>)``; without it, the bare title, which
  Canvas matches by title (exactly);
* a row whose first cell contains "Points Possible" is not a student but the assignment's points;
  so no such row is written (a points value unlike Canvas's would change the assignment), and a
  student's name that contains those words is written so that it does not;
* a student is found by the ID column (Canvas's user id), else SIS User ID, else SIS Login ID,
  else by name.
"""

from __future__ import annotations

import re

HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
# Headers the importer drops as not assignments (NON_ASSIGNMENT_COLUMN_HEADERS, matched anywhere)
NOT_ASSIGNMENTS = ("Current Score", "Current Points", "Current Grade", "Final Score", "Final Points",
                   "Final Grade", "Override Score", "Override Grade", "Override Status")
# Assignment.title_and_id's /\A(.*)\s\((\d+)\)\z/ (use fullmatch): Ruby's \s is ASCII whitespace
TITLE_AND_ID = re.compile(r"(.*)[ \t\r\n\f\v]\((\d+)\)")
POINTS_ROW = "Points Possible"
HOW_TO_FIND_THE_ID = ("the assignment's id is the number after /assignments/ in its address in Canvas; pass it as "
                      "--canvas-assignment-id")


def column(title: str, assignment_id: int | None) -> tuple[str, list[str]]:
    """(the assignment column's header, notes for the TA on how Canvas will read it)."""
    notes = []
    dropped = [w for w in NOT_ASSIGNMENTS if w in title]
    if dropped:
        notes.append(f"canvas_scores.csv: the title {title!r} contains {dropped[0]!r}, so Canvas's importer drops the "
                     "column and imports nothing; rename the assignment's title in assignment.toml")
    if assignment_id is not None:
        return f"{title} ({assignment_id})", notes
    if TITLE_AND_ID.fullmatch(title):
        notes.append(f"canvas_scores.csv: the title {title!r} ends in a number in parentheses, which Canvas reads as an "
                     "assignment id (it falls back to the title only when no assignment has that id); "
                     + HOW_TO_FIND_THE_ID)
    else:
        notes.append("canvas_scores.csv: Canvas matches the column to the assignment titled exactly "
                     f"{title!r} (else it creates a new assignment); to be sure, {HOW_TO_FIND_THE_ID}")
    return title, notes


def student_name(name: str) -> str:
    """A name that no importer rule reads as anything but a name (the points row)."""
    return name.replace(POINTS_ROW, "Points-Possible")
