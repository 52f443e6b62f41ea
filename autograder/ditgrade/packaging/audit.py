"""``ditgrade audit``: how many of an off-the-shelf tool's mutants of the reference the hidden tests kill.

The bank's mutants were written by the hands that wrote the hidden tests, so they share their blind
spots. The audit asks a pinned mutation tool (``audit_mutants``: cosmic-ray) for every mutant of the
generated reference, grades each on warm workers by the hidden tests (``audit_worker``: only the
tests that reach the mutated function, up to the first failure), and sorts them:

    killed      some test fails (or the mutant does not load, runs past its time, or crashes its
                process: the real grader fails those too). Its time follows the mutation tools'
                rule: a call may take ten times the reference's slowest call of that test, at
                least 1 and at most the sandbox's ``call_cpu_s`` CPU seconds (``audit_worker``)
    survived    every test that reaches it passes; an instructor reads it and either closes the gap
                with a hidden test or lists it, with a one-line reason, in the reviewed file
                (``audit_review``) as equivalent or allowed by the task text
    error       it could not be graded (the audit is then incomplete)

The results are a deterministic function of the reference, the tool's version and the grader, so
they are kept (``audit_cache``) under that key and reused, by ``ditgrade release``'s audit gate
too, until one of them changes. The reviewed file is applied afresh each time (it is cheap).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.assignment import Assignment
from . import audit_cache, audit_review
from .audit_mutants import (
    TOOL,
    Site,
    change,
    mutant_source,
    question_of_function,
    readable,
    sites,
    tool_version,
)
from .audit_worker import AUDIT_FACTOR, AUDIT_FLOOR_S, Job, Outcome, grade_jobs, ticker, wall_backstop

KILLED, SURVIVED, ERROR = "killed", "survived", "error"


@dataclass(frozen=True)
class MutantResult:
    operator: str
    occurrence: int
    line: int
    function: str  # readable: ``outer.inner``, ``Class.method``, ``(module level)``
    question: str
    status: str  # killed | survived | error
    how: str  # killed: "failed", "exception", ..., "load", "timeout", "crash"; error: why
    by: str  # the test that killed it, or what went wrong
    old: str
    new: str
    ran: int
    skipped: int
    seconds: float

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.operator, self.function, self.old, self.new


@dataclass(frozen=True)
class Audit:
    tool: str  # "cosmic-ray 8.7.0"
    reference: str  # its path in the project
    key: str
    mutants: tuple[MutantResult, ...]
    seconds: float
    workers: int
    reused: str  # when the results were stored, if they were reused; "" when graded now


@dataclass(frozen=True)
class Verdict:
    passed: bool
    survivors: tuple[MutantResult, ...]  # neither killed nor reviewed
    reviewed: tuple[tuple[MutantResult, audit_review.Review], ...]
    stale: tuple[audit_review.Review, ...]  # reviews that match no survivor any more
    errors: tuple[MutantResult, ...]

    def summary(self, audit: Audit) -> str:
        n = len(audit.mutants)
        killed = sum(m.status == KILLED for m in audit.mutants)
        text = f"{killed}/{n} {audit.tool} mutants killed ({100 * killed / max(n, 1):.1f}%)"
        text += f", {len(self.reviewed)} reviewed as equivalent"
        if self.survivors:
            m = self.survivors[0]
            text += (f"; {len(self.survivors)} unreviewed survivor(s), e.g. {m.function}: {m.old!r} -> {m.new!r}"
                     " (ditgrade audit --out DIR shows them all)")
        if self.errors:
            text += f"; {len(self.errors)} could not be graded, e.g. {self.errors[0].by}"
        if self.stale:
            text += f"; {len(self.stale)} reviewed entries match no survivor (remove them)"
        return text


def audit_key(assignment: Assignment) -> str:
    reference = assignment.reference_path.read_bytes()
    return audit_cache.key("audit", TOOL, tool_version(), hashlib.sha256(reference).hexdigest(),
                           assignment.fingerprint, audit_cache.environment())


def _result(site: Site, question: str, outcome: Outcome | None, reference: str) -> MutantResult:
    o = outcome or Outcome(site.id, kind="error", output="no result came back")
    old, new = o.old, o.new
    if o.kind in ("timeout", "crash") and not (old or new):  # its worker died with it: make it again here
        try:
            c = change(reference, mutant_source(reference, site))
            old, new = c.old, c.new
        except ValueError:
            pass
    if o.kind == "error":
        status, how, by = ERROR, "error", o.output
    elif o.lost_points or o.kind in ("timeout", "crash"):
        status, how, by = KILLED, o.kind, o.failed_test or o.output
    else:
        status, how, by = SURVIVED, "", ""
    return MutantResult(site.operator, site.occurrence, site.line, readable(site.function, site.owner), question,
                        status, how, by, old, new, o.ran, o.skipped, round(o.seconds, 3))


@dataclass(frozen=True)
class Plan:
    """An audit to grade: the tool's mutants of the reference, one in-process job each."""

    key: str
    tool: str
    reference: str
    sites: tuple[Site, ...]
    questions: dict[str, tuple[str, ...]]

    @property
    def jobs(self) -> list[Job]:
        return [Job(f"tool:{s.id}", "tool", operator=s.operator, occurrence=s.occurrence, function=s.function)
                for s in self.sites]


def _where(assignment: Assignment) -> str:
    root, path = assignment.project.root, assignment.reference_path
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def stored(assignment: Assignment) -> Audit | None:
    """The kept results, when nothing they depend on changed since."""
    key = audit_key(assignment)
    entry = audit_cache.load(assignment.project.root, "audit", key)
    if entry is None:
        return None
    return Audit(f"{TOOL} {tool_version()}", entry["reference"], key,
                 tuple(MutantResult(**m) for m in entry["mutants"]), entry["seconds"], entry["workers"],
                 entry["stored"])


def plan(assignment: Assignment) -> Plan:
    return Plan(audit_key(assignment), f"{TOOL} {tool_version()}", _where(assignment),
                tuple(sites(assignment.reference_path.read_text())),
                {q.id: q.names for q in assignment.questions})


def finish(assignment: Assignment, todo: Plan, outcomes: dict[str, Outcome], seconds: float,
           workers: int) -> Audit:
    """The graded plan as an Audit, kept for reuse when complete."""
    reference = assignment.reference_path.read_text()
    results = tuple(_result(s, question_of_function(s.owner, todo.questions), outcomes.get(f"tool:{s.id}"),
                            reference) for s in todo.sites)
    audit = Audit(todo.tool, todo.reference, todo.key, results, round(seconds, 1), workers, "")
    if not any(m.status == ERROR for m in results):  # an incomplete audit is never reused
        audit_cache.store(assignment.project.root, "audit", todo.key,
                          {"reference": todo.reference, "seconds": audit.seconds, "workers": workers,
                           "mutants": [asdict(m) for m in results]})
    return audit


def announce(todo: Plan, assignment: Assignment) -> str:
    return (f"{len(todo.sites)} {todo.tool} mutants of {Path(todo.reference).name}; each call may use "
            f"{AUDIT_FACTOR:g}x the reference's slowest call of its test, {AUDIT_FLOOR_S:g} to "
            f"{assignment.project.config.call_cpu_s:g} CPU s")


def run_audit(assignment: Assignment, *, workers: int, log: Callable[[str], None] = print,
              use_cache: bool = True) -> Audit:
    """Every mutant the tool makes of the reference, graded (or the kept results for this key)."""
    if use_cache:
        kept = stored(assignment)
        if kept is not None:
            return kept
    start = time.monotonic()
    todo = plan(assignment)
    log(f"      audit: {announce(todo, assignment)}; {workers} worker(s)")
    outcomes = grade_jobs(todo.jobs, project=assignment.project.root, workers=workers,
                          timeout=wall_backstop(assignment.project.config), progress=ticker(log, "audit", every=15.0))
    return finish(assignment, todo, outcomes, time.monotonic() - start, workers)


def judge(audit: Audit, reviews: list[audit_review.Review]) -> Verdict:
    exact = {r.key: r for r in reviews}
    survivors, reviewed, used = [], [], set()
    for m in audit.mutants:
        if m.status != SURVIVED:
            continue
        review = exact.get(m.key) or next((r for r in reviews if r.covers(*m.key)), None)
        if review is None:
            survivors.append(m)
        else:
            reviewed.append((m, review))
            used.add(review.key)
    errors = tuple(m for m in audit.mutants if m.status == ERROR)
    stale = tuple(r for r in reviews if r.key not in used)
    return Verdict(not survivors and not errors and bool(audit.mutants), tuple(survivors), tuple(reviewed), stale,
                   errors)


def rates(mutants: tuple[MutantResult, ...], by: Callable[[MutantResult], str]) -> list[tuple[str, int, int, int]]:
    """[(group, mutants, killed, survived)] in the reference's order (by each group's first line),
    groups outside every question or definition last."""
    total, killed, survived, first = Counter(), Counter(), Counter(), {}
    for m in mutants:
        g = by(m)
        total[g] += 1
        killed[g] += m.status == KILLED
        survived[g] += m.status == SURVIVED
        first[g] = min(first.get(g, m.line), m.line)
    order = sorted(total, key=lambda g: (g.startswith("("), first[g]))
    return [(g, total[g], killed[g], survived[g]) for g in order]


def reviewed_file(assignment: Assignment) -> Path:
    return audit_review.path_in(assignment.folder)
