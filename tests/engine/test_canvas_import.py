"""canvas_scores.csv read by a model of Canvas's Gradebook importer (``canvas_importer``, derived
from canvas-lms's ``lib/gradebook_importer.rb`` and ``Assignment.title_and_id``; its docstring
names the method behind each rule): the scores land in the intended assignment, for the intended
students, and nothing is created.

The old header, "<title> (<points>)", is read by those rules as assignment id <points>: it wrote
into that assignment, or created a new one; the first test shows the model reproduces that."""

from __future__ import annotations

from pathlib import Path

from canvas_importer import Course, Student, import_csv

from ditgrade.batch.discover import Submission
from ditgrade.batch.export import Person
from ditgrade.batch.row import Row
from ditgrade.batch.tables import write_tables
from ditgrade.core.results import Grade

TITLE = "Diffusion Transformers (DiT)"


def _row(sid: str, people: list[Person], score: float, status: str = "graded") -> Row:
    results = {"score": score, "tests": [{"name": "q1 t", "score": score, "max_score": 50.0, "status": "passed"}]}
    return Row(Submission(sid, Path(f"{sid}.ipynb"), Path(f"{sid}.ipynb"), people=people),
               Grade.from_gradescope(results), status, 0.1)


ROWS = [
    _row("submission_1", [Person("Ada Lovelace", "ada@example.edu", "0001")], 40.5),
    _row("submission_2", [Person("Points Possible Jr", "pp@example.edu", "0002")], 12.0),  # a name chosen to confuse
    _row("lovelaceada_1234", [Person("lovelaceada", canvas_id="1234")], 30.25),  # a Canvas download's row
    _row("submission_3", [Person("Empty File", "e@example.edu", "0003")], 0.0, "unreadable: the file is empty"),
]
STUDENTS = [Student(501, "Ada Lovelace", sis_user_id="0001", login_id="ada@example.edu"),
            Student(502, "Points Possible Jr", sis_user_id="0002", login_id="pp@example.edu"),
            Student(1234, "Ada Lovelace (Canvas)", login_id="ada2@example.edu"),
            Student(503, "Empty File", sis_user_id="0003")]


def _written(tmp_path: Path, title: str = TITLE, assignment_id: int | None = None):
    files = write_tables(tmp_path, ROWS, ["q1"], title, canvas_assignment_id=assignment_id)
    return (tmp_path / "canvas_scores.csv").read_text(encoding="utf-8"), files["canvas"]


def test_the_model_reproduces_the_old_headers_fault() -> None:
    old = f'"Student","ID","SIS User ID","SIS Login ID","Section","{TITLE} (46)"\n"Ada Lovelace","","0001","","","40"\n'
    created = import_csv(old, Course({12345: TITLE}, STUDENTS))
    assert created.new_assignments == [TITLE]  # a second "Diffusion Transformers (DiT)" next to the real one
    hijacked = import_csv(old, Course({12345: TITLE, 46: "Quiz 2"}, STUDENTS))
    assert hijacked.assignments == [(46, "Quiz 2")]  # or the scores go into assignment 46


def test_without_an_id_canvas_matches_the_assignment_by_its_title(tmp_path: Path) -> None:
    text, info = _written(tmp_path)
    assert text.splitlines()[0].endswith(f'"Section","{TITLE}"')
    course = Course({12345: TITLE, 46: "Quiz 2"}, STUDENTS)
    imported = import_csv(text, course)
    assert imported.assignments == [(12345, TITLE)] and imported.new_assignments == []
    assert imported.grades[(12345, TITLE)] == {501: "40.5", 502: "12", 1234: "30.25"}  # the unreadable one is not uploaded
    assert imported.points == {} and imported.unknown_students == []
    assert any("titled exactly" in n and "--canvas-assignment-id" in n for n in info.notes)


def test_with_the_id_the_scores_go_into_that_assignment_whatever_its_title(tmp_path: Path) -> None:
    text, info = _written(tmp_path, assignment_id=777)
    assert text.splitlines()[0].endswith(f'"{TITLE} (777)"') and info.notes == ()
    imported = import_csv(text, Course({777: "DiT homework (graded by ditgrade)", 12345: TITLE}, STUDENTS))
    assert [aid for aid, _ in imported.assignments] == [777] and imported.new_assignments == []
    assert imported.grades[(777, "DiT homework (graded by ditgrade)")][501] == "40.5"


def test_a_title_ending_in_a_number_in_parentheses_is_flagged(tmp_path: Path) -> None:
    """No header can both equal such a title and not be read as an id: the title still matches
    when the course has no assignment with that number as its id, and the TA is told to pass it."""
    title = "Homework (2)"
    text, info = _written(tmp_path, title)
    assert import_csv(text, Course({12345: title}, STUDENTS)).assignments == [(12345, title)]
    assert any("reads as an assignment id" in n for n in info.notes)
    text, _ = _written(tmp_path, title, assignment_id=12345)
    assert import_csv(text, Course({12345: title, 2: "Other"}, STUDENTS)).assignments == [(12345, title)]


def test_a_title_the_importer_drops_is_flagged(tmp_path: Path) -> None:
    text, info = _written(tmp_path, "Final Grade Project", assignment_id=9)
    assert import_csv(text, Course({9: "Final Grade Project"}, STUDENTS)).assignments == []
    assert any("drops the column" in n for n in info.notes)


def test_a_semicolon_in_a_name_does_not_make_the_file_semicolon_separated(tmp_path: Path) -> None:
    rows = [_row("s", [Person("Ada; Lovelace;", "ada@example.edu", "0001")], 40.5)]
    write_tables(tmp_path, rows, ["q1"], TITLE)
    imported = import_csv((tmp_path / "canvas_scores.csv").read_text(), Course({12345: TITLE}, STUDENTS))
    assert imported.grades[(12345, TITLE)] == {501: "40.5"}
