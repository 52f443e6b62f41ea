"""``ditgrade audit``: a pinned tool's mutants of the reference, graded on warm workers, each attributed
to the function it edits; survivors reported with their change, reviewed ones accepted with a reason;
the release gate refuses a survivor that is neither killed nor reviewed. End to end on the tiny second
course (tests/fixtures/tiny_course), whose norm2 has one survivor (``axis=-1`` made ``axis=- 0``),
equivalent for the task's 1-D input and reviewed in its bank/audit_reviewed.toml; ``2 ** x`` runs past
its CPU budget on double(10**12) and is killed by it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ditgrade.packaging import audit_review
from ditgrade.packaging.audit_mutants import change, mutant_source, question_of_function, readable, sites

TINY = Path(__file__).resolve().parent.parent / "fixtures" / "tiny_course"
REVIEWED = Path("autograder/tinyq/bank/audit_reviewed.toml")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ditgrade", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=900)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny course, built, with its audit graded once for the module."""
    course = tmp_path_factory.mktemp("audit") / "tiny"
    shutil.copytree(TINY, course)
    assert cli("build", cwd=course).returncode == 0
    return course


def test_each_mutant_is_attributed_to_the_function_whose_body_holds_it() -> None:
    source = ("import math\n\n\nclass Box:\n    SIDE = 2\n\n    def area(self, scale=3):\n        return self.SIDE * "
              "scale\n\n\ndef outer(x):\n    def inner(y):\n        return y + 1\n    return inner(x) * 2\n")
    found = {(s.operator, s.line): (s.function, s.owner) for s in sites(source)}
    # a class attribute runs at load time: every test may see it; it belongs to Box's question
    assert found[("core/NumberReplacer", 5)] == ("", "Box")
    assert found[("core/NumberReplacer", 7)] == ("", "Box.area")  # a default value: evaluated by the def
    assert found[("core/ReplaceBinaryOperator_Mul_Add", 8)] == ("Box.area", "Box.area")
    assert found[("core/ReplaceBinaryOperator_Add_Sub", 13)] == ("outer.<locals>.inner", "outer.<locals>.inner")
    assert found[("core/ReplaceBinaryOperator_Mul_Add", 14)] == ("outer", "outer")
    assert readable("outer.<locals>.inner") == "outer.inner" and readable("") == "(module level)"
    assert readable("", "Box.area") == "Box.area (definition)"
    assert question_of_function("Box.area", {"q1": ("outer",), "q2": ("Box",)}) == "q2"
    c = change("def f(x):\n    return x  * 2\n", "def f(x):\n    return x  + 2\n")
    assert (c.old, c.new) == ("return x  * 2", "return x  + 2")


def test_mutants_are_exactly_what_the_tools_mutate_code_makes() -> None:
    """mutant_source edits a fresh copy of one parse tree instead of parsing again: same text, every site."""
    import cosmic_ray.plugins
    from cosmic_ray.mutating import mutate_code

    source = (TINY / "autograder" / "tinyq" / "hidden" / "checks.py").read_text()  # any module with variety
    found = sites(source)
    assert len(found) > 20
    for site in found:
        tool = mutate_code(source, cosmic_ray.plugins.get_operator(site.operator)(), site.occurrence)
        assert mutant_source(source, site) == tool, site


def test_the_reviewed_file_needs_a_one_line_reason_per_entry(tmp_path: Path) -> None:
    good = audit_review.entry("core/NumberReplacer", "f", "return 1", "return 2", "the value is never read")
    path = tmp_path / "reviewed.toml"
    path.write_text(good)
    assert audit_review.load(path)[0].key == ("core/NumberReplacer", "f", "return 1", "return 2")
    for bad, needle in ((good.replace("the value is never read", "TODO: why"), "needs a one-line reason"),
                        ("\n".join(ln for ln in good.splitlines() if not ln.startswith("reason")), "lacks ['reason']"),
                        (good.replace("'return 2'", "'*'"), 'operator and new are both "*"'),
                        (good + 'colour = "red"\n', "unknown ['colour']"),
                        ("[[equivalents]]\n", "unknown table(s)")):
        path.write_text(bad)
        with pytest.raises(audit_review.ReviewError, match=re.escape(needle)):
            audit_review.load(path)
    assert audit_review.load(tmp_path / "absent.toml") == []


@pytest.mark.slow
def test_a_hanging_or_crashing_source_costs_only_itself(tiny: Path) -> None:
    """Jobs run in a child forked from the warm worker, each call with the sandbox's CPU budget
    (call_cpu_s: 5 in the tiny course). Past it, or when the source kills its process, the job fails
    the test it was running, what it started is killed with its child, and the next job is graded by
    the same worker (the children's parent)."""
    from ditgrade.packaging.audit_worker import Job, grade_jobs

    parents = tiny / "parents.txt"
    note = f"import os\nwith open({str(parents)!r}, 'a') as f:\n    f.write(f'{{os.getppid()}}\\n')\n"
    sources = {"right": note + "def double(x):\n    return 2 * x\n\ndef norm2(v):\n    return sum(a * a for a in v) ** 0.5\n",
               # it leaves a process behind that holds the child's pipes open: killed with its child
               "hang": (f"import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(600)\n    os._exit(0)\n"
                        f"open({str(tiny / 'left.txt')!r}, 'w').write(str(pid))\n\n"
                        "def double(x):\n    while True:\n        pass\n"),
               "crash": "import os\n\ndef double(x):\n    os._exit(3)\n",
               "again": note + "def double(x):\n    return 2 * x\n\ndef norm2(v):\n    return sum(a * a for a in v) ** 0.5\n"}
    jobs = []
    for name, text in sources.items():
        (tiny / f"{name}.py").write_text(text)
        jobs.append(Job(name, "file", file=str(tiny / f"{name}.py")))
    # a tool mutant gets the mutation tools' time rule instead: 2 ** 10**12 is stopped at the audit's
    # 1 CPU s floor (ten times the reference's slowest call is far less), not at a solution's 5 s
    reference = (tiny / "autograder/tinyq/generated/reference.py").read_text()
    site = next(s for s in sites(reference) if "2 ** x" in mutant_source(reference, s))
    jobs.insert(3, Job("tool", "tool", operator=site.operator, occurrence=site.occurrence, function=site.function))
    seen: list[int] = []
    out = grade_jobs(jobs, project=tiny, workers=1, timeout=120, progress=lambda done, total: seen.append(done))
    assert out["hang"].kind == "timeout" and out["crash"].kind == "crash", out
    assert out["hang"].failed_test.startswith("q1 double") and "more than its 5 CPU s" in out["hang"].output
    assert out["tool"].kind == "timeout" and "more than its 1 CPU s" in out["tool"].output, out["tool"]
    assert out["crash"].failed_test.startswith("q1 double")
    for name in ("right", "again"):
        assert not out[name].failed_test and out[name].ran == 3, out[name]
    assert seen == [1, 2, 3, 4, 5]
    first, second = parents.read_text().split()
    # both ran in children of one worker (not of this process): no worker was replaced, only the
    # hanging and the crashing children died, and what the hanging one started died with it
    assert first == second != str(os.getpid())
    assert _dead(int((tiny / "left.txt").read_text()))


def _dead(pid: int) -> bool:
    """Gone, or a zombie waiting for init to reap it (killed, it no longer runs)."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_audit_reports_a_survivor_until_it_is_reviewed_and_the_release_gate_agrees(tiny: Path) -> None:
    reviewed = (tiny / REVIEWED).read_text()
    proc = cli("audit", "--out", "out", "-j", "2", cwd=tiny)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    data = json.loads((tiny / "out" / "audit.json").read_text())
    assert len(data["mutants"]) == 19 and data["passed"]
    survivors = [(m["operator"], m["function"], m["new"]) for m in data["mutants"] if m["status"] == "survived"]
    assert survivors == [("core/NumberReplacer", "norm2", "return float(np.sqrt(np.sum(np.square(v), axis=- 0)))")]
    hung = [m for m in data["mutants"] if "2 ** x" in m["new"]]
    assert [(m["how"], m["by"].split(" ", 1)[0]) for m in hung] == [("timeout", "q1")], hung
    # only the tests that reach the mutated function ran: norm2's never ran double's, and the first
    # failure ended a job
    graded = [m for m in data["mutants"] if m["how"] != "timeout"]
    assert all(m["ran"] + m["skipped"] == 3 and m["ran"] == 1 for m in graded)
    page = (tiny / "out" / "audit.html").read_text()
    assert "Reviewed survivors (1)" in page and "its only axis is both -1 and 0" in page
    assert "q1" in proc.stdout and "norm2" in proc.stdout and "18/19" in proc.stdout

    # plant a survivor: forget its review
    (tiny / REVIEWED).write_text(reviewed[:reviewed.index("[[equivalent]]")])
    try:
        proc = cli("audit", "--out", "out", cwd=tiny)
        assert proc.returncode == 1, proc.stdout
        assert "SURVIVED  norm2" in proc.stdout and "axis=- 0" in proc.stdout, proc.stdout
        assert "results reused" in proc.stdout  # nothing the mutants depend on changed
        page = (tiny / "out" / "audit.html").read_text()
        assert "Unreviewed survivors (1)" in page and "[[equivalent]]" in page  # a ready entry to paste
        proc = cli("release", "--out", "dist", "-j", "2", cwd=tiny)
        assert proc.returncode == 1 and "FAIL  audit" in proc.stderr and "1 unreviewed survivor" in proc.stderr
        assert (tiny / "dist" / "rejected" / "autograder.zip").is_file()
    finally:
        (tiny / REVIEWED).write_text(reviewed)
    proc = cli("release", "--out", "dist", "-j", "2", cwd=tiny)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PASS  audit" in proc.stderr and "18/19 cosmic-ray" in proc.stderr


def test_judge_accepts_reviewed_survivors_flags_the_rest_and_stale_reviews() -> None:
    from ditgrade.packaging.audit import Audit, MutantResult, judge

    def mutant(op: str, new: str, status: str = "survived") -> MutantResult:
        return MutantResult(op, 0, 3, "f", "q1", status, "", "", "raise ValueError(f'{a * b}')", new, 1, 0, 0.1)

    found = Audit("cosmic-ray 8.7.0", "ref.py", "k", (
        mutant("core/ReplaceBinaryOperator_Mul_Add", "raise ValueError(f'{a + b}')"),
        mutant("core/ReplaceBinaryOperator_Mul_Sub", "raise ValueError(f'{a - b}')"),
        MutantResult("core/NumberReplacer", 1, 5, "g", "q2", "survived", "", "", "return 1", "return 2", 1, 0, 0.1),
        mutant("core/ReplaceBinaryOperator_Mul_Div", "raise ValueError(f'{a / b}')", status="killed")), 0.5, 1, "")
    message = audit_review.Review("*", "f", "raise ValueError(f'{a * b}')", "*", "the message's text")
    stale = audit_review.Review("core/NumberReplacer", "g", "return 0", "return 1", "gone")
    verdict = judge(found, [message, stale])
    assert not verdict.passed and [m.function for m in verdict.survivors] == ["g"]
    assert len(verdict.reviewed) == 2 and verdict.stale == (stale,)
    assert "1 unreviewed survivor(s), e.g. g: 'return 1' -> 'return 2'" in verdict.summary(found)
    assert judge(found, [message, audit_review.Review("core/NumberReplacer", "g", "return 1", "return 2", "r")]).passed
