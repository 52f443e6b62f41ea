"""The sandbox, one probe call at a time: every attack in tests/hostile/ fails, costs only its own call,
and leaves nothing behind; what the worker reports about its protections is what took effect.

Each hostile file defines ``patchify`` (and sometimes more) with one attack; placeholders such as
``__REPO__`` are filled in by ``runner_for``. The calls go through the real probes and a real
SandboxRunner; the fork server is the one a grade would use."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ditgrade.core.errors import CRASH, EXCEPTION, TIMEOUT, StudentError
from ditgrade.core.values import TensorValue
from ditgrade.grading import limits_for
from ditgrade.sandbox import SandboxRunner
from ditgrade.sandbox import forkserver_client as server
from ditgrade.sandbox.usage import address_space_left

HOSTILE = Path(__file__).parent / "hostile"
REPO = Path(__file__).resolve().parent.parent
ROOT = os.geteuid() == 0
Z = np.arange(2 * 4 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 4)
needs_root = pytest.mark.skipif(not ROOT, reason="the mount, PID and IPC namespaces and the uid drop need root")


def _cgroups_here() -> bool:
    from ditgrade.sandbox.cgroup import Cgroups

    found, _ = Cgroups.detect()
    if found is not None:
        found.remove()
    return found is not None


CGROUPS = _cgroups_here()


@pytest.fixture(scope="module")
def env(tmp_path_factory, assignment):
    target_dir = tmp_path_factory.mktemp("results")
    os.chmod(target_dir, 0o755)  # like /autograder/results: the grader's, readable by all
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    yield {"assignment": assignment, "target": target_dir / "results.json", "listener": listener,
           "work": tmp_path_factory.mktemp("subs")}
    listener.close()


def runner_for(name: str, env, **limits) -> SandboxRunner:
    text = (HOSTILE / f"{name}.py").read_text()
    text = text.replace("__REPO__", str(REPO)).replace("__TARGET__", str(env["target"]))
    text = text.replace("__PORT__", str(env["listener"].getsockname()[1]))
    path = env["work"] / f"{name}.py"
    path.write_text(text)
    lim = limits_for(env["assignment"], gpu=False)
    lim.call_cpu_s, lim.idle_s = limits.get("call_cpu_s", 5.0), limits.get("idle_s", 5.0)
    for k, v in limits.items():
        setattr(lim, k, v)
    runner = open_runner(path, env["assignment"], lim)
    runner.begin_test("q1 sandbox test")
    return runner


def open_runner(path: Path, assignment, limits) -> SandboxRunner:
    """A runner for the submission at ``path``, read in the sandbox as a grade reads it."""
    runner = SandboxRunner(assignment, limits)
    extracted = runner.read(path)
    assert not extracted.unreadable, extracted.unreadable
    return runner


def call_error(runner: SandboxRunner, probe: str = "patchify", **kwargs) -> StudentError:
    kwargs = kwargs or {"z": Z, "p": 2}
    with pytest.raises(StudentError) as info:
        runner.call(probe, **kwargs)
    return info.value


def uid_processes(uid: int, settle: float = 3.0) -> list[int]:
    """Processes of ``uid`` once they had ``settle`` seconds to go (a killed namespace dies asynchronously)."""
    deadline = time.monotonic() + settle
    while True:
        pids = _uid_processes(uid)
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def _uid_processes(uid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                status = (d / "status").read_text()
            except OSError:
                continue
            line = next((x for x in status.splitlines() if x.startswith("Uid:")), "")
            if str(uid) in line.split()[1:]:
                pids.append(int(d.name))
    return pids


@needs_root
def test_every_protection_takes_effect_and_is_reported(env) -> None:
    r = runner_for("output_flood", env)
    r.call("patchify", z=Z, p=2)
    prot = r.report()["protections"]
    r.close()
    for key in ("separate_process", "pid_namespace", "network_namespace", "ipc_namespace", "mount_isolation",
                "private_tmp", "uid_drop", "no_new_privs", "seccomp_allowlist", "audit_hook", "landlock"):
        assert prot[key] is True, (key, prot)
    assert {"RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_CORE"} <= set(prot["rlimits"])
    if CGROUPS:  # where the grader may create control groups, every worker is in its own
        assert str(prot["cgroup"]).startswith(("v1: memory", "v2: memory")), prot
        if os.path.isdir("/sys/fs/cgroup/cpu") or str(prot["cgroup"]).startswith("v2"):  # a CPU share its own
            assert "one CPU share for all of them" in str(prot["cgroup"]), prot
        if os.path.exists("/proc/pressure/cpu"):  # the meter reads the group's CPU pressure
            assert str(prot["cgroup"]).endswith("their waits for a CPU from pressure stall information"), prot
    else:
        assert prot["cgroup"] is False and any("no control group" in n for n in prot["notes"]), prot


@needs_root
@pytest.mark.parametrize("name", ["read_reference", "import_reference"])
def test_the_reference_and_hidden_tests_cannot_be_read_or_imported(env, name) -> None:
    r = runner_for(name, env)
    err = call_error(r)
    r.close()
    if name == "import_reference":
        assert "dit.hidden.q1_patchify: ModuleNotFoundError" in err.message, err.message
        assert "ditgrade.core.suite: ModuleNotFoundError" in err.message, err.message
    else:
        assert err.exc_type in ("PermissionError", "FileNotFoundError"), err.message


@needs_root
def test_no_grader_file_is_readable_anywhere_on_disk(env) -> None:
    r = runner_for("search_disk", env, call_cpu_s=60.0)
    err = call_error(r)
    r.close()
    assert err.message.endswith("readable grader files: []"), err.message[:1000]


def test_the_graders_modules_are_out_of_reach(env) -> None:
    r = runner_for("memory_peek", env)
    err = call_error(r)
    r.close()
    assert "modules=[] frames=[] gc refused" in err.message, err.message


def test_a_finalizer_freed_by_reference_counting_never_runs_on_the_serve_loop(env) -> None:
    """serve_loop_by_refcount: the probe it cut loose from its cycle is kept by the worker, so its
    finalizer does not run on the main thread and no probe of the table is swapped."""
    r = runner_for("serve_loop_by_refcount", env)
    r.call("patchify", z=Z, p=2)
    answers = [r.call("sequence_length", h=4, w=4, p=2) for _ in range(3)]
    output = r.output
    r.close()
    assert answers == [4, 4, 4], (answers, output[-2000:])
    assert "swapped" not in output and "_serve" not in output, output[-2000:]


def test_a_cycle_is_collected_on_a_call_thread_at_its_calls_end_or_by_a_later_full_collection(env) -> None:
    """Each call collects the young generations (the cycles it made and dropped, and those its
    answer held once written), and every
    FULL_EVERY-th call everything: a cycle that became garbage after surviving a collection is freed
    within that many calls. Every finalizer runs on a call's thread, never on the serve loop's."""
    from ditgrade.worker.tasks import FULL_EVERY

    assert FULL_EVERY <= 64  # old garbage waits a few calls, never a whole grade
    r = runner_for("cycles_and_the_collector", env)
    r.call("patchify", z=Z, p=2)
    seen = r.call("sequence_length", h=4, w=4, p=2)
    assert "young main=False" in seen and "returned main=False" in seen and "old" not in seen, seen
    r.call("unpatchify", tokens=np.zeros((1, 4, 4), np.float32), p=2, c=1, h=4, w=4)
    calls = 0
    while "old main=" not in seen and calls <= FULL_EVERY:
        seen = r.call("sequence_length", h=4, w=4, p=2)
        calls += 1
    r.close()
    assert "old main=False" in seen and "old-twin main=False" in seen, (calls, seen)
    assert "main=True" not in seen, seen


def test_no_finalizer_reaches_the_serve_loops_thread_through_a_fresh_collector(env) -> None:
    """collector_on_the_main_thread: a thread that outlives its call tries to turn automatic
    collection back on through a fresh ``gc``, and gets none (before: a finalizer then ran on the
    serve loop's thread and walked f_back to its frame, the channel in its locals; where no frame is
    handed out on that thread, round 4 raised and kept an exception there and read its traceback's
    frame elsewhere). What the hook refuses on that thread, alone: tests/engine/test_guard.py."""
    r = runner_for("collector_on_the_main_thread", env)
    r.call("patchify", z=Z, p=2)
    seen, calls = "", 0
    while seen.count("Error") < 3 and calls < 200:  # the thread of patchify's call tries on its own time
        seen = r.call("sequence_length", h=4, w=4, p=2)
        calls += 1
    r.close()
    assert seen == "create_builtin: ImportError | import: ImportError | module_from_spec: ImportError", seen


def test_no_weakref_callback_runs_on_the_serve_loops_thread(env) -> None:
    """weakref_on_the_call_lock: the lock a call's thread shares with the serve loop is never let go
    of there, so a callback hung on it never runs on the serve loop's thread (independent attack
    round 5 walked from there to the channel)."""
    r = runner_for("weakref_on_the_call_lock", env)
    assert r.call("sequence_length", h=4, w=4, p=2) == "armed"
    seen = [r.call("sequence_length", h=4, w=4, p=2) for _ in range(3)]
    r.close()
    assert seen == ["callbacks ran on: []"] * 3, seen


def test_a_forged_reply_is_one_answer_of_the_students_process(env) -> None:
    """forged_reply_by_greenlet: a route to the serve loop's frame that is still open (independent
    attack round 6) sends a reply before the call's own: the grader reads it, bounded, as that
    call's answer and nothing more (4242, which a hidden test judges as any wrong answer), then
    refuses the real reply as out of turn and discards the worker."""
    pytest.importorskip("greenlet", reason="the route goes through greenlet (a dev dependency here)")
    r = runner_for("forged_reply_by_greenlet", env)
    seen = []
    for _ in range(6):
        try:
            seen.append(r.call("sequence_length", h=4, w=4, p=2))
        except Exception as err:  # noqa: BLE001 - what the runner says when it discards the worker
            seen.append(f"{type(err).__name__}: {err}")
            break
    r.close()
    assert seen[0] == 4 and 4242 in seen, seen
    assert "out of turn" in seen[-1], seen


def test_no_interpreter_without_the_audit_hook(env) -> None:
    """subinterpreter: a new interpreter has none of the worker's audit hook, and ctypes ran in one
    made by _xxsubinterpreters or by _testcapi.run_in_subinterp (whose making no hook hears of)."""
    r = runner_for("subinterpreter", env)
    made = r.call("sequence_length", h=4, w=4, p=2)
    loaded = r.call("unpatchify", tokens=np.zeros((1, 4, 4), np.float32), p=2, c=1, h=4, w=4)
    r.close()
    assert made == "_xxsubinterpreters: refused (RuntimeError) | _testcapi: refused (ImportError)", made
    assert loaded == " | ".join(["refused (ImportError)"] * 3), loaded


def test_a_call_multiplies_matrices_on_its_own_thread_alone(env) -> None:
    """Torch uses one OpenMP thread in the worker, so the fresh thread of each call starts no team of
    its own (1-4 ms a call, and threads on a wide node)."""
    r = runner_for("threads_in_a_call", env)
    counts = [r.call("sequence_length", h=4, w=4, p=2) for _ in range(3)]
    r.close()
    assert counts == [2, 2, 2], counts  # the serve loop and the call


def test_what_a_call_thread_runs_first_cannot_be_rewritten(env) -> None:
    """rewrite_the_call_start: the start of every call is a builtin and a tuple; nothing to swap."""
    r = runner_for("rewrite_the_call_start", env)
    r.call("patchify", z=Z, p=2)
    seen = [r.call("sequence_length", h=4, w=4, p=2) for _ in range(2)]
    r.close()
    assert all(s.startswith("1 ") and "rewritten" not in s and "evil" not in s for s in seen), seen


@pytest.mark.slow  # a fresh interpreter that imports torch and starts its own fork server
def test_a_call_computes_on_one_thread_even_when_torch_was_imported_before_ditgrade() -> None:
    """A process that imported torch first has OpenMP's default width (the machine's), and its fork
    server and workers are its forks: each call's thread still computes alone (independent review:
    on 3 CPUs, a process limit of 3 killed the worker)."""
    code = textwrap.dedent(f"""
        import sys
        import torch  # first: OpenMP reads its thread count now, before ditgrade could set one
        sys.path.insert(0, {str(REPO / "autograder")!r})
        from ditgrade.core.assignment import Assignment
        from ditgrade.grading import limits_for
        from ditgrade.project import Project
        from ditgrade.sandbox import SandboxRunner
        from pathlib import Path
        a = Assignment.load(Project(Path({str(REPO)!r})))
        r = SandboxRunner(a, limits_for(a, gpu=False))
        r.read({str(HOSTILE / "threads_in_a_call.py")!r})
        r.begin_test("q1 threads")
        print([r.call("sequence_length", h=4, w=4, p=2) for _ in range(3)])
        r.close()
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.strip().splitlines()[-1:] == ["[2, 2, 2]"], (out.stdout, out.stderr[-3000:])


def test_forging_answers_through_the_probe_the_encoder_or_the_channel_gains_nothing(env) -> None:
    """A float64 patchify stays float64 on the grader's side, whatever the student tried."""
    r = runner_for("forge_answers", env)
    for dtype in (np.float16, np.float32):
        out = r.call("patchify", z=Z.astype(dtype), p=2)["out"]
        assert isinstance(out, TensorValue) and out.dtype == "float64", out
    err = call_error(r, "sequence_length", h=4, w=4, p=2)  # the attempts, as the student saw them
    r.close()
    assert "wrote fd" not in err.message and "socket on fd" not in err.message, err.message
    assert r.workers_started == 1  # no forged frame ever reached the grader


@needs_root
def test_results_json_cannot_be_written(env) -> None:
    r = runner_for("write_results", env)
    err = call_error(r)
    r.close()
    assert err.exc_type in ("PermissionError", "FileNotFoundError", "OSError") and not env["target"].exists()


def test_monkeypatching_comparisons_only_changes_the_students_process(env) -> None:
    import torch

    r = runner_for("monkeypatch_checks", env)
    out = r.call("patchify", z=Z, p=2)["out"]
    r.close()
    assert not torch.equal(torch.zeros(2), torch.ones(2))  # the grader's torch is untouched
    assert out.shape == (1,)


def test_patched_builtins_do_not_change_what_is_read(env) -> None:
    r = runner_for("patch_builtins", env)
    out = r.call("patchify", z=Z, p=2)["out"]
    r.close()
    assert out == "garbage"


def test_a_lying_tensor_arrives_as_its_real_data(env) -> None:
    r = runner_for("lying_tensor", env)
    out = r.call("patchify", z=Z, p=2)["out"]
    r.close()
    np.testing.assert_array_equal(out.values, np.full((3,), 7.0, np.float32))


def test_exits_and_kills_cost_one_call_and_the_next_call_still_works(env) -> None:
    r = runner_for("exits", env)
    assert "sys.exit(0)" in call_error(r).message
    assert call_error(r, "unpatchify", tokens=np.zeros((1, 4, 16), np.float32), p=2, c=4, h=4, w=4).kind == CRASH
    assert r.call("sequence_length", h=8, w=8, p=2) == 16  # tried to kill its parent, pid 1 and "everything"
    r.close()
    assert r.workers_started == 2


@pytest.mark.slow  # spends budgets of seconds by design (CI runs it with the slow ones)
def test_a_hang_is_killed_at_its_cpu_budget_and_a_sleep_at_its_idle_limit(env) -> None:
    r = runner_for("hangs", env, call_cpu_s=2.0)
    start = time.monotonic()
    err = call_error(r)
    r.close()
    assert err.kind == TIMEOUT and "CPU time" in err.message and time.monotonic() - start < 30, err.message
    (env["work"] / "sleeper.py").write_text("import time\ndef patchify(z, p):\n    time.sleep(1000)\n")
    lim = limits_for(env["assignment"], gpu=False)
    lim.idle_s = 2.0
    r = open_runner(env["work"] / "sleeper.py", env["assignment"], lim)
    start = time.monotonic()
    err = call_error(r)
    r.close()
    assert err.kind == TIMEOUT and "without computing" in err.message and time.monotonic() - start < 15


@pytest.mark.slow  # spends budgets of seconds by design (CI runs it with the slow ones)
def test_calls_killed_at_their_budget_use_up_their_questions(env) -> None:
    """An endless loop in every call of a question: the CPU each killed call used is charged to the
    question, whose later calls are cut short and then not run at all."""
    r = runner_for("hangs", env, call_cpu_s=2.0, question_cpu_s=5.0)
    start = time.monotonic()
    errors = [call_error(r) for _ in range(5)]
    r.close()
    assert [e.kind for e in errors] == [TIMEOUT] * 5
    assert "used more than 2 s" in errors[0].message and "used more than 2 s" in errors[1].message
    assert "its question had left" in errors[2].message, errors[2].message
    assert all("was used up by earlier calls" in e.message for e in errors[3:]), [e.message for e in errors]
    assert time.monotonic() - start < 40


@pytest.mark.slow  # spends budgets of seconds by design (CI runs it with the slow ones)
def test_cpu_burnt_between_calls_is_the_students(env, tmp_path) -> None:
    """A child that spins while the grader works between two calls: its CPU is charged to the
    submission at the next call, not lost (the grader's own time is never charged)."""
    path = tmp_path / "spinner.py"
    path.write_text("import os, time\n"
                    "def sequence_length(h, w, p):\n"
                    "    if h == 1 and os.fork() == 0:\n"
                    "        end = time.monotonic() + 6\n"
                    "        while time.monotonic() < end:\n"
                    "            pass\n"
                    "        os._exit(0)\n"
                    "    return (h // p) * (w // p)\n")
    r = open_runner(path, env["assignment"], limits_for(env["assignment"], gpu=False))
    r.begin_test("q1 x")
    r.call("sequence_length", h=1, w=4, p=1)
    before = r.report()["student_seconds"]
    time.sleep(4)  # the grader's time: the child spins meanwhile
    assert r.call("sequence_length", h=8, w=4, p=2) == 8
    r.close()
    assert r.report()["student_seconds"] - before > 2.0, (before, r.report()["student_seconds"])


def test_cpu_burnt_in_children_counts_against_the_call(env) -> None:
    """Children that are never reaped: their CPU time is the call's (control group or PID namespace)."""
    r = runner_for("children_burn_cpu", env, call_cpu_s=2.0, idle_s=20.0)
    start = time.monotonic()
    err = call_error(r)
    r.close()
    assert err.kind == TIMEOUT and "CPU time" in err.message and time.monotonic() - start < 15, err.message


@needs_root
def test_memory_files_are_refused(env) -> None:
    r = runner_for("memfd_memory", env)
    err = call_error(r)
    r.close()
    assert err.exc_type == "PermissionError", err.message


@needs_root
def test_no_program_can_be_started_and_the_worker_goes_on(env) -> None:
    """execve is not on the sandbox's allowlist: nothing there runs another program (so no process in
    it ever becomes dumpable and dumps core, whatever core_pattern is); the refusal is an ordinary
    PermissionError in the student's call, and the next call still works."""
    r = runner_for("runs_a_program", env)
    err = call_error(r)
    assert err.exc_type == "PermissionError", err.message
    assert r.call("sequence_length", h=8, w=8, p=2) == 16
    r.close()
    assert r.workers_started == 1


@pytest.mark.slow  # a fresh interpreter that starts its own fork server (about 7 s)
def test_the_graders_command_line_is_not_visible(env) -> None:
    """A batch grader's argv names every submission; workers forked from it must not see it."""
    script = textwrap.dedent(f"""
        import sys
        sys.argv[1:] = ["/secret/classmate_alice.ipynb", "/secret/classmate_bob.py"]
        from pathlib import Path
        from ditgrade.core.assignment import Assignment
        from ditgrade.grading import limits_for
        from ditgrade.project import Project
        from ditgrade.sandbox import SandboxRunner, forkserver_client as server
        a = Assignment.load(Project(Path({str(REPO)!r})))
        server.fork_server(a)  # forked from this process, first, as in a batch worker's warm-up
        lim = limits_for(a, gpu=False)
        r = SandboxRunner(a, lim)
        r.read(Path({str(HOSTILE / "argv_peek.py")!r}))
        print("FORKED" if server.fork_server(a).forked else "EXECED")
        print(r.call("sequence_length", h=4, w=4, p=2))
        r.close()
        server.close_all()
    """)
    proc = subprocess.run([sys.executable, "-c", script, "/secret/classmate_carol.ipynb"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("FORKED") and "cmdline=" in proc.stdout, proc.stdout
    assert "classmate" not in proc.stdout, proc.stdout


@needs_root
@pytest.mark.slow  # a fresh interpreter with its own fork server, and 5 s for its processes to go (about 9 s)
def test_a_worker_dies_with_its_grader(tmp_path) -> None:
    """The grader is killed (a batch timeout, Ctrl-C) while a call sleeps: the worker, PID 1 of
    everything the student started, must not outlive it (its uid change must not clear the
    parent-death signal)."""
    sleeper = tmp_path / "sleeper.py"
    # Children keep the CPUs busy, so that the fork server gets its parent-death SIGKILL before it
    # can kill its workers itself (tests/hostile/batch/a03_outlive_the_batch.py): only the
    # worker's own parent-death signal is left to stop it.
    sleeper.write_text(textwrap.dedent("""
        import os, time
        def sequence_length(h, w, p):
            for _ in range(3):
                if os.fork() == 0:
                    end = time.monotonic() + 60
                    while time.monotonic() < end:
                        pass
                    os._exit(0)
            time.sleep(600)
    """))
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from ditgrade.core.assignment import Assignment
        from ditgrade.grading import limits_for
        from ditgrade.project import Project
        from ditgrade.sandbox import SandboxRunner, forkserver_client as server
        a = Assignment.load(Project(Path({str(REPO)!r})))
        server.fork_server(a)  # forked, as in a batch worker
        lim = limits_for(a, gpu=False)
        lim.idle_s = lim.call_cpu_s = lim.question_cpu_s = 600
        r = SandboxRunner(a, lim)
        r.read(Path({str(sleeper)!r}))
        r._ensure_worker()
        print(r._worker.uid, flush=True)
        r.call("sequence_length", h=4, w=4, p=2)
    """)
    grader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    uid = int(grader.stdout.readline())
    time.sleep(2.0)
    assert _uid_processes(uid), "the worker should be running"
    grader.kill()
    grader.wait()
    left = uid_processes(uid, settle=5.0)
    for pid in left:  # leave nothing behind, even when the test fails
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    assert left == []


@pytest.mark.slow
def test_a_notebook_that_sleeps_at_the_top_level_costs_its_statements_not_the_batch(env, tmp_path) -> None:
    """Sleeps at load count against the load's time (CPU and idle alike): once it is used up, the
    code statements after it are not run, the definitions after it still are, in bounded time."""
    source = "import time\n" + "".join(f"pause{i} = time.sleep(4)\n" for i in range(8)) + "def sequence_length(h, w, p):\n    return (h // p) * (w // p)\n"
    path = tmp_path / "sleepy.py"
    path.write_text(source)
    lim = limits_for(env["assignment"], gpu=False)
    lim.statement_cpu_s, lim.load_cpu_s = 5.0, 10.0
    r = open_runner(path, env["assignment"], lim)
    start = time.monotonic()
    assert r.call("sequence_length", h=8, w=4, p=2) == 8
    took = time.monotonic() - start
    r.close()
    assert took < 25, took  # 8 x 4 s of sleep would be 32 s
    report = r.report()
    assert 4 <= len(report["not_run_out_of_time"]) <= 6, report


def test_a_memory_hog_fails_inside_the_student_process(env) -> None:
    r = runner_for("memory_hog", env)
    err = call_error(r)
    r.close()
    assert err.kind in (EXCEPTION, CRASH), err.message


def test_threads_take_no_address_space_of_their_own(env, tmp_path) -> None:
    """The memory budget is the student's data: glibc gave each new thread a malloc arena of its own,
    64 MB of address space reserved (128 MB while it is aligned), so a correct notebook that kept a
    34 MB tensor failed q5's later calls, by a different amount on each run (attack round 19)."""
    path = tmp_path / "threads.py"
    path.write_text(textwrap.dedent("""
        import threading
        import numpy as np

        KEEP = np.ones(40 << 20, np.uint8)  # 40 MB the notebook keeps

        def patchify(z, p):
            ready, sums = threading.Barrier(5), []

            def work():
                ready.wait()  # all five threads alive at once
                sums.append(int(np.ones(1 << 16, np.uint8).sum()))

            threads = [threading.Thread(target=work) for _ in range(5)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return sum(sums) + int(KEEP[0])
    """))
    r = open_runner(path, env["assignment"], limits_for(env["assignment"], gpu=False))
    r.begin_test("q1 threads")
    assert r.call("patchify", z=Z, p=2)["out"] == 5 * (1 << 16) + 1
    r.close()


def test_a_notebook_of_many_plots_is_read_a_piece_at_a_time(env, tmp_path) -> None:
    """A correct notebook whose saved outputs pass 20 MB (attack round 19: 0 points, "too large") is
    sent to the worker in pieces, which drops the outputs as they arrive; its code runs as ever."""
    import nbformat

    def runner(output_mb: int, name: str) -> SandboxRunner:
        nb = nbformat.v4.new_notebook()
        code = nbformat.v4.new_code_cell("def sequence_length(h, w, p):\n    return (h // p) * (w // p)\n")
        code.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBOR" + "A" * (output_mb << 20)})]
        nb.cells = [code]
        nbformat.write(nb, tmp_path / name)
        return open_runner(tmp_path / name, env["assignment"], limits_for(env["assignment"], gpu=False))

    small = runner(0, "small.ipynb")
    left = address_space_left(small._worker.pid)
    small.close()
    r = runner(60, "Plots.IPYNB")  # the extension's case, as a file system keeps it (round 19 too)
    # the pieces are let go as they are read: the student's budget is what a small notebook leaves
    # (a piece's cycles kept every piece until the first statement ran: 90 MB for a 94 MB notebook)
    assert address_space_left(r._worker.pid) > left - (25 << 20)  # 60 MB kept without the fix; 18 at most with it
    r.begin_test("q1 plots")
    assert r.call("sequence_length", h=8, w=4, p=2) == 8
    r.close()


def test_the_read_has_one_budget_for_all_its_pieces(env, tmp_path, monkeypatch) -> None:
    """Attack round 20: each 256 KB piece had the whole read's 10 s, so a notebook of slow pieces read
    for 4.5 minutes. With the budget made tiny, a 20 MB notebook (80 pieces, each far under it) is
    refused once the pieces together pass it."""
    from ditgrade.sandbox import runner as runner_module

    path = tmp_path / "slow.ipynb"
    path.write_bytes(b'{"cells": [], "metadata": {"pad": "' + b"a" * (20 << 20) + b'"}, "nbformat": 4}')
    monkeypatch.setattr(runner_module, "READ_CPU_S", 0.01)
    r = SandboxRunner(env["assignment"], limits_for(env["assignment"], gpu=False))
    got = r.read(path)
    r.close()
    assert "reading it used more than" in got.unreadable, got.unreadable


def test_a_module_the_notebook_wrote_imports_as_in_jupyter(env, tmp_path) -> None:
    """``%%writefile helpers.py`` then ``import helpers``: the body is written to the worker's folder,
    which is first on sys.path as a Jupyter kernel's is (before, the cell was skipped, the import
    failed and so did every answer that used it)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "%%writefile helpers.py\ndef tokens(h, w, p):\n    return (h // p) * (w // p)",
        "%%writefile -a helpers.py\nSCALE = 1",
        "import helpers\nfrom helpers import tokens",
        "def sequence_length(h, w, p):\n    return helpers.SCALE * tokens(h, w, p)")]
    path = tmp_path / "writes.ipynb"
    nbformat.write(nb, path)
    r = open_runner(path, env["assignment"], limits_for(env["assignment"], gpu=False))
    r.begin_test("q1 written")
    assert r.call("sequence_length", h=8, w=4, p=2) == 8
    assert r.problems() == {}
    r.close()


def test_memory_one_question_kept_does_not_fail_anothers_calls(env) -> None:
    """A call that fails for want of memory on a worker an earlier question's calls used runs once more
    on a fresh worker (round 12); the question whose code kept the memory keeps its failures."""
    r = runner_for("memory_kept_for_later", env)  # its first test is a q1 one
    r.call("patchify", z=Z, p=2)  # returns, leaving its worker no memory to give
    with pytest.raises(StudentError, match="Cannot allocate memory"):  # in q1 still: q1's own doing
        r.call("sequence_length", h=8, w=4, p=2)
    assert getattr(r, "retried", 0) == 0
    r.begin_test("q3 another question")
    assert r.call("sequence_length", h=8, w=4, p=2) == 8
    r.begin_test("q1 again, on the fresh worker")
    r.call("patchify", z=Z, p=2)
    r.begin_test("q4 another question")  # fails in words of its own: the worker's own headroom tells
    assert r.call("unpatchify", tokens=np.zeros((2, 4, 16), np.float32), p=2, c=4, h=4, w=4).shape == (2, 4, 4, 4)
    r.close()
    assert r.retried == 2 and r.report()["calls_retried"] == 2


def test_an_output_flood_is_cut_and_the_answer_still_counts(env) -> None:
    r = runner_for("output_flood", env)
    out = r.call("patchify", z=Z, p=2)["out"]
    r.close()
    assert out.shape == (2, 4, 16)
    assert len(r.output) < 20 * 1024 and "more bytes of output not kept" in r.output


def test_oversized_and_overdeep_answers_end_the_call_not_the_grader(env) -> None:
    r = runner_for("huge_answers", env)
    assert call_error(r).kind in (CRASH, TIMEOUT)
    assert call_error(r, "unpatchify", tokens=np.zeros((1, 4, 16), np.float32), p=2, c=4, h=4, w=4).kind == CRASH
    assert r.call("sequence_length", h=8, w=8, p=2) == 16
    r.close()


@needs_root
def test_processes_left_behind_die_with_the_worker(env) -> None:
    r = runner_for("leave_processes", env)
    err = call_error(r)
    assert err.message.startswith("patchify") and "forked" in err.message, err.message
    assert int(err.message.split()[-1]) < 500  # RLIMIT_NPROC stopped the fork bomb
    uid = r._worker.uid
    r.close()
    time.sleep(0.3)
    assert uid_processes(uid) == []


@needs_root
def test_nothing_survives_a_worker_shm_sysv_tmp_or_processes(env) -> None:
    def snapshot():
        shm = sorted(os.listdir("/dev/shm"))
        ipcs = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
        tmp = sorted(p for p in os.listdir("/tmp") if p.startswith(("ditgrade", "stay", "d")))
        return shm, [line for line in ipcs.splitlines() if line[:2] == "0x"], tmp

    before = snapshot()
    r = runner_for("leftovers", env)
    err = call_error(r)
    assert "left things behind" in err.message, err.message
    uid = r._worker.uid
    r.close()
    time.sleep(0.3)
    assert snapshot() == before and uid_processes(uid) == []


@needs_root
@pytest.mark.slow  # about 8 s (the default suite's 5 minutes under CI's load; CI runs it with the slow ones)
def test_no_secret_of_the_graders_environment_is_visible(env, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value_123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws_secret_value_456")
    server.close_all()  # a fork server started now inherits (only) the allow-listed part of this environment
    r = runner_for("secrets", env)
    err = call_error(r)
    r.close()
    server.close_all()
    assert "secret_token" not in err.message and "aws_secret" not in err.message, err.message[:2000]
    assert "pytest" not in err.message  # no other process's command line is visible


@pytest.mark.slow  # about 8 s of connection attempts (CI runs it with the slow ones)
def test_no_network(env) -> None:
    r = runner_for("network", env)
    err = call_error(r)
    r.close()
    assert "connected" not in err.message, err.message
    with pytest.raises(TimeoutError):
        env["listener"].accept()


def test_statements_run_as_a_notebook_runs_them(env, tmp_path) -> None:
    """Round 12: the worker's own ``from __future__ import annotations`` reached the student's
    statements (a dataclass's ``ClassVar`` became a field), ``inspect.getsource`` found no source
    (``torch.jit.script`` failed), and ``sys.modules["__main__"]`` was not the notebook's namespace.
    As in IPython: the student's own future import holds for their later cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in [
        "from __future__ import annotations",
        "from dataclasses import dataclass\nfrom typing import ClassVar\n\n@dataclass\nclass Grid:\n"
        "    KINDS: ClassVar[dict] = {'a': 1}\n    p: int = 2",
        "import inspect\ndef helper(h):\n    return h\nSOURCE = inspect.getsource(helper)",
        "def sequence_length(h: NotDefinedAnywhere, w, p):\n"
        "    return (h // p) * (w // p) + 100 * ('return h' in SOURCE) + 1000 * Grid.KINDS['a'] + 10000 * Grid().p",
    ]]
    path = tmp_path / "sub.ipynb"
    nbformat.write(nb, path)
    r = SandboxRunner(env["assignment"], limits_for(env["assignment"], gpu=False))
    r.read(path)
    try:
        assert r.call("sequence_length", h=8, w=4, p=2) == 8 + 100 + 1000 + 20000
    finally:
        r.close()
    assert not r.report().get("load_errors"), r.report()


def test_torch_compile_runs_without_a_compiler(env, tmp_path) -> None:
    """No compiler may run in the sandbox, so inductor (torch.compile's default backend) cannot: the
    assignment's ``prepare_students`` returns a function as it is and gives a module dynamo's eager
    backend. A compiled function, ``fullgraph=True`` included, a module's ``compile()``, a compiled
    module (with its ``_orig_mod``) and ``torch._dynamo.optimize`` work and give the plain results
    (round 12: every compiled call failed; round 15: switching compilation off instead broke
    ``fullgraph=True``; round 16: ``optimize("inductor")``, and tracing cost budgets)."""
    path = tmp_path / "compiled.py"
    path.write_text(
        "import torch\n\n@torch.compile(fullgraph=True)\ndef _twice(t):\n    return t * 2\n\n"
        "_lin = torch.nn.Linear(1, 1)\n_lin.compile(mode='max-autotune')\n"
        "_thrice = torch._dynamo.optimize('inductor')(lambda t: t * 3)\n"
        "_wrapped = torch.compile(torch.nn.Linear(1, 1))\n_orig = _wrapped._orig_mod\n\n"
        "def sequence_length(h, w, p):\n"
        "    n = torch.tensor([float((h // p) * (w // p))])\n"
        "    return int(_twice(n).item()) // 2 + 0 * int(_lin(n).detach().round().item()) + 0 * int(_thrice(n).item())"
        " + 0 * int(_wrapped(n).detach().round().item())\n")
    r = SandboxRunner(env["assignment"], limits_for(env["assignment"], gpu=False))
    r.read(path)
    try:
        assert [r.call("sequence_length", h=h, w=w, p=2) for h, w in ((8, 4), (6, 6))] == [8, 9]
    finally:
        r.close()
    assert not r.report().get("load_errors"), r.report()


def test_a_statement_that_hangs_or_exits_while_loading_costs_only_itself(env, tmp_path) -> None:
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
    lim = limits_for(env["assignment"], gpu=False)
    lim.statement_cpu_s = 2.0
    r = SandboxRunner(env["assignment"], lim)
    extracted = r.read(path)
    assert any("cell 5" in n and "syntax error" in n for n in extracted.notes)
    assert r.call("sequence_length", h=8, w=4, p=2) == 8
    r.close()
    report = r.report()
    assert list(report["stopped_at_load"]) == ["cell 2, line 1"]
    assert any("not_a_real_module" in e for e in report["load_errors"])
    assert any("not_a_real_module" in why and "only the packages the assignment installs" in why
               for why in r.problems().values())
    assert any("SystemExit" in e for e in report["load_errors"])


@pytest.mark.slow  # a fresh interpreter per case that imports torch and diffusers (3-5 s each)
@pytest.mark.parametrize("step, forks", [
    ("pass", True),
    ("from ditgrade.core import taint; taint.mark('a submission')", False),
    ("a.reference_path", False),
    ("a.fingerprint", False),
    ("a.tests()", False),
])
def test_the_fork_server_is_forked_only_from_a_grader_that_holds_no_secret(step: str, forks: bool) -> None:
    """A forked fork server shares the grader's pages, freed ones too: after the grader has read a
    submission, the reference or the hidden tests, a fresh interpreter is started instead."""
    script = textwrap.dedent(f"""
        from pathlib import Path
        from ditgrade.core.assignment import Assignment
        from ditgrade.project import Project
        from ditgrade.sandbox import forkserver_client as server
        REPO = Path({str(REPO)!r})
        a = Assignment.load(Project(REPO))
        {step}
        print("FORKED" if server.may_fork(a.package) else "EXECED")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ("FORKED" if forks else "EXECED")


@pytest.mark.slow  # two fresh interpreters that import torch and diffusers and start a fork server
def test_a_forked_fork_server_copies_little_of_the_graders_heap() -> None:
    """The grader's objects are frozen before it forks its fork server: a collection in either
    process writes to every object it walks, and each page it writes is copied. Measured here as the
    fork server's own pages once it is ready, against the same start with freezing switched off
    (about 85 against 142 MiB on the project's VM)."""
    script = textwrap.dedent(f"""
        import gc, os, sys
        if sys.argv[1] == "off":
            gc.freeze = lambda: None
        from pathlib import Path
        from ditgrade.core.assignment import Assignment
        from ditgrade.project import Project
        from ditgrade.sandbox import forkserver_client as server
        a = Assignment.load(Project(Path({str(REPO)!r})))
        assert server.may_fork(a.package)
        s = server.fork_server(a)
        s.ready()
        with open(f"/proc/{{s.pid}}/smaps_rollup") as f:
            print(next(int(line.split()[1]) for line in f if line.startswith("Private_Dirty:")))
        os._exit(0)
    """)
    own = {}
    for mode in ("on", "off"):
        proc = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        own[mode] = int(proc.stdout.split()[-1]) / 1024
    assert own["on"] < 0.8 * own["off"], own


def test_fork_server_forks_when_it_may(monkeypatch) -> None:
    class Seen:
        pass

    made = []
    monkeypatch.setattr(server, "ForkServer", lambda **kw: made.append(kw) or Seen())
    monkeypatch.setattr(server, "_SERVERS", {})
    hooks = type("H", (), {"environment": lambda self: {}})()
    a = type("A", (), {"folder": REPO / "autograder" / "dit", "package": "dit", "hooks": hooks})()
    monkeypatch.setattr(server, "may_fork", lambda package: True)
    server.fork_server(a)
    monkeypatch.setattr(server, "_SERVERS", {})
    monkeypatch.setattr(server, "may_fork", lambda package: False)
    server.fork_server(a)
    assert [kw["fork"] for kw in made] == [True, False]
