"""What ``ditgrade audit`` leaves for the instructor: the terminal summary and ``audit.html``.

The page (written beside a batch's report.html when given the same folder) shows the kill rate per
question and per function, then every survivor with its change (old line, new line): the unreviewed
ones first, each with a ready entry for the reviewed file, then the reviewed ones with their
reasons, then the reviewed entries that no longer match a survivor.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path

from . import audit_review
from .audit import KILLED, Audit, MutantResult, Verdict, rates

_STYLE = ("<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
          "td.n{text-align:right}pre{background:#f6f6f6;padding:.4em;margin:.2em 0;white-space:pre-wrap}"
          ".del{color:#a00}.add{color:#070}.bar{display:inline-block;height:.8em;background:#4a4}</style>")


def _pct(killed: int, total: int) -> str:
    return f"{100 * killed / total:.1f}%" if total else "-"


def rate_lines(audit: Audit) -> list[str]:
    """The terminal table: kill rate per question, then per function."""
    out = [f"{'question / function':<34}{'mutants':>8}{'killed':>8}{'survived':>9}{'rate':>8}"]
    for label, by in (("question", lambda m: m.question or "(none)"), ("function", lambda m: m.function)):
        for group, n, k, s in rates(audit.mutants, by):
            out.append(f"{(group if label == 'question' else '  ' + group):<34}{n:>8}{k:>8}{s:>9}{_pct(k, n):>8}")
    n = len(audit.mutants)
    k = sum(m.status == KILLED for m in audit.mutants)
    out.append(f"{'all':<34}{n:>8}{k:>8}{sum(m.status == 'survived' for m in audit.mutants):>9}{_pct(k, n):>8}")
    return out


def _change(m: MutantResult) -> str:
    e = html.escape
    return (f"<pre><span class=del>- {e(m.old)}</span>\n<span class=add>+ {e(m.new)}</span></pre>")


def _where(m: MutantResult) -> str:
    return f"{m.function} (line {m.line}, {m.question or 'no question'})"


def page(audit: Audit, verdict: Verdict, title: str) -> str:
    e = html.escape
    n = len(audit.mutants)
    killed = sum(m.status == KILLED for m in audit.mutants)
    parts = ["<!doctype html><html><head><meta charset='utf-8'>", f"<title>{e(title)}: mutation audit</title>",
             _STYLE, f"</head><body><h1>{e(title)}: mutation audit</h1>"]
    summary = [("tool", audit.tool), ("reference", audit.reference), ("mutants", n), ("killed", killed),
               ("kill rate", _pct(killed, n)), ("reviewed as equivalent", len(verdict.reviewed)),
               ("unreviewed survivors", len(verdict.survivors)), ("could not be graded", len(verdict.errors)),
               ("graded", f"{audit.seconds:g} s on {audit.workers} worker(s)" if not audit.reused
                else f"reused from {audit.reused} (nothing it depends on changed)"),
               ("verdict", "passes the release gate" if verdict.passed else "the release gate refuses")]
    parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in summary)
                 + "</table>")
    for caption, by in (("Per question", lambda m: m.question or "(none)"), ("Per function", lambda m: m.function)):
        parts.append(f"<h2>{caption}</h2><table><tr><th></th><th>mutants</th><th>killed</th><th>survived</th>"
                     "<th>kill rate</th></tr>")
        for group, total, k, s in rates(audit.mutants, by):
            width = int(120 * k / total) if total else 0
            parts.append(f"<tr><td>{e(group)}</td><td class=n>{total}</td><td class=n>{k}</td><td class=n>{s}</td>"
                         f"<td>{_pct(k, total)} <span class=bar style='width:{width}px'></span></td></tr>")
        parts.append("</table>")
    parts.append(f"<h2>Unreviewed survivors ({len(verdict.survivors)})</h2>")
    if verdict.survivors:
        parts.append("<p>No hidden test tells these from the reference. Close the gap with a hidden test, or, if "
                     "the mutant is equivalent or allowed by the task text, add its entry (with a one-line reason) "
                     f"to <code>{e(str(audit_review.FILE))}</code> in the grading folder.</p>")
    for m in verdict.survivors:
        entry = audit_review.entry(m.operator, m.function, m.old, m.new)
        parts.append(f"<h3>{e(_where(m))}: {e(m.operator)}</h3>{_change(m)}"
                     f"<details><summary>entry for the reviewed file</summary><pre>{e(entry)}</pre></details>")
    parts.append(f"<h2>Reviewed survivors ({len(verdict.reviewed)})</h2><table>"
                 "<tr><th>where</th><th>operator</th><th>change</th><th>reason</th></tr>")
    for m, review in verdict.reviewed:
        parts.append(f"<tr><td>{e(_where(m))}</td><td>{e(m.operator)}</td><td>{_change(m)}</td>"
                     f"<td>{e(review.reason)}</td></tr>")
    parts.append("</table>")
    if verdict.stale:
        parts.append(f"<h2>Reviewed entries that match no survivor ({len(verdict.stale)})</h2><p>Killed now, or "
                     "their code changed: remove them.</p><ul>")
        parts += [f"<li>{e(r.function)}: {e(r.operator)}: <code>{e(r.new)}</code></li>" for r in verdict.stale]
        parts.append("</ul>")
    if verdict.errors:
        parts.append(f"<h2>Could not be graded ({len(verdict.errors)})</h2><ul>")
        parts += [f"<li>{e(_where(m))}: {e(m.operator)}: {e(m.by)}</li>" for m in verdict.errors]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write(audit: Audit, verdict: Verdict, out: Path, title: str) -> dict[str, Path]:
    """``out/audit.html`` and ``out/audit.json`` (every mutant, for scripts)."""
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / "audit.html"
    html_path.write_text(page(audit, verdict, title))
    json_path = out / "audit.json"
    json_path.write_text(json.dumps({"tool": audit.tool, "reference": audit.reference, "seconds": audit.seconds,
                                     "workers": audit.workers, "reused": audit.reused, "passed": verdict.passed,
                                     "mutants": [asdict(m) for m in audit.mutants]}, indent=1) + "\n")
    return {"html": html_path, "json": json_path}
