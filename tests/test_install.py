"""scripts/setup.sh and what the install leaves for the notebook tests (issue 20's install part).

The install itself, in fresh Debian 12 and Ubuntu 24.04 roots, is proven by the clean-root harness
(tests/test_clean_root.py, CLEANROOT_JOB=readme); these are the quick checks that run everywhere:
setup.sh's one-line stops before it writes anything, and the `python3` kernel that nbclient and otter
start from the project's venv is the venv's own interpreter, whatever the user's Jupyter folder holds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent


def _project_copy(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    (proj / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", proj / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", proj / "pyproject.toml")
    return proj


def _fake_python(tmp_path: Path, version: str, ensurepip: bool) -> Path:
    """A stand-in interpreter that answers setup.sh's questions: its version, and whether
    `import ensurepip, venv` works (Debian's python3 without python3-venv: it does not)."""
    major_minor = ".".join(version.split(".")[:2])
    ok = (3, 11) <= tuple(int(x) for x in version.split(".")[:2])
    fake = tmp_path / f"python{major_minor}"
    fake.write_text(f"""#!/bin/sh
[ "$1" = --version ] && {{ echo "Python {version}"; exit 0; }}
case "$2" in
  *ensurepip*) {'exit 0' if ensurepip else 'echo "No module named ensurepip" >&2; exit 1'} ;;
  *python_version*) echo {version} ;;
  *%d.%d*) echo {major_minor} ;;
  *version_info*) exit {0 if ok else 1} ;;
  *) exit 0 ;;
esac
""")
    fake.chmod(0o755)
    return fake


def _setup(proj: Path, python: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(proj.parent / "home"), "PYTHON": str(python)}
    return subprocess.run(["bash", "scripts/setup.sh"], cwd=proj, env=env, capture_output=True, text=True,
                          timeout=60)


def test_setup_stops_on_a_python_older_than_3_11_and_writes_nothing(tmp_path):
    proj = _project_copy(tmp_path)
    proc = _setup(proj, _fake_python(tmp_path, "3.10.12", ensurepip=True))
    assert proc.returncode == 1, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs a Python >= 3.11" in lines[0], proc.stderr
    assert sorted(p.name for p in proj.iterdir()) == ["pyproject.toml", "scripts"]
    assert not (tmp_path / "home").exists()


def test_setup_names_the_venv_package_when_ensurepip_is_missing(tmp_path):
    proj = _project_copy(tmp_path)
    proc = _setup(proj, _fake_python(tmp_path, "3.11.2", ensurepip=False))
    assert proc.returncode == 1, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "install python3.11-venv" in lines[0], proc.stderr
    assert not (proj / ".venv").exists()
    assert not (tmp_path / "home").exists()


def test_setup_registers_no_kernel_and_installs_nothing_outside_the_project():
    text = (REPO / "scripts" / "setup.sh").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    for forbidden in ("kernelspec install", "ipykernel install", "--user", "--break-system-packages", "apt-get"):
        assert forbidden not in code, forbidden


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not run from a virtual environment (.venv/bin/python)")
def test_python3_kernel_is_this_interpreter_despite_a_user_kernelspec(tmp_path, monkeypatch):
    """nbclient (tests/test_assignment.py) and otter start the kernel named `python3`. Run from the
    project's venv, that is the venv's own interpreter, even where the user's Jupyter folder has a
    `python3` kernelspec of another Python (as the old setup.sh left, or another tool)."""
    import nbclient

    decoy = tmp_path / "home" / ".local" / "share" / "jupyter" / "kernels" / "python3"
    decoy.mkdir(parents=True)
    (decoy / "kernel.json").write_text(json.dumps({
        "argv": ["/nonexistent/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "someone else's Python 3", "language": "python"}))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_PREFER_ENV_PATH", "JUPYTER_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.executable)")])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    printed = nb.cells[0].outputs[0]["text"].strip()
    assert os.path.realpath(printed) == os.path.realpath(sys.executable), printed


def test_public_checks_build_the_same_on_python_3_11_and_3_12():
    """otter assign rewrites the public checks with ast.unparse, which on Python 3.12 writes an
    f-string holding a string literal with the outer quotes reused (PEP 701): not even valid on 3.11,
    and different from what 3.11 wrote, so on Ubuntu 24.04 `ditgrade release` refused (up-to-date
    gate) the files committed from 3.11. Public checks keep string literals out of f-strings."""
    import ast

    cases = json.loads((REPO / "autograder" / "dit" / "generated" / "assignment.json").read_text())["public_tests"]
    bad = []
    for question, codes in cases.items():
        for code in codes:
            source = "\n".join(line[4:] for line in code.splitlines() if line.startswith((">>> ", "... ")))
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FormattedValue) and any(
                        isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(node.value)):
                    bad.append(f"{question}: {ast.get_source_segment(source, node)}")
    assert not bad, bad


VENV_PROBE = '''
import os


def patchify(z, p):
    seen = []
    try:
        import pygments.lexers.python  # not imported before: read from the venv now
        seen.append(f"lazy={len(pygments.lexers.python.PythonLexer.__name__) * 4 + 2}")
    except Exception as e:
        seen.append(f"lazy={type(e).__name__}")
    for path in (__PROJECT__, __SECRET__):
        try:
            seen.append(f"{path}: LISTED {os.listdir(path)}" if os.path.isdir(path) else f"{path}: READ {open(path).read(20)!r}")
        except OSError as e:
            seen.append(f"{path}: {type(e).__name__}")
    raise RuntimeError("SEEN " + " | ".join(seen))
'''


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not run from a virtual environment (.venv/bin/python)")
@pytest.mark.skipif(os.geteuid() != 0, reason="the mount, PID and IPC namespaces and the uid drop need root")
@pytest.mark.slow  # a fresh fork server for a copied project (about 6 s; CI runs it with the slow ones)
def test_sandbox_reads_a_venv_inside_a_hidden_project_folder_and_nothing_else_there(tmp_path, assignment):
    """setup.sh puts the venv in the project folder, which the sandbox hides (the grader's files).
    A student's program must still import lazily from the venv (a module first imported inside a
    graded call), and see nothing else of that folder. (Starting sys.executable is refused since the
    syscall allowlist of issue 18: no execve in the worker.) Here the folder holding this interpreter's venv is hidden as the
    project folder would be."""

    holder = os.path.dirname(os.path.realpath(sys.prefix))
    secret = next((os.path.join(holder, n) for n in sorted(os.listdir(holder))
                   if os.path.isfile(os.path.join(holder, n))), os.path.join(holder, "pyproject.toml"))
    path = tmp_path / "venv_probe.py"
    path.write_text(VENV_PROBE.replace("__PROJECT__", repr(holder)).replace("__SECRET__", repr(secret)))
    seen = _sandboxed_patchify_error(path, assignment, hide=[holder])
    assert "lazy=46" in seen, seen
    assert f"{holder}: LISTED" not in seen and f"{secret}: READ" not in seen, seen


def _sandboxed_patchify_error(path: Path, assignment, hide=()) -> str:
    """Grade `patchify` of the submission at PATH in a CPU sandbox; the message it raised."""
    import numpy as np

    from ditgrade.core.errors import StudentError
    from ditgrade.grading import limits_for
    from ditgrade.sandbox import SandboxRunner

    lim = limits_for(assignment, gpu=False)
    lim.hide = sorted({*lim.hide, *hide})
    lim.call_cpu_s, lim.idle_s = 10.0, 10.0
    runner = SandboxRunner(assignment, lim)
    assert not runner.read(path).unreadable
    runner.begin_test("q1 probe")
    with pytest.raises(StudentError) as info:
        runner.call("patchify", z=np.zeros((1, 1, 2, 2), dtype=np.float32), p=2)
    runner.close()
    print(info.value.message)
    return info.value.message


@pytest.mark.skipif(os.geteuid() != 0, reason="the mount, PID and IPC namespaces and the uid drop need root")
@pytest.mark.slow  # a whole grade (about 8 s; CI runs it with the slow ones)
def test_a_cpu_grade_shows_student_code_no_gpu(tmp_path, assignment):
    """Without --gpu the worker gets CUDA_VISIBLE_DEVICES="": torch.cuda.is_available() is then False
    at once. On a CUDA build of torch (PyPI's, the only 2.13.0 at hand for Ubuntu 24.04's Python 3.12
    here) it otherwise asked NVML through ctypes.dlopen, which the audit hook refuses, and a
    notebook's top-level `device = "cuda" if torch.cuda.is_available() else "cpu"` was skipped."""
    path = tmp_path / "gpu_probe.py"
    path.write_text("import os\nimport torch\n\n\ndef patchify(z, p):\n"
                    "    raise RuntimeError(f'SEEN {os.environ.get(\"CUDA_VISIBLE_DEVICES\")!r} '\n"
                    "                       f'{torch.cuda.is_available()}')\n")
    assert "SEEN '' False" in _sandboxed_patchify_error(path, assignment)
