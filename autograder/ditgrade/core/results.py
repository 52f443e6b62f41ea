"""A submission's grade (``Grade``, its tests ``TestOutcome``), and Gradescope's results.json, which
is ``Grade.to_gradescope()``: what students see, what only staff see, and the terminal summary.

Students read the top-level ``output`` and every test whose visibility allows it: the public checks
(``public_test_visibility``), the hidden tests (``hidden_test_visibility``), their own problems
(syntax errors, lines that failed or were not run) and, before grades are published, how many
hidden tests there are. Staff also get a test entry visible to them only ("staff: ...") and
``extra_data.ditgrade``: the sandbox's protections, the student's printed output, per-question
scores. Every string is cleaned of control characters (``ditgrade.core.text``).

A submission that could not be read at all (an empty file, a truncated notebook, bytes that are not
text) is not a grade of 0 but "unreadable": ``extra_data.ditgrade.unreadable`` holds the reason,
written for the student ("the file is empty"), and its tests may be absent (``unreadable_results``,
``Grade.unreadable``). Each test keeps its kind (passed, failed, not_implemented, timeout, crash ...)
under its ``extra_data``, so that tools judge it without reading its English. ``summary`` is what a
TA's terminal shows of a grade: the student's own text only on marked lines, the grader's total
always the last line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class TestOutcome:
    """One graded test's result: its share of its question and why it passed or failed (``kind``:
    "passed", "failed", or how the student's call ended: ``core.errors.KINDS``)."""

    __test__ = False  # a result, not a pytest test class

    name: str
    score: float
    max_score: float
    kind: str
    output: str
    visibility: str
    public: bool = False

    @property
    def question(self) -> str:
        return question_of(self.name)

    @property
    def passed(self) -> bool:
        return self.kind == "passed"

    def to_gradescope(self) -> dict[str, Any]:
        return {"name": self.name, "score": round(self.score, 4), "max_score": round(self.max_score, 4),
                "status": "passed" if self.passed else "failed", "output": self.output,
                "visibility": self.visibility, "extra_data": {"kind": self.kind, "public": self.public}}

    @classmethod
    def from_gradescope(cls, t: dict[str, Any]) -> TestOutcome:
        extra = t.get("extra_data") if isinstance(t.get("extra_data"), dict) else {}
        status = "passed" if t.get("status") == "passed" else "failed"
        kind = str(extra.get("kind") or status)
        return cls(str(t.get("name", "")), _number(t.get("score")), _number(t.get("max_score")),
                   kind if (kind == "passed") == (status == "passed") else status, str(t.get("output") or ""),
                   str(t.get("visibility") or "hidden"), bool(extra.get("public", False)))


@dataclass(frozen=True)
class Grade:
    """One submission's grade as the engine passes it around; results.json (Gradescope's schema) is
    ``to_gradescope()``, read back with ``from_gradescope`` (a batch's cache, Slurm's files).

    ``tests`` are the graded tests (the staff-only entry is ``staff``); ``info`` is what results.json
    keeps under ``extra_data.ditgrade``: the sandbox's report, the notes, the file graded, why a file
    was unreadable or the grader failed, a batch's bookkeeping."""

    tests: tuple[TestOutcome, ...] = ()
    output: str = ""
    execution_time: float = 0.0
    stdout_visibility: str = "hidden"
    staff: str = ""
    staff_failed: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 4)

    def questions(self) -> dict[str, tuple[float, float]]:
        """{question: (score, max_score)}, in the tests' order."""
        return question_scores(self.tests)

    @property
    def unreadable(self) -> str:
        """Why the submission could not be read at all; '' when it could."""
        return str(self.info.get("unreadable") or "")

    @property
    def grader_error(self) -> str:
        return str(self.info.get("grader_error") or "")

    def with_info(self, **info: Any) -> Grade:
        return replace(self, info={**self.info, **info})

    def to_gradescope(self) -> dict[str, Any]:
        tests = [t.to_gradescope() for t in self.tests]
        if self.staff or self.staff_failed:
            tests.append({"name": STAFF_TEST, "score": 0.0, "max_score": 0.0,
                          "status": "failed" if self.staff_failed else "passed", "output": self.staff,
                          "visibility": "hidden"})
        return clean_tree({"score": self.score, "execution_time": round(self.execution_time, 2),
                           "output": self.output, "stdout_visibility": self.stdout_visibility, "tests": tests,
                           "extra_data": {"ditgrade": self.info}})

    @classmethod
    def from_gradescope(cls, data: Any) -> Grade:
        """A results.json dict (anything else reads as an empty grade)."""
        if not isinstance(data, dict):
            return cls()
        tests = [t for t in data.get("tests") or [] if isinstance(t, dict)]
        staff = next((t for t in tests if t.get("name") == STAFF_TEST), None)
        info = (data.get("extra_data") or {}).get("ditgrade") if isinstance(data.get("extra_data"), dict) else None
        return cls(tuple(TestOutcome.from_gradescope(t) for t in tests if t is not staff),
                   str(data.get("output") or ""), _number(data.get("execution_time")),
                   str(data.get("stdout_visibility") or "hidden"), str((staff or {}).get("output") or ""),
                   bool(staff and staff.get("status") != "passed"), dict(info) if isinstance(info, dict) else {})


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
                  fingerprint: str = "", graded_file: str = "") -> Grade:
    """The grade of a run of the suite. ``student_notes`` are for the student (what was not run and why)."""
    tests = tuple(TestOutcome(r.name, r.score, r.max_score, r.kind, r.output,
                              cfg.public_test_visibility if r.public else cfg.hidden_test_visibility, r.public)
                  for r in results)
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
    lines = list(student_notes)
    hidden = [r for r in results if not r.public]
    if hidden and cfg.hidden_test_visibility != "visible":
        lines.append(hidden_note(len(hidden), sum(r.max_score for r in hidden), cfg.hidden_test_visibility))
    grade = Grade(tests, "\n".join(lines), seconds, cfg.stdout_visibility, "\n".join(staff))
    return grade.with_info(
        questions={q: {"score": round(s, 4), "max_score": round(m, 4)} for q, (s, m) in grade.questions().items()},
        sandbox=sandbox, student_output=stdout, gpu=gpu, fingerprint=fingerprint, file=graded_file,
        notes=list(student_notes))  # one message each: what `summary` shows a TA, one line per note


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


def error_results(message: str, *, cfg: Settings | None = None) -> Grade:
    """The grade when the grader itself failed: score 0 and a message for staff."""
    return Grade((), "The autograder itself failed; this is not a judgement of your work. Please tell the course "
                     "staff.", 0.0, cfg.stdout_visibility if cfg else "hidden", f"grader error: {message}", True,
                 {"grader_error": message})


def unreadable_results(reason: str, *, cfg: Settings | None = None) -> Grade:
    """The grade of a submission that could not be read at all: score 0, no tests, and ``reason``
    (for the student: "the file is empty") in the output and in ``info["unreadable"]``."""
    return Grade((), f"Your submission could not be read, so nothing was graded: {reason}. Please check the file "
                     "you uploaded and submit it again.", 0.0, cfg.stdout_visibility if cfg else "hidden",
                 info={"unreadable": reason})


def summary(grade: Grade, questions: list[str] | None = None, *, verbose: bool = False,
            show_score: bool = True) -> str:
    """What a TA's terminal shows of a grade, one line per item:

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
    info = grade.info
    by_q: dict[str, list[TestOutcome]] = {}
    for t in grade.tests:
        by_q.setdefault(t.question, []).append(t)
    rows = []
    if info.get("file"):
        rows.append(f"file: {one_line(info['file'], 200)}")
    for q in questions or list(by_q):
        tests = by_q.get(q, [])
        if not tests:
            continue
        score, top = sum(t.score for t in tests), sum(t.max_score for t in tests)
        failed = next((t for t in tests if not t.passed), None)
        line = f"{q:<6}" + (f"{points(score) + '/' + points(top):<14}" if show_score else "")
        if failed is not None:
            line += f"first failure: {one_line(failed.name, 80)}: {_first_message(failed, 100)}"
        rows.append(line.rstrip())
        if verbose:
            for t in tests:
                mark = "PASS" if t.passed else "FAIL"
                rows.append(f"      {mark} {one_line(t.name, 80)}" + ("" if t.passed else f": {_first_message(t, 160)}"))
    notes = info.get("notes")
    if not isinstance(notes, list):  # results from before notes were kept apart: each line of the output
        notes = [line for line in grade.output.split("\n") if line.strip()]
    notes = [n for n in notes if not _is_hidden_note(str(n))]
    if notes:
        rows.append("notes (the submission's own text, one per line):")
        rows += [STUDENT_MARK + one_line(n, 300) for n in notes[:50]]
        if len(notes) > 50:
            rows.append(f"{STUDENT_MARK}({len(notes) - 50} more notes in results.json)")
    if grade.grader_error:
        rows.append(f"grader error: {one_line(grade.grader_error, 500)}")
    if grade.unreadable:
        rows.append(f"UNREADABLE: {one_line(grade.unreadable, 200)}: nothing was graded")
    score = f" {points(grade.score)}/{points(grade.max_score)}" if show_score else ""
    rows.append(f"total{score} in {grade.execution_time:.1f} s")
    return "\n".join(rows)


def _number(x: object) -> float:
    try:
        return float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _first_message(test: TestOutcome, limit: int) -> str:
    """The first non-empty line of a test's output, on one line, cut at a word."""
    lines = [line for line in test.output.split("\n") if line.strip()]
    return one_line(lines[0] if lines else "(no message)", limit)


def _is_hidden_note(line: str) -> bool:
    """The students' line about hidden tests (``hidden_note``; a TA's terminal shows every test)."""
    return _HIDDEN_NOTE.fullmatch(line) is not None


_HIDDEN_NOTE = re.compile(re.escape(HIDDEN_NOTE).replace(re.escape("{count}"), r"(?P<count>\d+)")
                          .replace(re.escape("{points}"), r"(?P<points>[0-9.]+)")
                          .replace(re.escape("{when}"), r"(?P<when>[^.]*)"))
