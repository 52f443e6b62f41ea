"""``ditgrade grade``: a folder in, grades.csv + feedback + report.html out; resume; hostile rows cost one row.

Most tests use ``fake_grade``, a stand-in for ``ditgrade.run.grade_submission`` that reads
instructions from the submission's text (HANG, CRASH, RAISE, BUG qN), so they test the batch
machinery in seconds. ``test_real_grader_on_examples`` runs the real grader on a few bundled
example submissions.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
import zipfile
from pathlib import Path

import pytest

from ditgrade import batch, cli, paths
from ditgrade.suite import QUESTIONS

POINTS = {"q1": 10.0, "q2": 12.0, "q3": 8.0, "q4": 8.0, "q5": 6.0}


def fake_grade(path: str, *, gpu: bool = False) -> dict:
    """A stand-in grader: two tests per question, instructions read from the file's text."""
    calls = os.environ.get("DITGRADE_TEST_CALLS")
    if calls:
        with open(calls, "a") as f:
            f.write(Path(path).name + "\n")
    text = Path(path).read_text(errors="replace")
    if "HANG" in text:
        time.sleep(3600)
    if "CRASH" in text:
        os._exit(3)
    if "RAISE" in text:
        raise RuntimeError("the grader broke")
    bugs = set(re.findall(r"BUG (q\d)", text))
    tests = []
    for q, pts in POINTS.items():
        for i in range(2):
            ok = q not in bugs or i == 1
            tests.append({"name": f"{q} test {i}", "score": pts / 2 if ok else 0.0, "max_score": pts / 2,
                          "status": "passed" if ok else "failed", "output": "passed" if ok else f"{q} is wrong",
                          "visibility": "visible"})
    return {"score": sum(t["score"] for t in tests), "execution_time": 0.01, "output": "", "tests": tests}


def _folder(root: Path) -> Path:
    sub = root / "subs"
    sub.mkdir()
    (sub / "good.py").write_text("def patchify(z, p):\n    return z\n")
    (sub / "buggy.py").write_text("# BUG q2\n")
    (sub / "garbage.ipynb").write_text("RAISE: this is not a notebook {{{")
    (sub / "notes.txt").write_text("not a submission")
    return sub


def _csv(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_folder_end_to_end_and_resume(tmp_path: Path, monkeypatch) -> None:
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("DITGRADE_TEST_CALLS", str(calls))
    sub, out = _folder(tmp_path), tmp_path / "out"
    result = batch.grade_batch([sub], out, jobs=2, grade_fn=fake_grade, progress=False)

    rows = {r["id"]: r for r in _csv(out)}
    assert sorted(rows) == ["buggy", "garbage", "good"]
    assert list(_csv(out)[0]) == ["id", "name", "email", "sid", *QUESTIONS, "total", "percent", "status"]
    assert rows["good"]["total"] == "44" and rows["good"]["percent"] == "100.0" and rows["good"]["status"] == "graded"
    assert rows["buggy"]["q2"] == "6" and rows["buggy"]["q1"] == "10" and rows["buggy"]["total"] == "38"
    assert rows["garbage"]["total"] == "0" and rows["garbage"]["status"].startswith("error: RuntimeError")
    assert any("notes.txt" in n for n in result.notes)

    for sid in rows:
        assert (out / "results" / f"{sid}.json").is_file()
        assert (out / "feedback" / f"{sid}.txt").is_file()
    feedback = (out / "feedback" / "buggy.txt").read_text()
    assert "[FAIL] q2 test 0" in feedback and "q2 is wrong" in feedback and "38 / 44" in feedback
    saved = json.loads((out / "results" / "good.json").read_text())
    assert saved["score"] == 44 and len(saved["tests"]) == 10

    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and "q2 test 0" in html

    # Resume: nothing is graded again; a changed submission and --regrade are.
    assert len(calls.read_text().splitlines()) == 3
    again = batch.grade_batch([sub], out, jobs=2, grade_fn=fake_grade, progress=False)
    assert again.graded_now == 0 and len(calls.read_text().splitlines()) == 3
    assert {r["id"]: r["total"] for r in _csv(out)} == {"buggy": "38", "garbage": "0", "good": "44"}
    (sub / "buggy.py").write_text("# BUG q2 BUG q3\n")
    again = batch.grade_batch([sub], out, jobs=1, grade_fn=fake_grade, progress=False)
    assert again.graded_now == 1 and {r["id"]: r["total"] for r in _csv(out)}["buggy"] == "34"
    again = batch.grade_batch([sub], out, jobs=2, grade_fn=fake_grade, progress=False, regrade=True)
    assert again.graded_now == 3


def test_hang_and_crash_cost_their_own_row_only(tmp_path: Path) -> None:
    sub = tmp_path / "subs"
    sub.mkdir()
    (sub / "a_hang.py").write_text("HANG\n")
    (sub / "b_crash.py").write_text("CRASH\n")
    for i in range(4):
        (sub / f"c_good{i}.py").write_text("fine\n")
    out = tmp_path / "out"
    start = time.monotonic()
    batch.grade_batch([sub], out, jobs=2, grade_fn=fake_grade, timeout=8, progress=False)
    assert time.monotonic() - start < 60
    rows = {r["id"]: r for r in _csv(out)}
    assert rows["a_hang"]["status"].startswith("error: grading took longer than 8 s")
    assert rows["b_crash"]["status"].startswith("error: the grading worker died")
    assert all(rows[f"c_good{i}"]["total"] == "44" for i in range(4))


def _export_zip(path: Path) -> None:
    meta = """submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '0001'
    :email: ada@example.edu
  :created_at: 2026-11-20 10:00:00.000000000 -08:00
  :score: !ruby/object:BigDecimal 18:0.44e2
submission_102:
  :submitters:
  - :name: Alan Turing
    :sid: '0002'
    :email: alan@example.edu
  - :name: Grace Hopper
    :sid: '0003'
    :email: grace@example.edu
"""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("assignment_9_export/submission_metadata.yml", meta)
        z.writestr("assignment_9_export/submission_101/dit_assignment.py", "fine\n")
        z.writestr("assignment_9_export/submission_102/work/dit_assignment.py", "# BUG q5\n")
        z.writestr("assignment_9_export/submission_103/readme.txt", "forgot to upload\n")


def test_gradescope_export_zip_keeps_names_and_emails(tmp_path: Path) -> None:
    export = tmp_path / "export.zip"
    _export_zip(export)
    out = tmp_path / "out"
    batch.grade_batch([export], out, jobs=1, grade_fn=fake_grade, progress=False)
    rows = {r["id"]: r for r in _csv(out)}
    assert rows["submission_101"]["name"] == "Ada Lovelace"
    assert rows["submission_101"]["email"] == "ada@example.edu" and rows["submission_101"]["sid"] == "0001"
    assert rows["submission_102"]["name"] == "Alan Turing; Grace Hopper"
    assert rows["submission_102"]["q5"] == "3"
    assert rows["submission_103"]["status"].startswith("error: no .ipynb, .py or .zip")


def test_metadata_fallback_scanner() -> None:
    text = "submission_7:\n  :submitters:\n  - :name: Kim Lee\n    :email: kim@x.org\n    :sid: '42'\n"
    assert batch._scan_metadata(text) == {"submission_7": {"names": ["Kim Lee"], "emails": ["kim@x.org"],
                                                           "sids": ["42"]}}


def test_cli_prints_table_and_report_path(tmp_path: Path, monkeypatch, capsys) -> None:
    sub = _folder(tmp_path)
    # The workers are spawned processes: hand them the stand-in explicitly.
    real = batch.grade_batch
    monkeypatch.setattr(batch, "grade_batch", lambda *a, **k: real(*a, grade_fn=fake_grade, **k))
    out = sub / "out"  # inside the submissions folder: not mistaken for a submission
    rc = cli.main(["grade", str(sub), "--out", str(out), "-j", "2"])
    text = capsys.readouterr().out
    assert rc == 0
    assert re.search(r"^good\s+10\s+12\s+8\s+8\s+6\s+44$", text, re.M), text
    assert f"report:   {out / 'report.html'}" in text
    assert [r["id"] for r in _csv(out)] == ["buggy", "garbage", "good"]


@pytest.mark.slow
def test_real_grader_on_examples(tmp_path: Path) -> None:
    """The real grade_submission on a correct, a buggy and a hostile example, two warm workers."""
    ex = paths.EXAMPLES_DIR / "submissions"
    picks = ["bob_correct_unfold.py", "dave_bug_q1_token_order.py", "oscar_hangs_at_load.py"]
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in picks:
        (folder / name).write_bytes((ex / name).read_bytes())
    out = tmp_path / "out"
    batch.grade_batch([folder], out, jobs=2, progress=False)
    rows = {r["id"]: r for r in _csv(out)}
    assert rows["bob_correct_unfold"]["percent"] == "100.0", rows
    bug = rows["dave_bug_q1_token_order"]
    assert float(bug["q1"]) < 10 and all(float(bug[q]) == float(rows["bob_correct_unfold"][q]) for q in QUESTIONS[1:])
    assert rows["oscar_hangs_at_load"]["total"] == "0" and rows["oscar_hangs_at_load"]["status"] == "graded"


def test_grader_that_cannot_start_is_reported_and_retried_next_run(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "broken_grader.py").write_text(
        "def warmup():\n    raise ImportError('no sandbox on this machine')\n\n"
        "def grade(path, *, gpu=False):\n    raise AssertionError('never called')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import broken_grader

    sub = _folder(tmp_path)
    out = tmp_path / "out"
    start = time.monotonic()
    result = batch.grade_batch([sub], out, jobs=2, grade_fn=broken_grader.grade, progress=False)
    assert time.monotonic() - start < 30
    assert {g.status for g in result.rows} == {
        "error: no grading worker could be started (ImportError: no sandbox on this machine)"}
    assert not list((out / "results").glob("*.json"))  # nothing cached: the next run tries again
    again = batch.grade_batch([sub], out, jobs=2, grade_fn=fake_grade, progress=False)
    assert again.graded_now == 3
