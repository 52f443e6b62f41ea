"""What a batch leaves for the TA: feedback/<id>.txt, the terminal table, report.html, the CSV files.

Feedback files are what a student may be sent once grades are out: the file graded, scores, their
own problems and every test's result (staff-only tests aside), nothing of the sandbox or the staff
notes; for a file that could not be read, what is wrong with it instead. report.html: the summary,
a score histogram, mean score per question, each test's pass rate (bars coloured by rate), every
submission linked to its feedback, the unreadable ones with their reasons, and the students'
written PREDICT answers for manual reading. Statistics count graded rows only: an unreadable file or
a grader failure is not a score of 0.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.results import after_grading
from ..core.text import clean, one_line, points
from .tables import UploadFile, max_total, write_tables

if TYPE_CHECKING:
    from ..core.assignment import Assignment
    from .row import Row

_MAX_TEST_OUTPUT = 4000  # characters of one test's output in a feedback file


def feedback_text(g: Row) -> str:
    """A readable account of one submission's grade: the file, totals, per question, then every
    test a student may see; for an unreadable file, why it could not be read."""
    r = g.results
    score, maximum = r.score, r.max_score
    lines = [f"Submission: {g.sub.id}"]
    if g.sub.file_name:
        lines.append(f"File:       {g.sub.file_name}")
    names = "; ".join(p.name for p in g.sub.people if p.name)
    if names:
        emails = "; ".join(p.email for p in g.sub.people if p.email)
        lines.append(f"Student:    {names}" + (f" <{emails}>" if emails else ""))
    if g.sub.note:
        lines.append(f"Note:       {g.sub.note}")
    reason = r.unreadable or (g.reason if g.kind == "unreadable" else "")
    if reason:
        lines += ["Score:      not graded", "",
                  f"Your submission could not be read, so nothing was graded: {reason}.",
                  "Please check the file you uploaded and submit it again."]
        return clean("\n".join(lines) + "\n")
    lines.append(f"Score:      {points(score)} / {points(maximum)}" if maximum else f"Score:      {points(score)}")
    if not g.graded:
        lines.append(f"Status:     {g.status}")
    per_q = r.questions()
    if per_q:
        lines.append("")
        lines += [f"  {q:<6}{points(s):>8} / {points(m)}" for q, (s, m) in per_q.items()]
    tests = [t for t in r.tests if t.visibility != "hidden"]  # "hidden": staff only, never sent
    staff_only = len(r.tests) - len(tests)
    if r.output:
        lines += ["", after_grading(r.output).rstrip()]
    if tests:
        lines += ["", "Tests:"]
    for t in tests:
        mark = "PASS" if t.passed else "FAIL"
        lines.append(f"[{mark}] {t.name}  ({points(t.score)}/{points(t.max_score)})")
        out = t.output.strip()
        if out and out != "passed":
            lines += [textwrap.indent(out[:_MAX_TEST_OUTPUT], "       "), ""]
    if staff_only:
        lines += ["", f"{staff_only} test{' is' if staff_only == 1 else 's are'} for the course staff only, not listed here."]
    return clean("\n".join(lines).rstrip() + "\n")


def score_table(rows: list[Row], questions: list[str], width: int = 28) -> str:
    """The compact terminal table: submission, per-question scores, total (and the status when not
    graded, on one line: it may quote a student's message)."""
    maxima: dict[str, float] = {}
    for g in rows:
        for q, (_, m) in g.results.questions().items():
            maxima[q] = max(maxima.get(q, 0.0), m)
    head = f"{'submission':<{width}}" + "".join(f"{q:>7}" for q in questions) + f"{'total':>9}"
    lines = [head, f"{'(max)':<{width}}" + "".join(f"{points(maxima.get(q, 0)):>7}" for q in questions)
             + f"{points(max_total(rows)):>9}", "-" * len(head)]
    for g in rows:
        per_q = g.results.questions()
        name = g.sub.id if len(g.sub.id) <= width - 1 else g.sub.id[: width - 2] + "~"
        if g.kind == "unreadable":
            line = f"{name:<{width}}" + "".join(f"{'-':>7}" for _ in questions) + f"{'-':>9}"
        else:
            line = f"{name:<{width}}" + "".join(f"{points(per_q.get(q, (0, 0))[0]):>7}" for q in questions)
            line += f"{points(g.results.score):>9}"
        if not g.graded:
            line += "  " + one_line(g.status, 70)
        lines.append(one_line(line))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# report.html
# ---------------------------------------------------------------------------------------------


def test_pass_rates(rows: list[Row]) -> list[tuple[str, int, int]]:
    """[(test name, passed, attempted)] over the graded rows, in first-seen order."""
    stats: dict[str, list[int]] = {}
    for g in rows:
        for t in g.results.tests:
            entry = stats.setdefault(t.name, [0, 0])
            entry[0] += int(t.passed)
            entry[1] += 1
    return [(name, p, n) for name, (p, n) in stats.items()]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _rate_colour(rate: float) -> str:
    """Red for tests most submissions fail, amber in between, green for those most pass."""
    return "#c44e52" if rate < 0.5 else ("#dd8452" if rate < 0.8 else "#55a868")


def _figures(rows: list[Row], rates: list[tuple[str, int, int]], questions: list[str]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figs = []
    fallback = max_total(rows)
    percents = []
    for g in rows:
        s, m = g.results.score, g.results.max_score
        m = m or fallback
        percents.append(100 * s / m if m else 0.0)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(percents, bins=[i * 5 for i in range(21)], color="#4c72b0", edgecolor="white")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("score (%)")
    ax.set_ylabel("submissions")
    ax.set_title(f"Score distribution ({len(rows)} submissions)")
    figs.append(("Score histogram", _png(fig)))
    plt.close(fig)

    means = []
    for q in questions:
        vals = [g.results.questions().get(q) for g in rows if g.results.tests]
        vals = [100 * s / m for s, m in (v for v in vals if v) if m]
        means.append(statistics.fmean(vals) if vals else 0.0)
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar(questions, means, color="#55a868")
    ax.set_ylim(0, 100)
    ax.set_ylabel("mean score (%)")
    ax.set_title("Mean score per question (graded submissions)")
    figs.append(("Mean score per question", _png(fig)))
    plt.close(fig)

    if rates:
        fig, ax = plt.subplots(figsize=(9, 0.28 * len(rates) + 1.0))
        labels = [n if len(n) <= 70 else n[:68] + "…" for n, _, _ in rates]
        values = [p / n if n else 0.0 for _, p, n in rates]
        ax.barh(range(len(rates)), [100 * v for v in values], color=[_rate_colour(v) for v in values])
        ax.set_yticks(range(len(rates)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("submissions passing (%)")
        ax.set_title("Pass rate per test")
        figs.append(("Pass rate per test", _png(fig)))
        plt.close(fig)
    return figs


_CSS = ("body{font-family:sans-serif;max-width:1340px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        "td.n{text-align:right}.bar{display:inline-block;height:.8em}blockquote{margin:.2em 1em;color:#333}"
        # the scores table has a column per question and per student detail: it scrolls inside its own
        # box instead of running off the window, and long cells wrap
        ".scroll{overflow-x:auto;max-width:100%}.scores{font-size:85%}"
        ".scores td{white-space:nowrap}.scores td.long{white-space:normal;min-width:8em;max-width:16em;"
        "overflow-wrap:anywhere}")


def report_html(rows: list[Row], notes: list[str], questions: list[str], title: str) -> str:
    from .tables import grades_table

    graded = [g for g in rows if g.graded]
    unreadable = [g for g in rows if g.kind == "unreadable"]
    errors = [g for g in rows if g.kind == "error"]
    rates = test_pass_rates(graded)
    totals = [g.results.score for g in graded]
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}: grading report</title>",
             f"<style>{_CSS}</style>", f"</head><body><h1>{e(title)}: grading report</h1>"]
    summary = [("submissions", len(rows)), ("graded", len(graded)), ("unreadable", len(unreadable)),
               ("not graded (grader failures)", len(errors)), ("maximum score", points(max_total(rows)))]
    if totals:
        summary += [("mean (graded)", points(statistics.fmean(totals))),
                    ("median (graded)", points(statistics.median(totals))),
                    ("min (graded)", points(min(totals))), ("max (graded)", points(max(totals)))]
    parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td class=n>{e(str(v))}</td></tr>" for k, v in summary)
                 + "</table>")
    if unreadable:
        parts.append("<h2>Unreadable submissions (not in the statistics or the upload files)</h2><ul>"
                     + "".join(f"<li><a href='feedback/{e(g.sub.id)}.txt'>{e(g.sub.id)}</a>: {e(g.reason)}</li>"
                               for g in unreadable) + "</ul>")
    for caption, data in _figures(graded, rates, questions):
        parts.append(f"<h2>{e(caption)}</h2><img alt='{e(caption)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Tests</h2><table><tr><th>test</th><th>passed</th><th>rate</th></tr>")
    for name, p, n in rates:
        rate = p / n if n else 0.0
        parts.append(f"<tr><td>{e(name)}</td><td class=n>{p}/{n}</td><td class=n>{100 * rate:.0f}% "
                     f"<span class=bar style='width:{60 * rate:.0f}px;background:{_rate_colour(rate)}'></span></td></tr>")
    header, body = grades_table(rows, questions)
    parts.append("</table><h2>Scores</h2><div class=scroll><table class=scores><tr>"
                 + "".join(f"<th>{e(c)}</th>" for c in header) + "</tr>")
    sub_col = header.index("submission")
    long_cols = {header.index(c) for c in ("name", "email", "submitted_at", "status")}
    for row in body:
        cells = []
        for i, c in enumerate(row):
            if i == sub_col:
                cells.append(f"<td><a href='feedback/{e(c)}.txt'>{e(c)}</a></td>")
            else:
                cells.append(f"<td class=long>{e(c)}</td>" if i in long_cols else f"<td>{e(c)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></div>")
    predictions = [(g, g.results.info.get("predictions") or {}) for g in rows]
    predictions = [(g, p) for g, p in predictions if p]
    if predictions:
        parts.append("<h2>Written predictions (for reading, not graded)</h2>")
        for g, answers in predictions:
            who = "; ".join(p.name for p in g.sub.people if p.name) or g.sub.id
            parts.append(f"<h3>{e(who)}</h3>")
            for label, text in answers.items():
                parts.append(f"<p><b>{e(str(label))}</b></p><blockquote>{e(str(text)).replace(chr(10), '<br>')}</blockquote>")
    if notes:
        parts.append("<h2>Notes on the inputs</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>\n")
    return clean("\n".join(parts))


def write_all(out: Path, rows: list[Row], notes: list[str], assignment: Assignment, *,
              canvas_assignment_id: int | None = None) -> dict[str, UploadFile]:
    """The CSV files and report.html (results/ and feedback/ are written as submissions finish);
    the CSV files as written (``tables.write_tables``)."""
    files = write_tables(out, rows, assignment.question_ids, assignment.title,
                         canvas_assignment_id=canvas_assignment_id)
    # report_html cleans what it holds; errors="replace" is the backstop against text no UTF-8 file can hold
    (out / "report.html").write_text(report_html(rows, notes, assignment.question_ids, assignment.title),
                                     encoding="utf-8", errors="replace")
    return files
