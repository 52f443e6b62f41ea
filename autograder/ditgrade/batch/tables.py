"""The batch's spreadsheets: one row per student, ready to upload.

    grades.csv             everything, one row per student (a group's members each get a row), sorted
                           by name: the submission, per-question scores, total, percent, submission
                           time, lateness, status
    gradescope_scores.csv  for Gradescope's "Import Scores" (Name, SID, Email, Score), matched by email or SID
    canvas_scores.csv      for Canvas's Gradebook "Import" (Student, ID, SIS User ID, SIS Login ID,
                           Section, the assignment: ``batch.canvas``): a Canvas download's rows
                           matched by Canvas's user id (ID), an export's by SIS User ID or SIS Login
                           ID (email)

The upload files hold graded rows only (an unreadable submission has no grade to upload) of
students they can be matched by; ``write_tables`` says why one is empty (loose files carry no SID
or email). Scores are written as everywhere else (``core.text.points``). Every cell goes through
``ditgrade.core.text.csv_cell`` and is quoted: names chosen by students cannot become formulas in a
spreadsheet, whichever list separator it uses.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.text import csv_cell, points
from . import canvas

if TYPE_CHECKING:
    from .row import Row


def max_total(rows: list[Row]) -> float:
    """The assignment's total, for rows without tests (errors): the largest total seen in the batch."""
    return max((g.results.max_score for g in rows), default=0.0)


@dataclass
class StudentRow:
    name: str
    email: str
    sid: str
    canvas_id: str
    graded: Row


def student_rows(rows: list[Row]) -> list[StudentRow]:
    """One row per student, sorted by name (then SID); a submission without names is one row."""
    out = []
    for g in rows:
        people = g.sub.people or [None]
        for p in people:
            out.append(StudentRow(p.name if p else "", p.email if p else "", p.sid if p else "",
                                  p.canvas_id if p else "", g))
    return sorted(out, key=lambda r: (r.name.casefold() or "\uffff", r.sid, r.graded.sub.id))


_fmt = points


@dataclass(frozen=True)
class UploadFile:
    """An upload file as written: how many students it holds, and why none when it holds none."""

    path: Path
    rows: int
    why_empty: str = ""
    notes: tuple[str, ...] = ()  # what the TA should know before uploading it


def grades_table(rows: list[Row], questions: list[str]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of grades.csv."""
    fallback = max_total(rows)
    header = ["name", "email", "sid", "canvas_id", "submission", *questions, "total", "max", "percent", "submitted_at", "late",
              "status"]
    body = []
    for r in student_rows(rows):
        g = r.graded
        per_q = g.results.questions()
        score, maximum = g.results.score, g.results.max_score
        maximum = maximum or fallback
        late = "" if g.sub.late is None else ("yes" if g.sub.late else "no")
        body.append([r.name, r.email, r.sid, r.canvas_id, g.sub.id, *[_fmt(per_q.get(q, (0.0, 0.0))[0]) for q in questions],
                     _fmt(score), _fmt(maximum), f"{100 * score / maximum:.1f}" if maximum else "0.0",
                     g.sub.submitted_at, late, g.status[:300]])
    return header, body


def _write(path: Path, header: list[str], body: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8", errors="replace") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)  # a ";" in a quoted cell never splits it
        writer.writerow([csv_cell(h) for h in header])
        writer.writerows([[csv_cell(c) for c in row] for row in body])


def write_tables(out: Path, rows: list[Row], questions: list[str], title: str, *,
                 canvas_assignment_id: int | None = None) -> dict[str, UploadFile]:
    """grades.csv, gradescope_scores.csv and canvas_scores.csv in ``out``, each as an UploadFile."""
    header, body = grades_table(rows, questions)
    _write(out / "grades.csv", header, body)
    students = student_rows(rows)
    graded = [r for r in students if r.graded.graded]
    gs = [[r.name, r.sid, r.email, _fmt(r.graded.results.score)] for r in graded if r.email or r.sid]
    _write(out / "gradescope_scores.csv", ["Name", "SID", "Email", "Score"], gs)
    column, canvas_notes = canvas.column(title, canvas_assignment_id)
    rows_canvas = [[canvas.student_name(r.name), r.canvas_id, r.sid, r.email, "", _fmt(r.graded.results.score)]
                   for r in graded if r.email or r.sid or r.canvas_id]
    _write(out / "canvas_scores.csv", [*canvas.HEADER, column], rows_canvas)
    return {"grades": UploadFile(out / "grades.csv", len(body)),
            "gradescope": UploadFile(out / "gradescope_scores.csv", len(gs),
                                     _why_empty(gs, graded, "an SID or an email")),
            "canvas": UploadFile(out / "canvas_scores.csv", len(rows_canvas),
                                 _why_empty(rows_canvas, graded, "a Canvas user id, an SID or an email"),
                                 tuple(canvas_notes) if rows_canvas else ())}


def _why_empty(written: list, graded: list[StudentRow], ids: str) -> str:
    if written:
        return ""
    if not graded:
        return "no submission was graded"
    return (f"no graded submission carries {ids} to match it by: loose files and folders carry none; grade "
            "Gradescope's export (or a Canvas download) to fill it, or enter the scores by hand")
