"""What a batch leaves for the TA: grades.csv, feedback/<id>.txt, report.html and a terminal table.

Everything here reads Gradescope results dicts (``score``, ``tests[]`` with ``name``, ``score``,
``max_score``, ``output``); a test's question is the first word of its name (``q1 ...``).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import statistics
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from .suite import QUESTIONS

if TYPE_CHECKING:
    from .batch import Graded

_MAX_TEST_OUTPUT = 4000  # characters of one test's output in a feedback file
CSV_COLUMNS = ("id", "name", "email", "sid", *QUESTIONS, "total", "percent", "status")


def question_of(test: dict) -> str:
    m = re.match(r"\s*(q\d+)\b", str(test.get("name", "")))
    return m.group(1) if m else "other"


def _num(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def question_table(results: dict) -> dict[str, tuple[float, float]]:
    """{question: (score, max_score)} from a results dict's tests."""
    out: dict[str, tuple[float, float]] = {}
    for t in results.get("tests") or []:
        q = question_of(t)
        s, m = out.get(q, (0.0, 0.0))
        out[q] = (s + _num(t.get("score")), m + _num(t.get("max_score")))
    return out


def total_of(results: dict) -> tuple[float, float]:
    """(score, max_score): Gradescope's top-level score wins over the tests' sum when present."""
    per_q = question_table(results)
    maximum = sum(m for _, m in per_q.values())
    score = results.get("score")
    return (_num(score) if score is not None else sum(s for s, _ in per_q.values())), maximum


def _max_total(rows: list[Graded]) -> float:
    """The assignment's total, for rows without tests (errors): the largest total seen in the batch."""
    return max((total_of(g.results)[1] for g in rows), default=0.0)


def csv_rows(rows: list[Graded]) -> list[dict[str, str]]:
    fallback = _max_total(rows)
    table = []
    for g in rows:
        per_q = question_table(g.results)
        score, maximum = total_of(g.results)
        maximum = maximum or fallback
        row = {"id": g.sub.id, "name": "; ".join(g.sub.names), "email": "; ".join(g.sub.emails),
               "sid": "; ".join(g.sub.sids)}
        for q in QUESTIONS:
            row[q] = f"{per_q.get(q, (0.0, 0.0))[0]:g}"
        row["total"] = f"{score:g}"
        row["percent"] = f"{100 * score / maximum:.1f}" if maximum else "0.0"
        row["status"] = g.status.replace("\n", " ")[:300]
        table.append(row)
    return table


def write_csv(path: Path, rows: list[Graded]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(rows))


def feedback_text(g: Graded) -> str:
    """A readable account of one submission's grading: totals, per question, then every test."""
    r = g.results
    score, maximum = total_of(r)
    lines = [f"Submission: {g.sub.id}"]
    if g.sub.names:
        lines.append(f"Student:    {'; '.join(g.sub.names)}"
                     + (f" <{'; '.join(e for e in g.sub.emails if e)}>" if any(g.sub.emails) else ""))
    lines.append(f"Score:      {score:g} / {maximum:g}" if maximum else f"Score:      {score:g}")
    if g.status != "graded":
        lines.append(f"Status:     {g.status}")
    per_q = question_table(r)
    if per_q:
        lines.append("")
        lines += [f"  {q:<6}{s:>6g} / {m:g}" for q, (s, m) in sorted(per_q.items())]
    if r.get("output"):
        lines += ["", str(r["output"]).rstrip()]
    tests = r.get("tests") or []
    if tests:
        lines += ["", "Tests:"]
    for t in tests:
        s, m = _num(t.get("score")), _num(t.get("max_score"))
        mark = "PASS" if m and s >= m else ("PART" if s > 0 else "FAIL")
        lines.append(f"[{mark}] {t.get('name', '?')}  ({s:g}/{m:g})")
        out = str(t.get("output") or "").strip()
        if out and out != "passed":
            lines += [textwrap.indent(out[:_MAX_TEST_OUTPUT], "       "), ""]
    return "\n".join(lines).rstrip() + "\n"


def score_table(rows: list[Graded], width: int = 28) -> str:
    """The compact terminal table: submission, q1..q5, total (and the status when not graded)."""
    maxima: dict[str, float] = {}
    for g in rows:
        for q, (_, m) in question_table(g.results).items():
            maxima[q] = max(maxima.get(q, 0.0), m)
    total_max = _max_total(rows)
    head = f"{'submission':<{width}}" + "".join(f"{q:>7}" for q in QUESTIONS) + f"{'total':>9}"
    lines = [head, f"{'(max)':<{width}}" + "".join(f"{maxima.get(q, 0):>7g}" for q in QUESTIONS)
             + f"{total_max:>9g}", "-" * len(head)]
    for g in rows:
        per_q = question_table(g.results)
        name = g.sub.id if len(g.sub.id) <= width - 1 else g.sub.id[: width - 2] + "~"
        line = f"{name:<{width}}" + "".join(f"{per_q.get(q, (0, 0))[0]:>7g}" for q in QUESTIONS)
        line += f"{total_of(g.results)[0]:>9g}"
        if g.status != "graded":
            line += "  " + g.status[:60]
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# report.html
# ---------------------------------------------------------------------------------------------


def test_pass_rates(rows: list[Graded]) -> list[tuple[str, int, int]]:
    """[(test name, passed, attempted)] over the rows that were graded, in first-seen order."""
    stats: dict[str, list[int]] = {}
    for g in rows:
        for t in g.results.get("tests") or []:
            s, m = _num(t.get("score")), _num(t.get("max_score"))
            entry = stats.setdefault(str(t.get("name", "?")), [0, 0])
            entry[0] += int(m > 0 and s >= m)
            entry[1] += 1
    return [(name, p, n) for name, (p, n) in stats.items()]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _figures(rows: list[Graded], rates: list[tuple[str, int, int]]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figs = []
    fallback = _max_total(rows)
    percents = []
    for g in rows:
        s, m = total_of(g.results)
        m = m or fallback
        percents.append(100 * s / m if m else 0.0)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist(percents, bins=[i * 5 for i in range(21)], color="#4c72b0", edgecolor="white")
    ax.set_xlabel("score (%)")
    ax.set_ylabel("submissions")
    ax.set_title(f"Score distribution ({len(rows)} submissions)")
    figs.append(("Score histogram", _png(fig)))
    plt.close(fig)

    means = []
    for q in QUESTIONS:
        vals = [question_table(g.results).get(q) for g in rows if g.results.get("tests")]
        vals = [100 * s / m for s, m in (v for v in vals if v) if m]
        means.append(statistics.fmean(vals) if vals else 0.0)
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar(QUESTIONS, means, color="#55a868")
    ax.set_ylim(0, 100)
    ax.set_ylabel("mean score (%)")
    ax.set_title("Mean score per question (graded submissions)")
    figs.append(("Mean score per question", _png(fig)))
    plt.close(fig)

    if rates:
        fig, ax = plt.subplots(figsize=(9, 0.28 * len(rates) + 1.0))
        labels = [n if len(n) <= 70 else n[:68] + "…" for n, _, _ in rates]
        ax.barh(range(len(rates)), [100 * p / n if n else 0 for _, p, n in rates], color="#c44e52")
        ax.set_yticks(range(len(rates)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("submissions passing (%)")
        ax.set_title("Pass rate per hidden test")
        figs.append(("Pass rate per test", _png(fig)))
        plt.close(fig)
    return figs


def report_html(rows: list[Graded], notes: list[str]) -> str:
    rates = test_pass_rates(rows)
    fallback = _max_total(rows)
    totals = [total_of(g.results)[0] for g in rows]
    errors = [g for g in rows if g.status != "graded"]
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>ditgrade report</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}td.n{text-align:right}</style>",
             "</head><body><h1>DiT assignment: batch grading report</h1>"]
    summary = [("submissions", len(rows)), ("graded", len(rows) - len(errors)), ("not graded", len(errors)),
               ("maximum score", f"{fallback:g}")]
    if totals:
        summary += [("mean", f"{statistics.fmean(totals):.2f}"), ("median", f"{statistics.median(totals):g}"),
                    ("min", f"{min(totals):g}"), ("max", f"{max(totals):g}")]
    parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td class=n>{e(str(v))}</td></tr>" for k, v in summary)
                 + "</table>")
    for title, data in _figures(rows, rates):
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{data}'>")
    parts.append("<h2>Hidden tests</h2><table><tr><th>test</th><th>passed</th><th>rate</th></tr>")
    for name, p, n in rates:
        parts.append(f"<tr><td>{e(name)}</td><td class=n>{p}/{n}</td><td class=n>{100 * p / n if n else 0:.0f}%</td></tr>")
    parts.append("</table><h2>Scores</h2><table><tr>" + "".join(f"<th>{c}</th>" for c in CSV_COLUMNS) + "</tr>")
    for row in csv_rows(rows):
        parts.append("<tr>" + "".join(f"<td>{e(row[c])}</td>" for c in CSV_COLUMNS) + "</tr>")
    parts.append("</table>")
    if notes:
        parts.append("<h2>Skipped inputs</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_all(out: Path, rows: list[Graded], notes: list[str]) -> None:
    """grades.csv and report.html (results/ and feedback/ are written as submissions finish)."""
    write_csv(out / "grades.csv", rows)
    (out / "report.html").write_text(report_html(rows, notes))
