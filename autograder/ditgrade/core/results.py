"""Gradescope's results.json: what students see, what only staff see, and the terminal summary.

Students read the top-level ``output`` and every test whose visibility allows it: the public checks
(``public_test_visibility``), the hidden tests (``hidden_test_visibility``), their own problems
(syntax errors, lines that failed or were not run) and, before grades are published, how many
hidden tests there are. Staff also get a test entry visible to them only ("staff: ...") and
``extra_data.ditgrade``: the sandbox's protections, the student's printed output, per-question
scores. Every string is cleaned of control characters (``ditgrade.core.text``).

A submission that could not be read at all (an empty file, a truncated notebook, bytes that are not
text) is not a grade of 0 but "unreadable": ``extra_data.ditgrade.unreadable`` holds the reason,
written for the student ("the file is empty"), and its tests may be absent (``unreadable_results``,
``unreadable_reason``). ``summary`` is what a TA's terminal shows of a results dict: the student's
own text only on marked lines, the grader's total always the last line.
"""

from __future__ import annotations

import re
from typing import Any

from ..config import Settings
from .suite import TestResult, question_of, question_scores
from .text import STUDENT_MARK, clean_tree, one_line, points

# The line that tells students about the hidden tests before they may see them (build_results); a
# TA's feedback file, sent after grading with every result listed, says instead HIDDEN_LISTED.
HIDDEN_NOTE = "{count} hidden tests ({points} points) were run; their results will be shown {when}."
HIDDEN_LISTED = "{count} hidden tests ({points} points) were run; their results are listed below."
HIDDEN_WHEN = {"after_published": "when grades are published", "after_due_date": "after the due date",
               "hidden": "never (staff only)"}

STAFF_TEST = "staff: how this submission was graded"
PROTECTION_KEYS = ("separate_process", "pid_namespace", "mount_isolation", "private_tmp", "network_namespace",
                   "ipc_namespace", "uid_drop", "no_new_privs", "landlock", "seccomp_allowlist", "audit_hook")


def protection_summary(prot: dict[str, Any]) -> str:
    active = [k for k in PROTECTION_KEYS if prot.get(k)]
    inactive = [k for k in PROTECTION_KEYS if not prot.get(k)]
    line = f"Sandbox: {', '.join(active) or 'none'}; limits: {', '.join(prot.get('rlimits', [])) or 'none'}"
    if inactive:
        line += f"; NOT active: {', '.join(inactive)}"
    notes = prot.get("notes") or []
    return line + "." + (f" Notes: {'; '.join(notes)}" if notes else "")


def build_results(results: list[TestResult], *, cfg: Settings, seconds: float, student_notes: list[str],
                  sandbox: dict[str, Any], gpu: bool, gpu_note: str = "", stdout: str = "",
                  fingerprint: str = "", graded_file: str = "") -> dict[str, Any]:
    """The results.json dict. ``student_notes`` are for the student (what was not run and why)."""
    tests = []
    for r in results:
        visibility = cfg.public_test_visibility if r.public else cfg.hidden_test_visibility
        tests.append({"name": r.name, "score": round(r.score, 4), "max_score": round(r.max_score, 4),
                      "status": "passed" if r.passed else "failed", "output": r.output, "visibility": visibility})
    staff = [protection_summary(sandbox.get("protections", {}))]
    if sandbox.get("gpu_protections"):
        staff.append("GPU tests' worker: " + protection_summary(sandbox["gpu_protections"]))
    if gpu_note and not gpu:
        staff.append(gpu_note)
    if sandbox.get("stopped_at_load"):
        staff.append(f"Statements that stopped a worker while loading: {sandbox['stopped_at_load']}")
    if sandbox.get("given_code_problems"):
        staff.append(f"The template's given code failed in the sandbox: {sandbox['given_code_problems']}")
    if sandbox.get("deadline_reached"):
        staff.append("The grade reached its wall-clock deadline (submission_wall_s): tests after it were not run. "
                     "On a very busy machine, regrade it.")
    staff.append(f"Workers started: {sandbox.get('workers_started', 0)}.")
    tests.append({"name": STAFF_TEST, "score": 0.0, "max_score": 0.0, "status": "passed",
                  "output": "\n".join(staff), "visibility": "hidden"})

    lines = list(student_notes)
    hidden = [r for r in results if not r.public]
    if hidden and cfg.hidden_test_visibility != "visible":
        lines.append(hidden_note(len(hidden), sum(r.max_score for r in hidden), cfg.hidden_test_visibility))
    data = {
        "score": round(sum(r.score for r in results), 4),
        "execution_time": round(seconds, 2),
        "output": "\n".join(lines),
        "stdout_visibility": cfg.stdout_visibility,
        "tests": tests,
        "extra_data": {"ditgrade": {
            "questions": {q: {"score": round(s, 4), "max_score": round(m, 4)}
                          for q, (s, m) in question_scores(results).items()},
            "sandbox": sandbox, "student_output": stdout, "gpu": gpu, "fingerprint": fingerprint,
            "file": graded_file,
            "notes": list(student_notes),  # one message each: what `summary` shows a TA, one line per note
        }},
    }
    return clean_tree(data)


def hidden_note(count: int, total: float, visibility: str, *, listed: bool = False) -> str:
    """The line about ``count`` hidden tests worth ``total`` points: when students will see them, or
    (``listed``) that they are listed, for feedback sent after grading."""
    template = HIDDEN_LISTED if listed else HIDDEN_NOTE
    return template.format(count=count, points=points(total), when=HIDDEN_WHEN.get(visibility, ""))


def after_grading(output: str) -> str:
    """A results output as feedback sent after grading reads it: the line saying when the hidden
    tests will be shown says that they are listed (unless they are for staff only, and not listed)."""
    lines = output.split("\n")
    for i, line in enumerate(lines):
        match = _HIDDEN_NOTE.fullmatch(line)
        if match and match["when"] != HIDDEN_WHEN["hidden"]:
            lines[i] = HIDDEN_LISTED.format(count=match["count"], points=match["points"])
    return "\n".join(lines)


def error_results(message: str, *, cfg: Settings | None = None) -> dict[str, Any]:
    """A valid results.json when the grader itself failed: score 0 and a message for staff."""
    return clean_tree({
        "score": 0.0,
        "execution_time": 0.0,
        "output": "The autograder itself failed; this is not a judgement of your work. Please tell the course "
                  "staff.",
        "stdout_visibility": cfg.stdout_visibility if cfg else "hidden",
        "tests": [{"name": STAFF_TEST, "score": 0.0, "max_score": 0.0, "status": "failed",
                   "output": f"grader error: {message}", "visibility": "hidden"}],
        "extra_data": {"ditgrade": {"grader_error": message}},
    })


def unreadable_results(reason: str, *, cfg: Settings | None = None) -> dict[str, Any]:
    """A valid results.json for a submission that could not be read at all: score 0, no tests, and
    ``reason`` (for the student: "the file is empty") in the output and in
    ``extra_data.ditgrade.unreadable``, where the batch and ``summary`` look for it."""
    return clean_tree({
        "score": 0.0,
        "execution_time": 0.0,
        "output": f"Your submission could not be read, so nothing was graded: {reason}. Please check the file "
                  "you uploaded and submit it again.",
        "stdout_visibility": cfg.stdout_visibility if cfg else "hidden",
        "tests": [],
        "extra_data": {"ditgrade": {"unreadable": reason}},
    })


def unreadable_reason(data: dict[str, Any]) -> str:
    """Why the submission of a results dict could not be read; "" when it was read."""
    ditgrade = (data.get("extra_data") or {}).get("ditgrade") if isinstance(data, dict) else None
    reason = ditgrade.get("unreadable") if isinstance(ditgrade, dict) else None
    return str(reason) if reason else ""


def graded_tests(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The tests of a results dict that carry the grade (the staff entry left out)."""
    return [t for t in data.get("tests") or [] if isinstance(t, dict) and t.get("name") != STAFF_TEST]


def summary(data: dict[str, Any], questions: list[str] | None = None, *, verbose: bool = False,
            show_score: bool = True) -> str:
    """What a TA's terminal shows of a results dict, one line per item:

        file: <the file graded>                      when results name it
        q1      6/10    first failure: <test>: <its first message, one line>
        ...                                          (verbose: every test, PASS or FAIL, indented)
        notes (the submission's own text, one per line):
            > <a note, newlines shown as \\n>
        grader error: <one line>                     when the grader failed
        UNREADABLE: <why>: nothing was graded        when the file could not be read
        total 6/46 in 3.2 s                          always last

    Student text (test messages, notes) is only ever one line after the grader's own words or on a
    marked line, so no message, however many newlines it holds, can print a line of the grader's.
    ``show_score`` False (otter's ``print_score``) leaves the scores out."""
    ditgrade = (data.get("extra_data") or {}).get("ditgrade") or {}
    by_q: dict[str, list[dict]] = {}
    for t in graded_tests(data):
        by_q.setdefault(question_of(str(t.get("name", ""))), []).append(t)
    rows = []
    if ditgrade.get("file"):
        rows.append(f"file: {one_line(ditgrade['file'], 200)}")
    for q in questions or list(by_q):
        tests = by_q.get(q, [])
        if not tests:
            continue
        score = sum(_number(t.get("score")) for t in tests)
        top = sum(_number(t.get("max_score")) for t in tests)
        failed = next((t for t in tests if t.get("status") != "passed"), None)
        line = f"{q:<6}" + (f"{points(score) + '/' + points(top):<14}" if show_score else "")
        if failed is not None:
            line += f"first failure: {one_line(failed.get('name'), 80)}: {_first_message(failed, 100)}"
        rows.append(line.rstrip())
        if verbose:
            for t in tests:
                mark = "PASS" if t.get("status") == "passed" else "FAIL"
                rows.append(f"      {mark} {one_line(t.get('name'), 80)}"
                            + ("" if mark == "PASS" else f": {_first_message(t, 160)}"))
    notes = ditgrade.get("notes")
    if not isinstance(notes, list):  # results from before notes were kept apart: each line of the output
        notes = [line for line in str(data.get("output") or "").split("\n") if line.strip()]
    notes = [n for n in notes if not _is_hidden_note(str(n))]
    if notes:
        rows.append("notes (the submission's own text, one per line):")
        rows += [STUDENT_MARK + one_line(n, 300) for n in notes[:50]]
        if len(notes) > 50:
            rows.append(f"{STUDENT_MARK}({len(notes) - 50} more notes in results.json)")
    if ditgrade.get("grader_error"):
        rows.append(f"grader error: {one_line(ditgrade['grader_error'], 500)}")
    reason = unreadable_reason(data)
    if reason:
        rows.append(f"UNREADABLE: {one_line(reason, 200)}: nothing was graded")
    total = sum(_number(t.get("max_score")) for t in graded_tests(data))
    score = f" {points(data.get('score', 0))}/{points(total)}" if show_score else ""
    rows.append(f"total{score} in {_number(data.get('execution_time')):.1f} s")
    return "\n".join(rows)


def _number(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _first_message(test: dict[str, Any], limit: int) -> str:
    """The first non-empty line of a test's output, on one line, cut at a word."""
    lines = [line for line in str(test.get("output") or "").split("\n") if line.strip()]
    return one_line(lines[0] if lines else "(no message)", limit)


def _is_hidden_note(line: str) -> bool:
    """The students' line about hidden tests (``hidden_note``; a TA's terminal shows every test)."""
    return _HIDDEN_NOTE.fullmatch(line) is not None


_HIDDEN_NOTE = re.compile(re.escape(HIDDEN_NOTE).replace(re.escape("{count}"), r"(?P<count>\d+)")
                          .replace(re.escape("{points}"), r"(?P<points>[0-9.]+)")
                          .replace(re.escape("{when}"), r"(?P<when>[^.]*)"))
