"""The sandbox: every attack in tests/hostile/ fails, costs only its own call, and leaves nothing behind.

Each hostile file defines ``patchify`` (and sometimes more) with one attack. The tests call the
real probes through a real SandboxRunner and check what came back to the grader.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from ditgrade.extract import extract
from ditgrade.sandbox import SANDBOX_UID_BASE, ForkServer, Limits, SandboxRunner
from ditgrade.student import CRASH, EXCEPTION, TIMEOUT, StudentError

HOSTILE = Path(__file__).parent / "hostile"
ROOT = os.geteuid() == 0
Z = np.arange(2 * 4 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 4)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    target_dir = tmp_path_factory.mktemp("results")
    os.chmod(target_dir, 0o755)  # like /autograder/results: the grader's, readable by all
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    os.environ["DITGRADE_TEST_TARGET"] = str(target_dir / "results.json")
    os.environ["DITGRADE_TEST_PORT"] = str(listener.getsockname()[1])
    server = ForkServer()  # started after the variables are set, so workers see them
    yield {"server": server, "target": target_dir / "results.json", "listener": listener}
    server.close()
    listener.close()


def runner_for(name: str, env, **limits) -> SandboxRunner:
    return SandboxRunner(extract(HOSTILE / f"{name}.py"), Limits(**{"call_timeout_s": 5.0, **limits}), env["server"])


def call_error(runner: SandboxRunner, probe: str = "patchify", **kwargs) -> StudentError:
    kwargs = kwargs or {"z": Z, "p": 2}
    with pytest.raises(StudentError) as info:
        runner.call(probe, **kwargs)
    return info.value


def sandbox_processes(server: ForkServer) -> list[int]:
    uid = SANDBOX_UID_BASE + server.pid
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                status = dict(line.split(":\t", 1) for line in (d / "status").read_text().splitlines() if ":\t" in line)
            except OSError:
                continue
            if status.get("Uid", "").split("\t")[0] == str(uid):
                pids.append(int(d.name))
    return pids


def test_the_sandbox_reports_its_protections(env) -> None:
    r = runner_for("output_flood", env)
    r.call("patchify", z=Z, p=2)
    prot = r.report()["protections"]
    r.close()
    assert prot["separate_process"] and prot["network_namespace"]
    assert {"RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_AS"} <= set(prot["rlimits"])
    if ROOT:
        assert prot["uid_drop"] and prot["mount_isolation"] and prot["no_new_privs"]


@pytest.mark.parametrize("name", ["read_reference", "import_reference"])
def test_the_reference_and_hidden_tests_cannot_be_read_or_imported(env, name) -> None:
    if not ROOT:
        pytest.skip("hiding the grader's files needs root (a mount namespace)")
    r = runner_for(name, env)
    err = call_error(r)
    r.close()
    assert err.kind == EXCEPTION and err.exc_type in ("PermissionError", "ModuleNotFoundError", "FileNotFoundError",
                                                      "ImportError"), err.message


def test_no_grader_file_is_readable_anywhere_on_disk(env) -> None:
    if not ROOT:
        pytest.skip("hiding the grader's files needs root (a mount namespace)")
    r = runner_for("search_disk", env, call_timeout_s=60.0)
    err = call_error(r)
    r.close()
    assert err.message.endswith("readable grader files: []"), err.message[:1000]


def test_no_secret_is_in_the_workers_memory(env) -> None:
    r = runner_for("memory_peek", env)
    err = call_error(r)
    r.close()
    assert "modules=[] frames=[] hidden_tests=0" in err.message, err.message


def test_results_json_cannot_be_written(env) -> None:
    if not ROOT:
        pytest.skip("the uid drop needs root")
    r = runner_for("write_results", env)
    err = call_error(r)
    r.close()
    assert err.exc_type in ("PermissionError", "FileNotFoundError") and not env["target"].exists()


def test_monkeypatching_comparisons_only_changes_the_students_process(env) -> None:
    import torch

    r = runner_for("monkeypatch_checks", env)
    out = r.call("patchify", z=Z, p=2)["out"]
    r.close()
    assert not torch.equal(torch.zeros(2), torch.ones(2))  # the grader's torch is untouched
    assert out["type"] == "Tensor" and np.asarray(out["value"]).shape == (1,)


def test_a_lying_tensor_arrives_as_its_real_data(env) -> None:
    r = runner_for("lying_tensor", env)
    out = r.call("patchify", z=Z, p=2)["out"]
    r.close()
    assert isinstance(out["value"], np.ndarray)
    np.testing.assert_array_equal(out["value"], np.full((3,), 7.0, np.float32))


def test_exits_and_kills_cost_one_call_and_the_next_call_still_works(env) -> None:
    r = runner_for("exits", env)
    assert call_error(r).message.startswith("SystemExit")
    assert call_error(r, "unpatchify", tokens=np.zeros((1, 4, 16), np.float32), p=2, c=4, h=4, w=4).kind == CRASH
    out = r.call("sequence_length", h=8, w=8, p=2)  # tries to kill its parent, pid 1 and "everything"
    r.close()
    assert out["value"] == 16 and r.workers_started == 2
    assert env["server"].alive()


def test_a_hang_that_ignores_sigterm_is_killed_at_the_call_timeout(env) -> None:
    r = runner_for("hangs", env, call_timeout_s=2.0)
    start = time.monotonic()
    err = call_error(r)
    elapsed = time.monotonic() - start
    r.close()
    assert err.kind == TIMEOUT and elapsed < 6, (err.kind, elapsed)
    assert sandbox_processes(env["server"]) == []


def test_a_memory_hog_fails_inside_the_student_process(env) -> None:
    r = runner_for("memory_hog", env)
    err = call_error(r)
    r.close()
    assert err.kind in (EXCEPTION, CRASH) and ("Memory" in err.message or "alloc" in err.message or err.kind == CRASH)


def test_an_output_flood_is_truncated_and_the_answer_still_counts(env) -> None:
    r = runner_for("output_flood", env)
    out = r.call("patchify", z=Z, p=2)["out"]
    r.close()
    assert np.asarray(out["value"]).shape == (2, 4, 16)
    assert len(r.output) < 20 * 1024 and r.output.endswith("[output truncated]")


def test_processes_left_behind_are_killed(env) -> None:
    if not ROOT:
        pytest.skip("killing by uid needs root")
    r = runner_for("leave_processes", env)
    err = call_error(r)
    assert err.message.startswith("RuntimeError: forked"), err.message
    assert int(err.message.split()[-1]) < 500  # RLIMIT_NPROC stopped the fork bomb
    r.close()
    time.sleep(0.2)
    assert sandbox_processes(env["server"]) == []


def test_no_network(env) -> None:
    r = runner_for("network", env)
    err = call_error(r)
    r.close()
    assert "connected" not in err.message, err.message
    with pytest.raises(TimeoutError):
        env["listener"].accept()


def test_a_cell_that_hangs_or_exits_while_loading_costs_only_itself(env, tmp_path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import sys\nimport torch\nimport not_a_real_module"),
        nbformat.v4.new_code_cell("class Stuck:\n    while True:\n        pass"),
        nbformat.v4.new_code_cell("def bad(x, _=sys.exit(3)):\n    return x"),
        nbformat.v4.new_code_cell("def sequence_length(h, w, p):\n    return (h // p) * (w // p)"),
        nbformat.v4.new_code_cell("def broken(:\n    pass"),
    ]
    path = tmp_path / "sub.ipynb"
    nbformat.write(nb, path)
    extracted = extract(path)
    assert any("cell 5" in n and "syntax error" in n for n in extracted.notes)
    r = SandboxRunner(extracted, Limits(load_timeout_s=2.0), env["server"])
    assert r.call("sequence_length", h=8, w=4, p=2)["value"] == 8
    r.close()
    report = r.report()
    assert list(report["skipped_cells"]) == ["cell 2, line 1"]
    assert any("not_a_real_module" in e for e in report["load_errors"])
    assert any("SystemExit" in e for e in report["load_errors"])
