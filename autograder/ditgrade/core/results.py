"""Gradescope's results.json: what students see, what only staff see, and the terminal summary.

Students read the top-level ``output`` and every test whose visibility allows it: the public checks
(``public_test_visibility``), the hidden tests (``hidden_test_visibility``), their own problems
(syntax errors, lines that failed or were not run) and, before grades are published, how many
hidden tests there are. Staff also get a test entry visible to them only ("staff: ...") and
``extra_data.ditgrade``: the sandbox's protections, the student's printed output, per-question
scores. Every string is cleaned of control characters (``ditgrade.core.text``).
"""

from __future__ import annotations

from typing import Any

from .suite import TestResult, question_of, question_scores
from .text import clean_tree

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


def build_results(results: list[TestResult], *, cfg: dict[str, Any], seconds: float, student_notes: list[str],
                  sandbox: dict[str, Any], gpu: bool, gpu_note: str = "", stdout: str = "",
                  fingerprint: str = "", unreadable: str = "", graded_file: str = "") -> dict[str, Any]:
    """The results.json dict. ``student_notes`` are for the student (what was not run and why);
    ``unreadable`` says why the file could not be read at all (then no test ran)."""
    tests = []
    for r in results:
        visibility = cfg["public_test_visibility"] if r.public else cfg["hidden_test_visibility"]
        tests.append({"name": r.name, "score": round(r.score, 4), "max_score": round(r.max_score, 4),
                      "status": "passed" if r.passed else "failed", "output": r.output, "visibility": visibility})
    staff = [protection_summary(sandbox.get("protections", {}))]
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

    lines = ([f"This submission could not be graded: {unreadable}. Upload the assignment's notebook "
              f"(.ipynb) as saved by Jupyter or Colab."] if unreadable else []) + list(student_notes)
    hidden = [r for r in results if not r.public]
    if hidden and cfg["hidden_test_visibility"] != "visible":
        shown = {"after_published": "when grades are published", "after_due_date": "after the due date",
                 "hidden": "never (staff only)"}[cfg["hidden_test_visibility"]]
        lines.append(f"{len(hidden)} hidden tests ({sum(r.max_score for r in hidden):g} points) were run; "
                     f"their results will be shown {shown}.")
    data = {
        "score": round(sum(r.score for r in results), 4),
        "execution_time": round(seconds, 2),
        "output": "\n".join(lines),
        "stdout_visibility": cfg["stdout_visibility"],
        "tests": tests,
        "extra_data": {"ditgrade": {
            "questions": {q: {"score": round(s, 4), "max_score": round(m, 4)}
                          for q, (s, m) in question_scores(results).items()},
            "sandbox": sandbox, "student_output": stdout, "gpu": gpu, "fingerprint": fingerprint,
            "unreadable": unreadable, "graded_file": graded_file,
        }},
    }
    return clean_tree(data)


def error_results(message: str, *, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid results.json when the grader itself failed: score 0 and a message for staff."""
    return clean_tree({
        "score": 0.0,
        "execution_time": 0.0,
        "output": "The autograder itself failed; this is not a judgement of your work. Please tell the course "
                  "staff.",
        "stdout_visibility": (cfg or {}).get("stdout_visibility", "hidden"),
        "tests": [{"name": STAFF_TEST, "score": 0.0, "max_score": 0.0, "status": "failed",
                   "output": f"grader error: {message}", "visibility": "hidden"}],
        "extra_data": {"ditgrade": {"grader_error": message}},
    })


def graded_tests(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The tests of a results dict that carry the grade (the staff entry left out)."""
    return [t for t in data.get("tests") or [] if isinstance(t, dict) and t.get("name") != STAFF_TEST]


def summary(data: dict[str, Any], questions: list[str] | None = None) -> str:
    """Per question: score/max and its first failing test; then the total and the student's notes."""
    by_q: dict[str, list[dict]] = {}
    for t in graded_tests(data):
        by_q.setdefault(question_of(str(t.get("name", ""))), []).append(t)
    rows = []
    for q in questions or list(by_q):
        tests = by_q.get(q, [])
        if not tests:
            continue
        score, top = sum(float(t["score"]) for t in tests), sum(float(t["max_score"]) for t in tests)
        failed = next((t for t in tests if t["status"] != "passed"), None)
        first = "" if failed is None else f"  first failure: {failed['name']}: {str(failed['output']).splitlines()[0][:140]}"
        rows.append(f"{q}  {score:5.1f}/{top:<5.1f}{first}")
    total = sum(float(t["max_score"]) for t in graded_tests(data))
    rows.append(f"total {float(data.get('score', 0)):.1f}/{total:.1f} in {float(data.get('execution_time', 0)):.1f} s")
    if data.get("output"):
        rows.append(str(data["output"]))
    grader_error = (data.get("extra_data") or {}).get("ditgrade", {}).get("grader_error")
    if grader_error:
        rows.append(f"grader error: {grader_error}")
    return "\n".join(rows)
