"""One source of truth for instructors: the project is the folder you stand in, points come from the
master notebook, settings are validated, release never gates stale files, mutants survive harmless
edits, and a second assignment is just a second folder (tests/fixtures/tiny_course)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import fica
import pytest

from ditgrade import config
from ditgrade.core.assignment import Assignment
from ditgrade.packaging.mutate import apply
from ditgrade.project import NotAProject, Project

REPO = Path(__file__).resolve().parent.parent
TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_course"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ditgrade", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=900)


def copy_course(dest: Path) -> Path:
    """This course without its engine (the installed one grades it): the master, the grading folder,
    the generated files and the settings."""
    for part in ("assignment", "student_template", "solutions", "autograder/dit"):
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "independent"))
    shutil.copy(REPO / "otter_config.json", dest)
    return dest


def edit_master(course: Path, old: str, new: str) -> None:
    path = course / "assignment" / "dit_assignment.ipynb"
    nb = json.loads(path.read_text())
    hits = 0
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if old in text:
            cell["source"] = text.replace(old, new, 1)
            hits += 1
    assert hits == 1, (old, hits)
    path.write_text(json.dumps(nb, indent=1))


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def test_the_project_is_found_from_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO / "autograder" / "dit" / "hidden")
    assert Project.find().root == REPO
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotAProject, match="no otter_config.json"):
        Project.find()
    assert Project.find(REPO).root == REPO


def test_settings_are_validated_and_every_key_is_documented(tmp_path: Path) -> None:
    good = json.loads((REPO / "otter_config.json").read_text())
    assert config.validate(good).seed == 42
    for bad, needle in (({**good, "hiden_test_visibility": "visible"}, "unknown key(s) ['hiden_test_visibility']"),
                        ({**good, "hidden_test_visibility": "soon"}, "hidden_test_visibility must be one of"),
                        ({**good, "call_cpu_s": "20"}, "call_cpu_s must be a number"),
                        ({**good, "wall_factor": 2}, "wall_factor must be at least 10"),
                        ({k: v for k, v in good.items() if k != "name"}, "missing required key(s) ['name']")):
        with pytest.raises(config.ConfigError, match=re.escape(needle)):
            config.validate(bad)
    readme = (REPO / "README.md").read_text()
    assert config.table() in readme and config.otter_table() in readme, "README: paste python -m ditgrade.config"
    course = copy_course(tmp_path / "course")
    (course / "otter_config.json").write_text(json.dumps({**good, "hiden_test_visibility": "visible"}))
    proc = cli("run", "solutions/dit_assignment.ipynb", "--out", "o", cwd=course)
    assert proc.returncode == 2 and "hiden_test_visibility" in proc.stderr and proc.stderr.count("\n") == 1


def test_otters_own_keys_are_honoured_or_refused_one_line_each(tmp_path: Path) -> None:
    """Every key otter 7.0 documents for otter_config.json is known: accepted with otter's meaning,
    accepted when it asks for nothing, or refused with a line saying why."""
    from otter.run.run_autograder.autograder_config import AutograderConfig

    documented = {k for k in vars(AutograderConfig) if isinstance(getattr(AutograderConfig, k), fica.Key)}
    assert documented == set(config.OTTER_KEYS) | set(config.SHARED), documented ^ (set(config.OTTER_KEYS) | set(config.SHARED))
    good = json.loads((REPO / "otter_config.json").read_text())
    base = {k: v for k, v in good.items() if "visibility" not in k}
    cfg = config.validate({**base, "show_hidden": True, "show_stdout": False, "pdf": False, "token": None,
                           "logo": False, "assignment_name": good["name"]})
    assert (cfg.hidden_test_visibility, cfg.stdout_visibility) == ("after_published", "hidden")
    assert config.validate({**base, "show_hidden": False}).hidden_test_visibility == "hidden"  # otter's default
    with pytest.raises(config.ConfigError) as e:
        config.validate({**good, "pdf": True, "plugins": ["otter.plugins.builtin.GoogleSheetsGradeOverride"],
                         "show_hidden": False, "assignment_name": "another"})
    lines = str(e.value).splitlines()
    assert len(lines) == 4, lines
    assert any(line.startswith("otter_config.json: `pdf`: ditgrade makes no PDFs") for line in lines)
    assert any("`plugins`: ditgrade has no otter plugins" in line for line in lines)
    assert any("show_hidden (False) and hidden_test_visibility ('after_published') disagree" in line for line in lines)
    assert any("assignment_name ('another') must equal name" in line for line in lines)
    otter_written = {"assignment_name": good["name"], "grading_folder": good["grading_folder"]}  # no `name`
    assert config.validate(otter_written).name == good["name"]
    with pytest.raises(config.ConfigError, match="points_possible is 100 but the master's points add up to 30"):
        config.check_points(config.validate({**good, "points_possible": 100}), 30.0)
    config.check_points(config.validate({**good, "points_possible": 30}), 30.0)
    # through the command: one line per refused key, exit 2
    course = copy_course(tmp_path / "course")
    (course / "otter_config.json").write_text(json.dumps({**good, "pdf": True, "debug": True}))
    proc = cli("run", "solutions/dit_assignment.ipynb", "-o", "o", cwd=course)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 2, proc.stderr
    assert "`debug`: ditgrade never ignores its own errors" in proc.stderr


# The project's own tests that read points, run against a course whose master gives q1 more points
# (test_points_come_from_the_master_and_the_tests_follow): they pass because they read the master.
POINT_READING_TESTS = ("tests/test_batch.py::test_folder_end_to_end_and_resume",
                       "tests/test_batch.py::test_gradescope_export_gives_one_row_per_student_and_upload_files",
                       "tests/test_batch.py::test_canvas_rows_are_uploaded_to_canvas_by_its_user_id",
                       "tests/test_hidden_suite.py::test_points_come_from_the_master_and_tests_carry_weights",
                       "tests/test_terminal_text.py::test_the_attack_cannot_print_a_line_of_the_graders",
                       "tests/test_report_browser.py",
                       # the real grader on the solutions: the total it reports is the copy's
                       "tests/test_run_cli.py::test_a_correct_notebook_as_gradescope_would_show_it",
                       "tests/test_run_cli.py::test_a_load_error_cannot_forge_the_graders_lines")


@pytest.mark.slow
def test_points_come_from_the_master_and_the_tests_follow(tmp_path: Path) -> None:
    """The instructor edit the README describes (q1's `points:` in the master), in a copy of the
    course: build and run act on the folder you stand in, the grade follows the master, and the
    project's own tests, pointed at the copy (``$DITGRADE_PROJECT``), still pass."""
    course = copy_course(tmp_path / "course")
    points = Assignment.load(Project(REPO)).points
    q1, total = points["q1"] + 2, sum(points.values()) + 2  # 10 -> 12 today
    before = digest(REPO / "student_template") + digest(REPO / "autograder" / "dit" / "generated")
    edit_master(course, f"name: q1\npoints: {points['q1']:g}", f"name: q1\npoints: {q1:g}")
    assert cli("build", cwd=course).returncode == 0
    assert digest(REPO / "student_template") + digest(REPO / "autograder" / "dit" / "generated") == before
    assert Assignment.load(Project(course)).points == {**points, "q1": q1}
    proc = cli("run", "solutions/dit_assignment.ipynb", "-o", "o", cwd=course)
    data = json.loads((course / "o" / "results.json").read_text())
    assert data["extra_data"]["ditgrade"]["questions"]["q1"] == {"score": q1, "max_score": q1}, proc.stdout
    assert data["score"] == total and f"\nq1    {q1:g}/{q1:g}\n" in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith(f"total {total:g}/{total:g} in ")
    # a changed grader is a different cache key: the batch regrades
    assert Assignment.load(Project(course)).fingerprint != Assignment.load(Project(REPO)).fingerprint
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *POINT_READING_TESTS],
                           cwd=REPO, env={**os.environ, "DITGRADE_PROJECT": str(course)}, capture_output=True,
                           text=True, timeout=1200)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout.splitlines()[-1], tests.stdout[-500:]


@pytest.mark.slow  # a build: the default suite stays within its 5 minutes beside CI's busy loops
def test_release_refuses_stale_generated_files_and_names_the_fix(tmp_path: Path) -> None:
    course = copy_course(tmp_path / "course")
    edit_master(course, "    x = x.permute(0, 2, 4, 1, 3, 5)  # [B, gh, gw, C, p, p]",
                "    x = x.permute(0, 4, 2, 1, 3, 5)  # a bug")
    proc = cli("release", "--out", "dist", cwd=course)
    assert proc.returncode == 1
    assert "FAIL  up-to-date" in proc.stderr and "run `ditgrade build`" in proc.stderr, proc.stderr
    assert not (course / "dist" / "autograder.zip").exists()


@pytest.mark.slow  # a build: the default suite stays within its 5 minutes beside CI's busy loops
def test_a_comment_edit_in_the_master_leaves_every_mutant_applicable(tmp_path: Path) -> None:
    from conftest import load_bank_module

    course = copy_course(tmp_path / "course")
    edit_master(course, "    gh, gw = H // p, W // p\n", "    # the number of patches along each side\n"
                                                           "    gh, gw = H // p, W // p  # grid\n")
    assert cli("build", cwd=course).returncode == 0
    reference = (course / "autograder" / "dit" / "generated" / "reference.py").read_text()
    assert "# the number of patches along each side" in reference
    for m in load_bank_module(Assignment.load(Project(REPO)), "mutants").MUTANTS:
        apply(reference, m)  # raises MutantError, naming the mutant, if it no longer applies


@pytest.mark.slow
def test_a_second_assignment_gains_a_question_through_its_own_folder_only(tmp_path: Path) -> None:
    """Add q3 to the tiny course touching only its master notebook and its grading folder; build,
    release and grade it with the same engine."""
    course = tmp_path / "tiny"
    shutil.copytree(TINY, course)
    nb = json.loads((course / "assignment" / "tiny.ipynb").read_text())
    q3 = [{"cell_type": "raw", "metadata": {}, "source": "# BEGIN QUESTION\nname: q3\npoints: 4"},
          {"cell_type": "raw", "metadata": {}, "source": "# BEGIN SOLUTION"},
          {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source":
           'def triple(x):\n    # BEGIN SOLUTION NO PROMPT\n    return 3 * x\n    # END SOLUTION\n'
           '    """ # BEGIN PROMPT\n    raise NotImplementedError("TODO(q3): implement triple")\n    """  # END PROMPT'},
          {"cell_type": "raw", "metadata": {}, "source": "# END SOLUTION"},
          {"cell_type": "raw", "metadata": {}, "source": "# END QUESTION"}]
    nb["cells"][-1:-1] = q3
    (course / "assignment" / "tiny.ipynb").write_text(json.dumps(nb))
    probes = course / "autograder" / "tinyq" / "probes.py"
    probes.write_text(probes.read_text() + '\n\n@PROBES.register("triple({x})")\ndef triple(ns, x):\n'
                                           '    return get_student(ns, "triple")(x)\n')
    (course / "autograder" / "tinyq" / "hidden" / "q3.py").write_text(
        "from ditgrade.core.compare import assert_count\nfrom ditgrade.core.suite import hidden_test\n\n\n"
        "@hidden_test('q3 triple triples')\ndef test_triple(runner):\n"
        "    for x in (0, 2, -5):\n        assert_count(runner.call('triple', x=x), 3 * x, 'triple', f'x={x}')\n")
    style = course / "autograder" / "tinyq" / "bank" / "styles" / "alt.py"
    style.write_text(style.read_text() + "\n\ndef triple(x):\n    return x + x + x\n")
    mutants = course / "autograder" / "tinyq" / "bank" / "mutants.py"
    mutants.write_text(mutants.read_text() + "\nMUTANTS += (Mutant('triple_doubles', 'q3', '2x', 'triple', "
                                             "'return 3 * x', 'return 2 * x'),)\n")
    assert cli("build", cwd=course).returncode == 0
    proc = cli("release", "--out", "dist", "-j", "2", cwd=course)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PASS  mutants      3/3 mutants" in proc.stderr and "the solutions notebook scores 9/9" in proc.stderr, proc.stderr
    subs = course / "subs"
    subs.mkdir()
    (subs / "right.py").write_text("def double(x):\n    return 2 * x\n\ndef norm2(v):\n    return sum(a * a for a in v)"
                                   " ** 0.5\n\ndef triple(x):\n    return 3 * x\n")
    (subs / "wrong.py").write_text("def double(x):\n    return 2 * x\n\ndef triple(x):\n    return 2 * x\n")
    proc = cli("grade", "subs", "--out", "out", "-j", "1", cwd=course)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(course / "out" / "grades.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert (rows["right"]["q1"], rows["right"]["q2"], rows["right"]["q3"], rows["right"]["max"]) == ("2", "3", "4", "9")
    assert (rows["wrong"]["q1"], rows["wrong"]["q2"], rows["wrong"]["q3"]) == ("2", "0", "0")


@pytest.mark.slow
def test_the_readmes_how_to_add_a_public_and_a_hidden_test(tmp_path: Path) -> None:
    """The README's recipe, followed on a copy of the tiny course: a public test is one more code
    cell between q1's BEGIN TESTS and END TESTS (then `ditgrade build`), a hidden test one more
    function in the grading folder's hidden/; both are graded, and a wrong answer fails both."""
    course = tmp_path / "tiny"
    shutil.copytree(TINY, course)
    path = course / "assignment" / "tiny.ipynb"
    nb = json.loads(path.read_text())
    end = next(i for i, c in enumerate(nb["cells"]) if "".join(c["source"]).strip() == "# END TESTS")  # q1's
    nb["cells"].insert(end, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                             "source": "assert double(-1) == -2, 'double(-1) should be -2'"})
    path.write_text(json.dumps(nb))
    (course / "autograder" / "tinyq" / "hidden" / "q1_negative.py").write_text(
        "from ditgrade.core.compare import as_number\nfrom ditgrade.core.suite import Fail, hidden_test\n\n\n"
        "@hidden_test('q1 double of a negative number', weight=1)\ndef test_double_negative(runner):\n"
        "    got = as_number(runner.call('double', x=-4), 'double', 'x=-4')\n"
        "    if got != -8:\n        raise Fail(f'double(-4) returned {got}, expected -8')\n")
    assert cli("build", cwd=course).returncode == 0
    generated = json.loads((course / "autograder" / "tinyq" / "generated" / "assignment.json").read_text())
    assert len(generated["public_tests"]["q1"]) == 2
    (course / "right.py").write_text("def double(x):\n    return 2 * x\n\ndef norm2(v):\n    return sum(a * a for a in v) ** 0.5\n")
    (course / "wrong.py").write_text("def double(x):\n    return abs(2 * x)\n\ndef norm2(v):\n    return sum(a * a for a in v) ** 0.5\n")
    graded = {}
    for name in ("right", "wrong"):
        assert cli("run", f"{name}.py", "-o", name, cwd=course).returncode == 0
        data = json.loads((course / name / "results.json").read_text())
        graded[name] = {t["name"]: t for t in data["tests"]}
    right, wrong = graded["right"], graded["wrong"]
    public = "q1 public checks (the notebook's grader.check)"
    assert right["q1 double of a negative number"]["status"] == "passed"
    assert right[public]["status"] == "passed" and right[public]["output"].endswith("2 of 2 public checks pass")
    assert wrong["q1 double of a negative number"]["status"] == "failed"
    assert wrong[public]["status"] == "failed" and "public check 2 of 2 failed" in wrong[public]["output"]


def test_the_settings_record_has_one_field_per_key() -> None:
    """Defaults live in config.KEYS only; Settings has exactly those fields (and otter's keys apart)."""
    from dataclasses import fields

    from ditgrade import config

    assert [f.name for f in fields(config.Settings) if f.name != "otter"] == list(config.KEYS)
