"""Gradescope's results.json, and the short summary printed for a person."""

from __future__ import annotations

from typing import Any

from .suite import QUESTIONS, TestResult, question_scores

GPU_NOTE = ("q5's DiT-XL/2 sampling job needs a GPU; it is not part of this grade. "
            "Course staff run it with `ditgrade run --gpu` on a GPU machine.")


def build_results(results: list[TestResult], *, cfg: dict[str, Any], seconds: float, notes: list[str],
                  sandbox: dict[str, Any], gpu: bool, stdout: str = "") -> dict[str, Any]:
    """The results.json dict. ``notes`` are messages for the student (syntax errors, skipped cells)."""
    tests = [
        {
            "name": r.name,
            "score": round(r.score, 4),
            "max_score": r.max_score,
            "status": "passed" if r.passed else "failed",
            "output": r.output,
            "visibility": cfg["hidden_test_visibility"],
        }
        for r in results
    ]
    prot = sandbox.get("protections", {})
    # No PID namespace: what a student leaves running is killed by uid instead (every worker of a fork
    # server runs under that server's own unused uid, limited by RLIMIT_NPROC). Say so explicitly.
    prot = {"pid_namespace": False, **prot}
    sandbox = {**sandbox, "protections": prot}
    kinds = ("separate_process", "network_namespace", "mount_isolation", "uid_drop", "no_new_privs", "pid_namespace")
    active = [k for k in kinds if prot.get(k)]
    inactive = [k for k in kinds if not prot.get(k)]
    lines = list(notes)
    if not gpu:
        lines.append(GPU_NOTE)
    lines.append(f"Sandbox: {', '.join(active) or 'none'}; limits: {', '.join(prot.get('rlimits', [])) or 'none'}"
                 + (f"; not active: {', '.join(inactive)}" if inactive else "") + ".")
    return {
        "score": round(sum(r.score for r in results), 4),
        "execution_time": round(seconds, 2),
        "output": "\n".join(lines),
        "stdout_visibility": cfg["stdout_visibility"],
        "tests": tests,
        "extra_data": {
            "ditgrade": {
                "questions": {q: {"score": s, "max_score": m} for q, (s, m) in question_scores(results).items()},
                "sandbox": sandbox,
                "student_output": stdout,
                "gpu": gpu,
            }
        },
    }


def error_results(message: str, *, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid results.json when the grader itself failed: score 0 and a message for staff."""
    return {
        "score": 0.0,
        "execution_time": 0.0,
        "output": f"The autograder itself failed; this is not a judgement of your work. Please tell the course "
                  f"staff. Details for staff: {message}",
        "stdout_visibility": (cfg or {}).get("stdout_visibility", "hidden"),
        "tests": [],
        "extra_data": {"ditgrade": {"grader_error": message}},
    }


def summary(data: dict[str, Any]) -> str:
    """Per question: score/max and its first failing test."""
    rows = []
    by_q: dict[str, list[dict]] = {}
    for t in data.get("tests", []):
        by_q.setdefault(t["name"].split()[0], []).append(t)
    for q in QUESTIONS:
        tests = by_q.get(q, [])
        if not tests:
            continue
        score, top = sum(t["score"] for t in tests), sum(t["max_score"] for t in tests)
        failed = next((t for t in tests if t["status"] != "passed"), None)
        first = "" if failed is None else f"  first failure: {failed['name']}: {failed['output'].splitlines()[0][:120]}"
        rows.append(f"{q}  {score:5.1f}/{top:<5.1f}{first}")
    total = sum(t["max_score"] for t in data.get("tests", []))
    rows.append(f"total {data['score']:.1f}/{total:.1f} in {data.get('execution_time', 0):.1f} s")
    if data.get("output"):
        rows.append(data["output"])
    return "\n".join(rows)
