"""``ditgrade grade``: submissions in, per-student results, feedback, upload files and a report out;
resume, and what costs one row only. Most tests use ``fake_grade``, a stand-in grade function that
reads instructions from the submission's text (HANG, CRASH, RAISE, BUG qN, UNREADABLE), so they
test the batch machinery in seconds; ``test_real_grader_on_examples`` uses the real one. Points and
totals come from the assignment (``points()``), never from numbers written here."""

from __future__ import annotations

import csv
import functools
import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from ditgrade.batch import export
from ditgrade.batch.discover import discover
from ditgrade.batch.run import grade_batch
from ditgrade.core.results import Grade
from ditgrade.core.text import points as fmt

FAKE = "test_batch.fake_grade"


@functools.cache
def points() -> dict[str, float]:
    """{question: points} of the course under test (also in the batch's worker processes)."""
    from conftest import course_assignment

    return course_assignment().points


def full() -> float:
    return sum(points().values())


def fake_grade(path: str, *, gpu: bool = False, sub: str = "") -> dict:
    """A stand-in grader: two tests per question, instructions read from the file's text. An empty
    file, or one saying ``UNREADABLE <why>``, is what extraction reports for a file it cannot read
    (``extra_data.ditgrade.unreadable``), here with tests still listed, as it may."""
    import re

    calls = os.environ.get("DITGRADE_TEST_CALLS")
    if calls:
        with open(calls, "a") as f:
            f.write(Path(path).name + "\n")
    text = Path(path).read_text(errors="replace")
    unreadable = "the file is empty" if not text else (re.findall(r"UNREADABLE (.*)", text) or [""])[0]
    if "HANG" in text:
        time.sleep(3600)
    if "CRASH" in text:
        os._exit(3)
    if "RAISE" in text:
        raise RuntimeError("the grader broke: " + text)
    bugs = set(re.findall(r"BUG (q\d)", text))
    tests = []
    for q, pts in points().items():
        for i in range(2):
            ok = (q not in bugs or i == 1) and not unreadable
            tests.append({"name": f"{q} test {i}", "score": pts / 2 if ok else 0.0, "max_score": pts / 2,
                          "status": "passed" if ok else "failed", "output": "passed" if ok else f"{q} is wrong",
                          "visibility": "visible"})
    return {"score": sum(t["score"] for t in tests), "execution_time": 0.01, "output": "", "tests": tests,
            "extra_data": {"ditgrade": {"predictions": {"Exercise 1": "256 tokens"} if "PREDICT" in text else {},
                                        "unreadable": unreadable}}}


def _folder(root: Path) -> Path:
    sub = root / "subs"
    sub.mkdir()
    (sub / "good.py").write_text("def patchify(z, p):\n    return z\n")
    (sub / "buggy.py").write_text("# BUG q2 PREDICT\n")
    (sub / "garbage.ipynb").write_text("RAISE: this is not a notebook {{{")
    (sub / "notes.txt").write_text("not a submission")
    return sub


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_folder_end_to_end_and_resume(tmp_path: Path, monkeypatch, assignment) -> None:
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("DITGRADE_TEST_CALLS", str(calls))
    sub, out = _folder(tmp_path), tmp_path / "out"
    result = grade_batch([sub], out, assignment=assignment, jobs=2, grade_fn=FAKE, progress=False)

    rows = {r["submission"]: r for r in _csv(out / "grades.csv")}
    assert sorted(rows) == ["buggy", "garbage", "good"]
    assert list(_csv(out / "grades.csv")[0]) == ["name", "email", "sid", "canvas_id", "submission", "q1", "q2", "q3", "q4", "q5",
                                                 "total", "max", "percent", "submitted_at", "late", "status"]
    q1, q2 = points()["q1"], points()["q2"]
    assert rows["good"]["total"] == fmt(full()) and rows["good"]["percent"] == "100.0" and rows["good"]["status"] == "graded"
    assert rows["buggy"]["q2"] == fmt(q2 / 2) and rows["buggy"]["q1"] == fmt(q1) and rows["buggy"]["total"] == fmt(full() - q2 / 2)
    assert rows["garbage"]["total"] == "0" and rows["garbage"]["status"].startswith("error: RuntimeError")
    assert [g.sub.id for g in result.failed] == ["garbage"]
    assert any("notes.txt" in n for n in result.notes)
    for sid in rows:
        assert (out / "results" / f"{sid}.json").is_file() and (out / "feedback" / f"{sid}.txt").is_file()
    feedback = (out / "feedback" / "buggy.txt").read_text()
    assert "[FAIL] q2 test 0" in feedback and "q2 is wrong" in feedback and f"{fmt(full() - q2 / 2)} / {fmt(full())}" in feedback
    assert "File:       buggy.py" in feedback
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 3 and "q2 test 0" in report
    assert "href='feedback/buggy.txt'" in report and "256 tokens" in report  # predictions listed for reading

    # Resume: nothing is graded again; a changed submission and --regrade are.
    assert len(calls.read_text().splitlines()) == 3
    again = grade_batch([sub], out, assignment=assignment, jobs=2, grade_fn=FAKE, progress=False)
    assert again.graded_now == 1 and len(calls.read_text().splitlines()) == 4  # the grader's failure is retried
    (sub / "buggy.py").write_text("# BUG q2 BUG q3\n")
    again = grade_batch([sub], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    totals = {r["submission"]: r["total"] for r in _csv(out / "grades.csv")}
    assert again.graded_now == 2 and totals["buggy"] == fmt(full() - q2 / 2 - points()["q3"] / 2)
    again = grade_batch([sub], out, assignment=assignment, jobs=2, grade_fn=FAKE, progress=False, regrade=True)
    assert again.graded_now == 3


@pytest.mark.slow
def test_a_changed_grader_regrades_what_is_cached(tmp_path: Path, assignment, monkeypatch) -> None:
    sub, out = _folder(tmp_path), tmp_path / "out"
    grade_batch([sub], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    again = grade_batch([sub], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    assert again.graded_now == 1  # only the grader's own failure
    monkeypatch.setitem(assignment.__dict__, "fingerprint", "another grader")
    again = grade_batch([sub], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    assert again.graded_now == 3


@pytest.mark.slow
def test_hang_and_crash_cost_their_own_row_only(tmp_path: Path, assignment) -> None:
    sub = tmp_path / "subs"
    sub.mkdir()
    (sub / "a_hang.py").write_text("HANG\n")
    (sub / "b_crash.py").write_text("CRASH\n")
    for i in range(4):
        (sub / f"c_good{i}.py").write_text("fine\n")
    out = tmp_path / "out"
    start = time.monotonic()
    grade_batch([sub], out, assignment=assignment, jobs=2, grade_fn=FAKE, timeout=8, progress=False)
    assert time.monotonic() - start < 60
    rows = {r["submission"]: r for r in _csv(out / "grades.csv")}
    assert rows["a_hang"]["status"].startswith("error: grading took longer than 8 s")
    assert rows["b_crash"]["status"].startswith("error: the grading worker died")
    assert all(rows[f"c_good{i}"]["total"] == fmt(full()) for i in range(4))


METADATA = """submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '0001'
    :email: ada@example.edu
  :created_at: 2026-11-20 10:00:00.000000000 -08:00
  :score: !ruby/object:BigDecimal 18:0.44e2
submission_102:
  :submitters:
  - :name: =HYPERLINK("http://evil","click")
    :sid: '0002'
    :email: alan@example.edu
  - :name: Grace Hopper
    :sid: '0003'
    :email: grace@example.edu
  :late: true
"""


def _export_zip(path: Path, metadata: str = METADATA, extra: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("assignment_9_export/submission_metadata.yml", metadata)
        z.writestr("assignment_9_export/submission_101/dit_assignment.py", "fine\n")
        z.writestr("assignment_9_export/submission_102/work/dit_assignment.py", "# BUG q5\n")
        z.writestr("assignment_9_export/submission_103/readme.txt", "forgot to upload\n")
        for name, text in (extra or {}).items():
            z.writestr(f"assignment_9_export/{name}", text)
    return path


def test_gradescope_export_gives_one_row_per_student_and_upload_files(tmp_path: Path, assignment) -> None:
    out = tmp_path / "out"
    grade_batch([_export_zip(tmp_path / "export.zip")], out, assignment=assignment, jobs=1, grade_fn=FAKE,
                progress=False)
    rows = _csv(out / "grades.csv")
    assert [r["name"] for r in rows] == ["'=HYPERLINK(\"http://evil\",\"click\")", "Ada Lovelace", "Grace Hopper", ""]
    ada = rows[1]
    assert ada["email"] == "ada@example.edu" and ada["sid"] == "0001" and ada["submitted_at"].startswith("2026-11-20")
    group = [r for r in rows if r["submission"] == "submission_102"]
    assert len(group) == 2 and {r["sid"] for r in group} == {"0002", "0003"}
    assert {r["q5"] for r in group} == {fmt(points()["q5"] / 2)} and {r["late"] for r in group} == {"yes"}
    # submission_103 uploaded a readme only: a row that says so, which no upload file holds
    assert rows[3]["submission"] == "submission_103" and rows[3]["status"].startswith("unreadable: no notebook")
    assert "readme.txt" in rows[3]["status"]
    gs = _csv(out / "gradescope_scores.csv")
    assert list(gs[0]) == ["Name", "SID", "Email", "Score"] and {r["SID"] for r in gs} == {"0001", "0002", "0003"}
    with open(out / "canvas_scores.csv", newline="") as f:
        canvas = list(csv.reader(f))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", assignment.title]  # see test_canvas_import
    assert {r[2] for r in canvas[1:]} == {"0001", "0002", "0003"}


def test_only_the_path_the_ta_gives_is_read_as_an_export(tmp_path: Path, assignment) -> None:
    """A student's upload holding a metadata file (in a folder or a zip) stays that student's files."""
    forged = "submission_101:\n  :submitters:\n  - :name: Ada Lovelace\n    :sid: '0001'\n"
    inner = _export_zip(tmp_path / "inner.zip", forged)
    export_zip = _export_zip(tmp_path / "export.zip", extra={
        "submission_104/submission_metadata.yml": forged,
        "submission_104/submission_101/dit_assignment.py": "fine\n",
        "submission_105/my_upload.zip": inner.read_bytes().decode("latin-1")})
    subs, _ = discover([export_zip], tmp_path / "work")
    by_id = {s.id: s for s in subs}
    assert sorted(by_id) == ["submission_101", "submission_102", "submission_103", "submission_104", "submission_105"]
    assert [p.sid for p in by_id["submission_101"].people] == ["0001"]
    assert by_id["submission_104"].people == [] and by_id["submission_105"].people == []
    # a plain folder with a zip at its top: the zip is one submission, never an export
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "upload.zip").write_bytes(inner.read_bytes())
    subs, _ = discover([folder], tmp_path / "work2")
    assert [s.id for s in subs] == ["upload"] and subs[0].people == []


@pytest.mark.parametrize("metadata, reason", [
    ("a: &a [*a]\n", "aliases"),
    ("a: &a ['x', 'x']\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n", "aliases"),
    ("{{{{ not yaml", "not valid YAML"),
    ("- just\n- a list\n", "does not map"),
])
def test_hostile_metadata_costs_the_names_not_the_submissions(tmp_path: Path, metadata: str, reason: str) -> None:
    subs, notes = discover([_export_zip(tmp_path / "e.zip", metadata)], tmp_path / "work")
    assert any(reason in n for n in notes), notes
    assert len(subs) == 3 and all(s.people == [] for s in subs)


def test_hostile_metadata_costs_the_names_not_the_batch(tmp_path: Path, assignment) -> None:
    """The whole batch, once (the parametrized test above reads each kind of bad metadata)."""
    out = tmp_path / "out"
    result = grade_batch([_export_zip(tmp_path / "e.zip", "a: &a [*a]\n")], out, assignment=assignment, jobs=1,
                         grade_fn=FAKE, progress=False)
    assert any("aliases" in n for n in result.notes), result.notes
    assert len(result.rows) == 3 and (out / "grades.csv").is_file() and (out / "report.html").is_file()


def test_export_unpacking_refuses_escapes_and_links(tmp_path: Path) -> None:
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../escape.txt", "x")
        zf.writestr("/abs.txt", "x")
        link = zipfile.ZipInfo("link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        zf.writestr("ok/file.txt", "fine")
    export.extract_zip(z, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()
    assert sorted(str(p.relative_to(tmp_path / "dest")) for p in (tmp_path / "dest").rglob("*")) == [
        "ok", "ok/file.txt"]  # "../escape.txt" and "/abs.txt" land nowhere


def test_canvas_download_names_give_student_and_lateness(tmp_path: Path) -> None:
    folder = tmp_path / "canvas"
    folder.mkdir()
    (folder / "lovelaceada_LATE_1234_5678_dit_assignment.ipynb").write_text("{}")
    (folder / "turingalan_999_111_dit_assignment-1.py").write_text("x = 1")
    subs, _ = discover([folder], tmp_path / "w")
    info = {s.id: (s.people[0].name, s.people[0].canvas_id, s.late) for s in subs}
    assert all(not s.people[0].sid for s in subs)  # Canvas's user id is not the school's SID
    assert info == {"lovelaceada_1234": ("lovelaceada", "1234", True), "turingalan_999": ("turingalan", "999", False)}


def test_canvas_rows_are_uploaded_to_canvas_by_its_user_id(tmp_path: Path) -> None:
    """A Canvas download's number is Canvas's user id: canvas_scores.csv's ID column, never the SID
    Gradescope matches on (those rows are left out of gradescope_scores.csv)."""
    from ditgrade.batch.row import Row
    from ditgrade.batch.tables import write_tables

    folder = tmp_path / "canvas"
    folder.mkdir()
    (folder / "lovelaceada_1234_5678_dit_assignment.py").write_text("# BUG q2\n")
    subs, _ = discover([folder], tmp_path / "w")
    rows = [Row(s, Grade.from_gradescope(fake_grade(str(s.path))), "graded", 0.1) for s in subs]
    write_tables(tmp_path, rows, list(points()), "DiT")
    canvas = _csv(tmp_path / "canvas_scores.csv")
    assert [(r["Student"], r["ID"], r["SIS User ID"]) for r in canvas] == [("lovelaceada", "1234", "")]
    assert list(canvas[0].values())[-1] == fmt(full() - points()["q2"] / 2)
    assert _csv(tmp_path / "gradescope_scores.csv") == []
    assert _csv(tmp_path / "grades.csv")[0]["canvas_id"] == "1234"


@pytest.mark.slow  # a batch of its own (about 4 s; CI runs it with the slow ones)
def test_terminal_output_and_files_carry_no_control_characters(tmp_path: Path, assignment) -> None:
    from ditgrade.batch.report import feedback_text, score_table
    from ditgrade.core.text import clean

    assert clean("total \x1b[2J\x1b[H46.0/46.0\x07") == "total 46.0/46.0"
    sub = tmp_path / "subs"
    sub.mkdir()
    (sub / "esc\x1b[2Japed.py").write_text("fine\n")
    result = grade_batch([sub], tmp_path / "out", assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    assert "\x1b" not in score_table(result.rows, result.questions) and "\x1b" not in feedback_text(result.rows[0])


@pytest.mark.slow
def test_real_grader_on_examples(tmp_path: Path, assignment) -> None:
    """The real grade_submission on a correct, a buggy and a hostile example, two warm workers."""
    ex = Path(__file__).resolve().parent.parent / "examples" / "submissions"
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("bob_correct_unfold.py", "dave_bug_q1_token_order.py", "oscar_hangs_at_load.py"):
        (folder / name).write_bytes((ex / name).read_bytes())
    out = tmp_path / "out"
    grade_batch([folder], out, assignment=assignment, jobs=2, progress=False)
    rows = {r["submission"]: r for r in _csv(out / "grades.csv")}
    assert rows["bob_correct_unfold"]["percent"] == "100.0", rows
    bug = rows["dave_bug_q1_token_order"]
    assert float(bug["q1"]) < points()["q1"] and all(bug[q] == rows["bob_correct_unfold"][q] for q in ("q2", "q3", "q4", "q5"))
    assert rows["oscar_hangs_at_load"]["total"] == "0" and rows["oscar_hangs_at_load"]["status"] == "graded"
    saved = json.loads((out / "results" / "bob_correct_unfold.json").read_text())
    assert saved["extra_data"]["ditgrade"]["sandbox"]["protections"]["separate_process"]  # kept beside the batch's
    # a .py holds only the student's answers: the template's given code (make_tiny_dit_pipeline for q5's
    # public check) runs before it, as in the notebook, so every public check passes
    public = [t for t in saved["tests"] if "public checks" in t["name"]]
    assert len(public) == 5 and all(t["status"] == "passed" for t in public), public
    assert saved["extra_data"]["ditgrade"]["batch"]["status"] == "graded"


def test_spreadsheet_cells_never_start_a_formula() -> None:
    from ditgrade.core.text import csv_cell

    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("Mallory;=cmd|' /C calc'!A0").startswith("Mallory;'=")
    assert csv_cell("@SUM(A1)").startswith("'") and csv_cell("+1+1").startswith("'")
    assert csv_cell("-3.5") == "-3.5" and csv_cell("Ada Lovelace") == "Ada Lovelace"
    cell = csv_cell("a\x1b[2Jb\nc")
    assert "\x1b" not in cell and "\n" not in cell and cell.startswith("a") and cell.endswith("c")


def test_digests_tell_folders_apart(tmp_path: Path) -> None:
    """Names and contents are framed: two folders with the same bytes split differently differ."""
    from ditgrade.batch.discover import Submission

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x.py").write_text("12")
    (a / "y.py").write_text("3")
    (b / "x.py").write_text("1")
    (b / "y.py").write_text("23")
    digest = {d: Submission(d.name, d / "x.py", d).digest for d in (a, b)}
    assert digest[a] != digest[b]
    (b / "x.py").write_text("12")
    (b / "y.py").write_text("3")
    assert Submission("b", b / "x.py", b).digest == digest[a]


# ---------------------------------------------------------------------------------------------
# every file accounted for
# ---------------------------------------------------------------------------------------------


def test_unreadable_files_are_named_kept_out_of_the_statistics_and_uploads_and_told_why(
        tmp_path: Path, assignment) -> None:
    """An empty file and a truncated notebook (as extraction reports them: ``unreadable``) are
    neither a 0 that pulls the mean down nor 41 failed tests: their rows, feedback and the report
    say what is wrong, and the upload files leave them out."""
    meta = "submission_1:\n  :submitters:\n  - :name: Ada\n    :sid: '1'\n" \
           "submission_2:\n  :submitters:\n  - :name: Bob\n    :sid: '2'\n" \
           "submission_3:\n  :submitters:\n  - :name: Cy\n    :sid: '3'\n"
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("e/submission_metadata.yml", meta)
        zf.writestr("e/submission_1/dit_assignment.ipynb", "fine\n")
        zf.writestr("e/submission_2/dit_assignment.ipynb", "")  # a 0-byte file
        zf.writestr("e/submission_3/dit_assignment.ipynb", "UNREADABLE the notebook is not valid JSON (truncated?)\n")
    out = tmp_path / "out"
    result = grade_batch([z], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    assert [g.sub.id for g in result.unreadable] == ["submission_2", "submission_3"] and result.failed == []
    rows = {r["submission"]: r for r in _csv(out / "grades.csv")}
    assert rows["submission_2"]["status"] == "unreadable: the file is empty"
    assert rows["submission_3"]["status"] == "unreadable: the notebook is not valid JSON (truncated?)"
    assert [r["SID"] for r in _csv(out / "gradescope_scores.csv")] == ["1"]
    assert [r["SIS User ID"] for r in _csv(out / "canvas_scores.csv")] == ["1"]
    feedback = (out / "feedback" / "submission_2.txt").read_text()
    assert "could not be read, so nothing was graded: the file is empty." in feedback
    assert "Tests:" not in feedback and "[FAIL]" not in feedback and "not graded" in feedback
    report = (out / "report.html").read_text()
    assert f"<th>mean (graded)</th><td class=n>{fmt(full())}</td>" in report  # the unreadable 0s are not in it
    assert "<th>unreadable</th><td class=n>2</td>" in report and "the file is empty" in report
    from ditgrade.batch.report import score_table

    table = score_table(result.rows, result.questions)
    assert "unreadable: the file is empty" in table
    # a rerun keeps them (the student's file has not changed), and still apart
    again = grade_batch([z], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    assert again.graded_now == 0 and [g.sub.id for g in again.unreadable] == ["submission_2", "submission_3"]


def test_a_folder_with_several_notebooks_is_refused_naming_them_and_the_graded_file_is_named(
        tmp_path: Path, assignment) -> None:
    subs = tmp_path / "subs"
    for name, files in {"ada": ["dit_assignment.ipynb", "old_try.ipynb"], "bob": ["v1.ipynb", "v2.ipynb"],
                        "cy": ["work/mine.ipynb"]}.items():
        for f in files:
            (subs / name / f).parent.mkdir(parents=True, exist_ok=True)
            (subs / name / f).write_text(f"# {f}\n")
    out = tmp_path / "out"
    result = grade_batch([subs], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    rows = {r["submission"]: r for r in _csv(out / "grades.csv")}
    assert rows["ada"]["status"] == "graded" and rows["cy"]["status"] == "graded"
    assert rows["bob"]["status"] == ("unreadable: the submission holds 2 notebooks and none is named "
                                     "dit_assignment.ipynb: v1.ipynb, v2.ipynb; rename the one to grade "
                                     "dit_assignment.ipynb")
    ada = (out / "feedback" / "ada.txt").read_text()
    assert "File:       dit_assignment.ipynb" in ada and "also in the submission: old_try.ipynb" in ada
    assert "File:       work/mine.ipynb" in (out / "feedback" / "cy.txt").read_text()
    saved = json.loads((out / "results" / "ada.json").read_text())["extra_data"]["ditgrade"]
    assert saved["file"] == "dit_assignment.ipynb" and saved["batch"]["submission"].endswith("dit_assignment.ipynb")
    assert "v1.ipynb, v2.ipynb" in (out / "feedback" / "bob.txt").read_text()
    assert [g.sub.id for g in result.unreadable] == ["bob"]


def test_empty_upload_files_say_why(tmp_path: Path, assignment, monkeypatch, capsys) -> None:
    """Loose files carry no SID or email: the upload files hold no row, and the terminal says why."""
    from ditgrade.cli import main

    monkeypatch.setattr("ditgrade.batch.run.grade_batch", functools.partial(grade_batch, grade_fn=FAKE))
    sub = _folder(tmp_path)
    code = main(["--project", str(assignment.project.root), "grade", str(sub), "-o", str(tmp_path / "out"), "-j", "1"])
    printed = capsys.readouterr()
    assert code == 1  # garbage.ipynb: the stand-in grader raises
    lines = {line.split(":")[0]: line for line in printed.out.splitlines() if line.endswith(")")}
    assert "EMPTY: no graded submission carries an SID or an email" in lines["gradescope_scores.csv"]
    assert "EMPTY: no graded submission carries a Canvas user id, an SID or an email" in lines["canvas_scores.csv"]
    assert "loose files and folders carry none" in lines["canvas_scores.csv"]
    assert _csv(tmp_path / "out" / "gradescope_scores.csv") == []


@pytest.mark.slow  # two batch grades: the default suite stays within its 5 minutes beside CI's busy loops
def test_a_rerun_moves_aside_the_files_of_submissions_no_longer_there(tmp_path: Path, assignment) -> None:
    """feedback/*.txt holds this run's students only: a removed submission's files go to stale/."""
    sub, out = _folder(tmp_path), tmp_path / "out"
    grade_batch([sub], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    (sub / "buggy.py").unlink()
    (out / "results" / "good.json.tmp").write_text("{")  # a write an interruption cut short
    again = grade_batch([sub], out, assignment=assignment, jobs=1, grade_fn=FAKE, progress=False)
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["garbage.txt", "good.txt"]
    assert sorted(p.name for p in (out / "results").iterdir()) == ["garbage.json", "good.json"]
    assert (out / "stale" / "feedback" / "buggy.txt").is_file() and (out / "stale" / "results" / "buggy.json").is_file()
    assert any("1 submission(s) of an earlier run" in n and "(buggy)" in n and "stale" in n for n in again.notes)
    assert [r["submission"] for r in _csv(out / "grades.csv")] == ["garbage", "good"]


def test_feedback_is_written_for_after_grading(tmp_path: Path) -> None:
    """Sent once grades are out: it lists the hidden tests rather than promising them for later,
    leaves out a staff-only test, and writes each score one way."""
    from ditgrade.batch.discover import Submission
    from ditgrade.batch.report import feedback_text
    from ditgrade.batch.row import Row
    from ditgrade.core.results import hidden_note

    tests = [{"name": "q1 hidden", "score": 7.714285, "max_score": 9.0, "status": "failed", "output": "close",
              "visibility": "after_published"},
             {"name": "q1 staff only", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "",
              "visibility": "hidden"}]
    results = {"score": 8.714285, "tests": tests, "output": "cell 3: a note\n" + hidden_note(2, 10, "after_published")}
    text = feedback_text(Row(Submission("ada", tmp_path / "ada.py", tmp_path / "ada.py"),
                             Grade.from_gradescope(results), "graded", 0.1))
    assert "when grades are published" not in text
    assert "2 hidden tests (10 points) were run; their results are listed below." in text
    assert "[FAIL] q1 hidden  (7.71/9)" in text and "q1 staff only" not in text
    assert "1 test is for the course staff only" in text and "Score:      8.71 / 10" in text
    never = {**results, "output": hidden_note(2, 10, "hidden")}  # staff-only hidden tests: not listed, not promised
    text = feedback_text(Row(Submission("ada", tmp_path / "ada.py", tmp_path / "ada.py"),
                             Grade.from_gradescope(never), "graded", 0.1))
    assert "will be shown never (staff only)" in text and "listed below" not in text
