"""autograder.zip proven in a clean OS root, the way Gradescope builds and runs it (issue 12).

scripts/clean_root.sh bootstraps Ubuntu 22.04 (Gradescope's default base image) with debootstrap,
runs the zip's setup.sh in it as root, then /autograder/run_autograder on a correct, a buggy, a
hostile and an empty submission, a probe that looks at the grader's files from inside the sandbox,
and the correct one again under Gradescope's default limits (one CPU, 0.5 CPU quota, 768 MB). This
module runs that script once and checks what it left in OUT/summary.json and OUT/<name>/results.json.

It takes ~10 minutes (most of it setup.sh: building CPython 3.11 and installing the requirements),
needs root, debootstrap and the network (archive.ubuntu.com, PyPI), and a torch-2.13.0+cpu wheel in
/opt/wheels (CLEANROOT_TORCH_DIR).

The tests named test_readme_* run the same script with CLEANROOT_JOB=readme, once in a fresh Debian 12
(bookworm) root and once in a fresh Ubuntu 24.04 (noble) root: python3-venv from apt, the project
git-cloned at the commit under test, then the README's two commands as written, in a fresh shell (the
test command with "-m 'not slow'": the whole suite takes 15+ minutes on 2 cores). 25-35 minutes a root on
a busy 2-core machine (benchmarks/clean_root.md).
Everything runs only when asked for:

    sudo .venv/bin/python -m pytest -m cleanroot tests/test_clean_root.py              # all three roots
    sudo .venv/bin/python -m pytest -m cleanroot tests/test_clean_root.py -k readme    # the README's
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import course_assignment

pytestmark = [pytest.mark.slow, pytest.mark.cleanroot]

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "clean_root.sh"
FULL = sum(course_assignment().points.values())  # the master's points
TIMEOUT_S = 3600


def _why_not(mirror: str = "http://archive.ubuntu.com/ubuntu/dists/jammy/Release") -> str:
    """'' when this machine can run the clean root, else the reason to skip."""
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, mounts)"
    if not shutil.which("debootstrap"):
        return "debootstrap is not installed (apt-get install debootstrap)"
    for url in (mirror, "https://pypi.org/simple/diffusers/"):
        try:
            urllib.request.urlopen(url, timeout=20).read(64)
        except OSError as e:
            return f"network unreachable: {url} ({e})"
    return ""


@pytest.fixture(scope="module")
def clean_root(request, tmp_path_factory) -> tuple[Path, dict]:
    """Run scripts/clean_root.sh once; (its OUT folder, summary.json)."""
    if "cleanroot" not in (request.config.getoption("markexpr", "") or ""):
        pytest.skip("the clean-root proof runs only when selected: .venv/bin/python -m pytest -m cleanroot tests/test_clean_root.py")
    why = _why_not()
    if why:
        pytest.skip(why)
    out = tmp_path_factory.mktemp("cleanroot")
    proc = subprocess.run(["bash", str(SCRIPT), str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    (out / "clean_root.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode == 77:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    print(proc.stdout[-3000:])
    summary_path = out / "summary.json"
    assert summary_path.exists(), f"clean_root.sh exited {proc.returncode} without a summary:\n{proc.stderr[-4000:]}"
    return out, json.loads(summary_path.read_text())


def results(out: Path, name: str) -> dict:
    return json.loads((out / name / "results.json").read_text())


def test_setup_builds_the_image(clean_root):
    out, s = clean_root
    assert s["suite"] == "jammy"
    assert s["base_python"].startswith("Python 3.10"), s["base_python"]  # as on Gradescope's image
    assert s["venv_python"].startswith("Python 3.11"), s["venv_python"]
    assert "+cpu" in s["torch"] and s["torch"].endswith("None"), f"torch is not the CPU build: {s['torch']}"
    freeze = (out / "pip-freeze.txt").read_text().lower()
    assert "nvidia-" not in freeze
    for pkg in ("diffusers==0.42.1", "matplotlib==", "numpy==", "hypothesis==", "safetensors=="):
        assert pkg in freeze, f"{pkg} missing from the venv"
    assert s["venv_files_not_world_readable"] == 0
    assert s["apt_lists_left"] == 0 and s["pip_cache_kb_left"] == 0, "apt lists or a pip cache left in the image"


def test_correct_submission_gets_full_score(clean_root):
    out, s = clean_root
    r = results(out, "carol")
    assert r["score"] == FULL, r.get("output")
    assert not s["submissions"]["carol"]["grader_error"]


def test_buggy_submission_loses_points_in_q1_only(clean_root):
    out, _ = clean_root
    r = results(out, "dave")
    questions = r["extra_data"]["ditgrade"]["questions"]
    lost = sorted(q for q, v in questions.items() if v["score"] < v["max_score"])
    assert r["score"] < FULL and lost == ["q1"], (r["score"], lost)


def test_hostile_submission_is_graded_well_below_full(clean_root):
    out, s = clean_root
    r = results(out, "mallory")
    assert r["score"] < 0.75 * FULL, r["score"]
    assert r["tests"], "grading did not finish"
    assert not s["submissions"]["mallory"]["grader_error"]


def test_empty_submission_gets_zero_with_a_note(clean_root):
    out, _ = clean_root
    r = results(out, "empty")
    assert r["score"] == 0
    assert r.get("output", "").strip(), "no note for the student"


def test_probe_cannot_see_the_graders_files(clean_root):
    out, s = clean_root
    saw = s["submissions"]["probe"]["probe_saw"]
    print("probe saw:", saw)
    assert "PROBE" in saw, "the probe's report is not in results.json"
    for secret in ("/autograder/source/otter_config.json", "/autograder/source/autograder/dit/generated/reference.py",
                   "/autograder/results", "/etc/shadow", "/root"):
        assert f"{secret}: READ" not in saw and f"{secret}: LIST" not in saw, f"the sandbox let student code see {secret}: {saw}"
    assert "uid=0" not in saw, saw
    # a correct submission otherwise: only sequence_length (and its public check) fail
    assert results(out, "probe")["score"] >= FULL - 2


def test_sandbox_protections_in_the_root(clean_root):
    _, s = clean_root
    for name in ("carol", "dave", "mallory", "probe"):
        prot = s["submissions"][name]["protections"]
        print(name, json.dumps(prot))
        for key in ("separate_process", "pid_namespace", "network_namespace", "uid_drop", "no_new_privs",
                    "mount_isolation", "private_tmp"):
            assert prot.get(key) is True, f"{name}: {key} = {prot.get(key)!r} ({prot.get('notes')})"


def test_grades_under_gradescope_default_limits(clean_root):
    """One CPU, a 0.5 CPU quota, 768 MB: the correct submission still gets every point, and the
    hostile one (an infinite loop, a 6 GB allocation ...) is still graded to the end."""
    out, s = clean_root
    print(s["gradescope_limits"])
    r = results(out, "carol_gs")
    assert r["score"] == FULL, (s["gradescope_limits"], r.get("output"))
    r = results(out, "mallory_gs")
    assert r["tests"] and r["score"] < 0.75 * FULL, (s["gradescope_limits"], r.get("output"))
    for name in ("carol_gs", "mallory_gs"):
        assert not s["submissions"][name]["grader_error"], s["submissions"][name]["grader_error"]


# ---------------------------------------------------------------------------------------------
# The README's two commands in fresh Debian 12 and Ubuntu 24.04 roots (issue 20): CLEANROOT_JOB=readme
# ---------------------------------------------------------------------------------------------
README_MIRRORS = {"bookworm": "http://deb.debian.org/debian/dists/bookworm/Release",
                  "noble": "http://archive.ubuntu.com/ubuntu/dists/noble/Release"}


@pytest.fixture(scope="module", params=sorted(README_MIRRORS))
def readme_root(request, tmp_path_factory) -> dict:
    """scripts/clean_root.sh with CLEANROOT_JOB=readme in one suite; its summary.json."""
    if "cleanroot" not in (request.config.getoption("markexpr", "") or ""):
        pytest.skip("the clean-root proof runs only when selected: .venv/bin/python -m pytest -m cleanroot tests/test_clean_root.py")
    suite = request.param
    why = _why_not(README_MIRRORS[suite])
    if why:
        pytest.skip(why)
    out = tmp_path_factory.mktemp(f"readme-{suite}")
    env = {**os.environ, "CLEANROOT_JOB": "readme", "CLEANROOT_SUITE": suite}
    proc = subprocess.run(["bash", str(SCRIPT), str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=env)
    (out / "clean_root.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode == 77:
        pytest.skip(proc.stderr.strip().splitlines()[-1])
    print(proc.stdout[-3000:])
    summary_path = out / "summary.json"
    assert proc.returncode == 0 and summary_path.exists(), \
        f"clean_root.sh (readme, {suite}) exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return json.loads(summary_path.read_text())


def test_readme_without_python3_venv_setup_names_it_and_writes_nothing(readme_root):
    s = readme_root["setup_without_venv"]
    lines = [ln.split("] ", 1)[-1] for ln in s["tail"].strip().splitlines()]
    assert s["rc"] == 1 and len(lines) == 1, s["tail"]
    assert "install python3-venv" in lines[0], lines
    assert not s["venv_left"]
    assert s["changed_outside_project"]["elsewhere"]["count"] == 0, s["changed_outside_project"]


def test_readme_first_command_installs_releases_and_grades(readme_root):
    s = readme_root
    c = s["cmd1"]
    print(s["suite"], s["base_python"], s["venv_python"], s["torch"], f"cmd1 {c['wall_s']} s (setup.sh {c['setup_s']} s)")
    assert c["rc"] == 0, c["tail"]
    assert s["venv_python"].split()[-1] == s["base_python"].split()[-1], "the venv is not of the system's python3"
    assert {"autograder.zip", "dit_assignment_student.zip", "dit_assignment_solutions.zip"} <= set(c["dist"]), c["dist"]
    assert c["graded_rows"] >= 10 and c["report"], c["tail"]
    assert s["torch"].startswith("2.13.0"), s["torch"]
    if "DITGRADE_TORCH_SPEC" not in s["torch_source"]:  # PyPI's build only where no CPU wheel for that Python was at hand
        assert "+cpu" in s["torch"] and s["torch"].endswith("None"), s["torch"]


def test_readme_second_command_the_tests_pass(readme_root):
    c = readme_root["cmd2"]
    print(readme_root["suite"], c["summary_line"], f"{c['wall_s']} s", readme_root["test_args"])
    assert c["rc"] == 0 and c["failed"] == 0 and c["errors"] + c["error"] == 0, c["tail"]
    assert c["passed"] >= 200, c["summary_line"]


def test_readme_commands_write_nothing_outside_the_project_but_caches(readme_root):
    """Outside the project folder: pip's download cache, matplotlib's per-user font cache and config
    folder (the grader and the tests import it), scratch in /tmp; nothing in ~/.local, /usr/local,
    /etc, /usr, no Jupyter kernel registered."""
    s = readme_root
    assert s["user_kernelspecs"] == []
    for step in ("cmd1", "setup_again", "cmd2"):
        elsewhere = s[step]["changed_outside_project"]["elsewhere"]
        print(step, elsewhere)
        assert elsewhere["count"] == 0, f"{step} wrote outside the project folder: {elsewhere['paths'][:40]}"


def test_readme_setup_again_is_quick_and_changes_nothing(readme_root):
    s = readme_root["setup_again"]
    assert s["rc"] == 0 and "up to date" in s["tail"], s["tail"]
    assert s["venv_unchanged"]
    assert s["wall_s"] < 15, s["wall_s"]
    assert s["changed_outside_project"]["pip_cache"]["count"] == 0
