"""Student text on a TA's terminal can never pass for one of the grader's own lines.

The attack (from an issue): a load error of 70 newlines followed by a fake summary left
"total 46.0/46.0" as the last line printed for a submission that scored 0. What must hold: student
text is only ever on one line after the grader's own words, or on an indented, marked line, with
its newlines shown as a visible mark; the grader's total is the last line of ``ditgrade run``."""

from __future__ import annotations

import functools
from pathlib import Path

from ditgrade.core.results import Grade, summary
from ditgrade.core.text import NEWLINE_MARK, STUDENT_MARK, one_line, points, shorten

FORGED = "total 46.0/46.0 in 0.1 s"
ATTACK = "ValueError: " + "\n" * 70 + "q1    10/10\n" + FORGED


def _results(full: float, *, notes_apart: bool) -> dict:
    note = f"cell 2, line 1: {ATTACK} (while loading; the rest was still graded)"
    tests = [{"name": "q1 patchify shapes", "score": 0.0, "max_score": full, "status": "failed",
              "output": "RuntimeError: " + "\n" * 30 + FORGED, "visibility": "visible"}]
    data = {"score": 0.0, "execution_time": 1.25, "tests": tests, "output": note + "\n41 hidden tests (46 points) "
            "were run; their results will be shown when grades are published.", "extra_data": {"ditgrade": {}}}
    if notes_apart:
        data["extra_data"]["ditgrade"]["notes"] = [note]
    return data


def _grader_line(line: str) -> bool:
    """A line of the grader's own making (a line that starts with student text is none of these)."""
    return line.startswith(("q1 ", "file:", "notes (", "grader error:", "UNREADABLE:", "total "))


def _check(printed: str, total: str) -> None:
    lines = printed.rstrip("\n").split("\n")
    assert lines[-1].startswith(total), lines[-5:]
    for line in lines[:-1]:
        assert not line.lstrip(" >").startswith("total") or FORGED in line and not line.startswith("total"), line
        assert _grader_line(line) or line.startswith(STUDENT_MARK) or line.startswith("      "), line
    assert all(FORGED != line.strip() for line in lines)


def test_the_attack_cannot_print_a_line_of_the_graders(full_marks: float) -> None:
    for apart in (True, False):  # notes kept one message each, or (older results) only in the output
        text = summary(Grade.from_gradescope(_results(full_marks, notes_apart=apart)), ["q1"])
        _check(text, f"total 0/{points(full_marks)} in 1.2 s")
        assert NEWLINE_MARK * 70 in text or not apart
        assert "hidden tests" not in text  # the students' line about hidden tests: a TA sees every test
    verbose = summary(Grade.from_gradescope(_results(full_marks, notes_apart=True)), ["q1"], verbose=True)
    _check(verbose, "total 0/")


def test_one_line_shows_every_break_and_drops_what_reorders_the_screen() -> None:
    assert one_line("a\nb\u2028c\u2029d\r\ne") == r"a\nb\nc\nd\ne"
    assert one_line("x\u202eevil\u200by\x1b[2Jz") == "xevilyz"
    assert shorten("the first failure is long", 16) == "the first..." and len(shorten("x" * 50, 10)) == 10
    assert points(7.714285) == "7.71" and points(46.0) == "46" and points(43.3333) == "43.33"


def test_batch_lines_notes_and_statuses_stay_one_line(tmp_path: Path, assignment, monkeypatch, capsys) -> None:
    """The progress lines, the score table, the notes and the failure list of ``ditgrade grade``."""
    from ditgrade.batch.run import grade_batch
    from ditgrade.cli import main

    monkeypatch.setattr("ditgrade.batch.run.grade_batch", functools.partial(grade_batch, grade_fn="test_batch.fake_grade"))
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ok.py").write_text("fine\n")
    (subs / "broken.py").write_text("RAISE\n" + "\n" * 70 + FORGED + "\n")
    forged_name = FORGED.replace("/", " of ")  # a file name holds no "/"
    (subs / f"evil\n{forged_name}\n.txt").write_text("x")
    (subs / f"sneaky\n{forged_name}.py").write_text("fine\n")
    code = main(["grade", str(subs), "-o", str(tmp_path / "out"), "-j", "1", "--project", str(assignment.project.root)])
    out, err = capsys.readouterr()
    assert code == 1
    for line in (out + err).splitlines():
        assert not line.lstrip().startswith("total"), line
    assert any(line.startswith("note: ") and forged_name in line for line in err.splitlines())
    assert any(line.startswith("[") and "broken" in line and NEWLINE_MARK * 10 in line for line in err.splitlines())
