"""report.html as a TA sees it: rendered by a real headless Chromium (through Playwright).

The batch is graded by a stand-in grade function (``fake_grade`` below, in the style of
``test_batch.fake_grade``) whose predictions echo text a student wrote, so the page carries
student-controlled strings. Skipped, with the reason, where Playwright or a Chromium cannot be found
(``.ci/run`` installs both when it runs as root with apt).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ditgrade.batch.run import grade_batch
from ditgrade.core.text import points

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

CHROMIUM = next((p for p in (os.environ.get("DITGRADE_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), shutil.which("google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")

HOSTILE = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>"


def fake_grade(path: str, *, gpu: bool = False, sub: str = "") -> dict:
    """Two tests per question; ``BUG qN`` fails one of them; the file's text is its prediction."""
    text = Path(path).read_text()
    tests = []
    from conftest import course_assignment

    for q, pts in course_assignment().points.items():
        for i in range(2):
            ok = f"BUG {q}" not in text or i == 1
            tests.append({"name": f"{q} test {i}", "score": pts / 2 if ok else 0.0, "max_score": pts / 2,
                          "status": "passed" if ok else "failed", "output": "passed" if ok else f"{q} is wrong",
                          "visibility": "visible"})
    return {"score": sum(t["score"] for t in tests), "execution_time": 0.01, "output": "", "tests": tests,
            "extra_data": {"ditgrade": {"predictions": {"Exercise 1": text}}}}


@pytest.mark.slow  # a browser and a batch (about 8 s; CI runs it with the slow ones)
def test_report_renders_links_and_never_runs_student_text(tmp_path: Path, assignment, full_marks) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ada.py").write_text("# 256 tokens\n")
    (subs / "bob.py").write_text("# BUG q2 BUG q4\n")
    (subs / "eve.py").write_text(f"# {HOSTILE}\n")
    out = tmp_path / "out"
    grade_batch([subs], out, assignment=assignment, jobs=1, grade_fn="test_report_browser.fake_grade",
                progress=False)

    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")

            # Every figure decodes to a real image (the histogram, per-question, pass rates).
            sizes = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
            assert len(sizes) >= 3 and all(ok and w > 100 and h > 100 for ok, w, h in sizes), sizes

            # Student text is shown as text and never runs.
            assert page.evaluate("window.pwned") is None
            assert HOSTILE in page.inner_text("body")

            # One row per submission, each linked to its own feedback, which opens.
            links = page.eval_on_selector_all("a[href^='feedback/']", "els => els.map(e => [e.textContent, e.href])")
            assert sorted(t for t, _ in links) == ["ada", "bob", "eve"]
            bob = dict(links)["bob"]
            page.goto(bob)
            text = page.inner_text("body")
            bob_total = full_marks - assignment.points["q2"] / 2 - assignment.points["q4"] / 2
            assert "q2 is wrong" in text and "q4 is wrong" in text and f"{points(bob_total)} / {points(full_marks)}" in text
            assert not errors, errors

            # Pass-rate bars are coloured by rate: the failing tests' bars differ from the passing ones'.
            page.goto((out / "report.html").as_uri())
            colours = page.eval_on_selector_all(
                "span.bar", "els => els.map(e => [e.closest('tr').cells[0].textContent, getComputedStyle(e).backgroundColor])")
            by_test = dict(colours)
            assert by_test["q2 test 0"] != by_test["q2 test 1"], by_test
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    # A real picture: a PNG of the whole page, taller than one screen.
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    height = int.from_bytes(shot[20:24], "big")
    assert height > 900, height
    assert re.search(r"ada|bob|eve", (out / "grades.csv").read_text())


@pytest.mark.slow  # a browser's layout (about 6 s; CI runs it with the slow ones)
def test_the_scores_table_fits_a_1400_px_window(tmp_path: Path, assignment) -> None:
    """Long names, emails and submission times: the scores table fits a 1400 px window (and were
    it wider, it would scroll in its own box: the page never scrolls sideways)."""
    import zipfile

    meta = "".join(f"submission_{i}:\n  :submitters:\n  - :name: Maximiliana Wilhelmina von Hohenzollern-Sigmaringen {i}\n"
                   f"    :sid: '2026{i:06d}'\n    :email: maximiliana.wilhelmina.hohenzollern{i}@students.example.edu\n"
                   "  :created_at: 2026-11-20 10:00:00.123456789 -08:00\n  :late: true\n" for i in range(6))
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as z:
        z.writestr("e/submission_metadata.yml", meta)
        for i in range(6):
            z.writestr(f"e/submission_{i}/dit_assignment.py", "# BUG q3\n")
    out = tmp_path / "out"
    grade_batch([export], out, assignment=assignment, jobs=1, grade_fn="test_report_browser.fake_grade",
                progress=False)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            width = page.evaluate("document.documentElement.scrollWidth")
            right = page.eval_on_selector("table.scores", "e => e.getBoundingClientRect().right")
        finally:
            browser.close()
    assert width <= 1400 and right <= 1400, (width, right)
