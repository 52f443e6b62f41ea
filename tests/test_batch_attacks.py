"""Hostile submissions graded in real batches, next to honest ones (tests/hostile/batch/).

Each attack in tests/hostile/batch/ (a source file) or tests/hostile/batch/layouts/ (a folder, zip,
file name or metadata, built here) says in its docstring what it tries and what must hold instead.
They are graded together with honest victims (examples/submissions/carol_correct.ipynb and
bob_correct_unfold.py, full marks each when graded alone) that sort after them:

* ``cli_batch`` (twice: ``-j 1`` and ``-j 2``): the source-file attacks through the real CLI, every
  file named on the command line as a shell glob would, the grader's environment holding secrets;
* ``layout_batch`` (``-j 2``, ``grade_batch`` with a 22 s per-submission timeout): names, exports,
  metadata, links, a notebook bomb, and a03, which needs that timeout to fire;
* the layouts that stop discovery itself, each alone (cheap) and all together with a07 (end to end).

For every batch: each victim scores exactly its solo score and each attacker no more than its
honest part (0); grades.csv and report.html are written; nothing is left (no process of the batch's
sandboxes, no /tmp/ditgrade*, nothing of theirs in /dev/shm or SysV IPC); nothing a student controls
reaches the terminal as a control character.

Needs root (the sandbox's namespaces) on Linux. About 4 minutes on an idle 2-core machine (5 on a
busy one). ``DITGRADE_ATTACK_MEMCG=1`` adds a02 inside a 3 GiB memory cgroup, where it makes the
kernel OOM-kill the honest neighbour's sandbox (about a minute more).
"""

from __future__ import annotations

import csv
import importlib.util
import inspect
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import course_assignment

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile" / "batch"
LAYOUTS = HOSTILE / "layouts"
EXAMPLES = ROOT / "examples" / "submissions"
SANDBOX_UID_BASE = 3_000_000  # ditgrade.sandbox.forkserver_client.SANDBOX_UID_BASE
SOLO = sum(course_assignment().points.values())  # carol_correct.ipynb and bob_correct_unfold.py, each graded alone
BATCH_TIMEOUT_S = 22  # the layout batch's per-submission timeout: it cuts a03 in its second call (14 s
# each); everything else in that batch finishes well inside it
SECRET_ENV = {"HF_TOKEN": "hf_SECRET_" + secrets.token_hex(8),
              "AWS_SECRET_ACCESS_KEY": "AKIA_SECRET_" + secrets.token_hex(8)}
VICTIM_MARK = "victim_secret_zz9"  # a victim's file name: no other submission may learn it

# Source-file attacks graded through the CLI, and what each may score (its honest part). a03 needs
# the batch's timeout to fire: it is graded in the layout batch, which has a short one.
ATTACKS = {
    "a01_output_pipe_flood": 0.0,
    "a02_memfd_memory": 0.0,
    "a04_cpu_in_children": 0.0,
    "a05_read_grader_secrets": 0.0,
    "a08_unencodable_answers": 0.0,
    "a09_leave_ipc_and_files": 0.0,
    "a10_hijack_the_serve_loop": 0.0,
    "a11_steal_the_channel": 0.0,
    "a12_kernel_state_and_core_dumps": 0.0,
    "a13_forge_public_checks": 0.0,
    "a14_names_without_end": 0.0,
    "a15_forge_replies_from_the_serve_loop": 0.0,
}
# What one worker may hold in memory nobody maps (its private /tmp and /dev/shm: 64 MiB each) plus
# slack for the rest of the machine; a02 tries to hold 1.5 GiB.
SHMEM_SLACK_MB = 512
GRADER_RSS_LIMIT_MB = 1024  # one grading process (baseline ~330 MiB); l10 drives one to ~1.7 GiB

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                       reason="the sandbox's namespaces need root on Linux"),
]


# ---------------------------------------------------------------------------------------------
# watching a batch from outside
# ---------------------------------------------------------------------------------------------


def _status(pid: int | str) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    ppid = int(f.read().rpartition(b")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    return kids


def _shmem_mb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _sandboxed_processes() -> dict[int, int]:
    """{pid: uid} of every live (not zombie) process with a sandbox uid (SANDBOX_UID_BASE and above)."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = _status(d)
                uid = int(st["Uid"].split()[0])
            except (OSError, KeyError, ValueError):
                continue
            if uid >= SANDBOX_UID_BASE and not st.get("State", "").startswith("Z"):
                out[int(d)] = uid
    return out


class Watch:
    """While a batch runs (every 0.1 s): the sandbox uids of its workers (processes below this one),
    the largest RSS of a grading process, the machine's Shmem. Afterwards: what of theirs is left."""

    def __init__(self) -> None:
        self.uids: set[int] = set()
        self.grader_rss_mb = 0.0
        self.shmem0 = self.shmem_peak = _shmem_mb()
        self.tmp0 = set(Path("/tmp").glob("ditgrade*"))
        self.shm0 = set(os.listdir("/dev/shm"))
        self.sandboxed0 = set(_sandboxed_processes())  # another run's, not this batch's
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            kids, todo, mine = _children(), [os.getpid()], []
            while todo:
                pid = todo.pop()
                mine.append(pid)
                todo += kids.get(pid, [])
            for pid in mine[1:]:
                try:
                    st = _status(pid)
                    uid = int(st["Uid"].split()[0])
                    rss = int(st.get("VmRSS", "0 kB").split()[0]) / 1024
                except (OSError, KeyError, ValueError):
                    continue
                if uid >= SANDBOX_UID_BASE:
                    self.uids.add(uid)
                else:
                    self.grader_rss_mb = max(self.grader_rss_mb, rss)
            self.shmem_peak = max(self.shmem_peak, _shmem_mb())

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _ours(self, uid: int) -> bool:
        return uid in self.uids

    def leftover_processes(self) -> list[tuple[int, int, str]]:
        """(pid, uid, command) of live processes with the uid of one of this batch's sandboxes."""
        out = []
        for pid, uid in _sandboxed_processes().items():
            if pid in self.sandboxed0 or uid not in self.uids:  # another run's (uids are drawn at random)
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:100]
            except OSError:
                continue
            out.append((pid, uid, cmd))
        return out

    def leftover_files(self) -> list[str]:
        """New /tmp/ditgrade* paths; /dev/shm entries and SysV IPC objects owned by the batch's sandboxes."""
        out = [str(p) for p in set(Path("/tmp").glob("ditgrade*")) - self.tmp0]
        for name in set(os.listdir("/dev/shm")) - self.shm0:
            try:
                if self._ours(os.stat(f"/dev/shm/{name}").st_uid):
                    out.append(f"/dev/shm/{name}")
            except OSError:
                pass
        for kind in ("shm", "msg", "sem"):
            try:
                with open(f"/proc/sysvipc/{kind}") as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                if any(self._ours(int(c)) for c in cols[4:12] if c.isdigit()):
                    out.append(f"sysv {kind}: {row.strip()[:80]}")
        return out

    def kill_leftovers(self) -> None:
        for pid, _, _ in self.leftover_processes():  # a sandbox's PID 1 takes its namespace with it
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------------------------


def _load_layout(name: str):
    spec = importlib.util.spec_from_file_location(f"_layout_{name}", LAYOUTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(name: str, dest: Path) -> list[Path]:
    module = _load_layout(name)
    dest.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if "victim_notebook" in inspect.signature(module.build).parameters:
        kwargs["victim_notebook"] = (EXAMPLES / "carol_correct.ipynb").read_bytes()
    return module.build(dest, **kwargs)


def _victims(folder: Path) -> dict[str, Path]:
    """Honest submissions whose names sort after every attack's."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"v1_carol": "carol_correct.ipynb", "v2_bob": "bob_correct_unfold.py", VICTIM_MARK: "bob_correct_unfold.py"}
    out = {}
    for sid, src in files.items():
        path = folder / f"{sid}{Path(src).suffix}"
        shutil.copyfile(EXAMPLES / src, path)
        out[sid] = path
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def _by_submission(out: Path) -> dict[str, dict[str, str]]:
    return {r["submission"]: r for r in _rows(out)}


class Batch:
    def __init__(self, out: Path, watch: Watch, seconds: float, stdout: str = "", stderr: str = "",
                 error: BaseException | None = None):
        self.out, self.watch, self.seconds = out, watch, seconds
        self.stdout, self.stderr, self.error = stdout, stderr, error
        self.leftover_processes = watch.leftover_processes()
        self.leftover_files = watch.leftover_files()
        watch.kill_leftovers()

    def rows(self) -> dict[str, dict[str, str]]:
        if self.error is not None:
            pytest.fail(f"the batch raised {type(self.error).__name__}: {str(self.error)[:200]}", pytrace=False)
        assert (self.out / "grades.csv").is_file(), self.stderr[-3000:]
        return _by_submission(self.out)


def _cli_batch(tmp: Path, jobs: int) -> Batch:
    """The source-file attacks and the victims, every file named on the command line (as a shell glob
    would), plus an LMS folder holding a file with escape sequences in its name (l06)."""
    subs = tmp / "subs"
    subs.mkdir(parents=True)
    paths = []
    for name in ATTACKS:
        shutil.copyfile(HOSTILE / f"{name}.py", subs / f"{name}.py")
        paths.append(subs / f"{name}.py")
    paths += list(_victims(subs).values())
    paths += _build("l06_escape_sequences_in_file_names", tmp / "l06")
    out = tmp / "out"
    env = {**os.environ, **SECRET_ENV, "DITGRADE_PROJECT": str(ROOT)}
    start = time.monotonic()
    with Watch() as watch:
        proc = subprocess.run([sys.executable, "-m", "ditgrade", "grade", *map(str, paths), "--out", str(out),
                               "-j", str(jobs)],
                              cwd=ROOT, env=env, capture_output=True, text=True, errors="replace", timeout=900)
        time.sleep(1.0)  # what the batch killed has a moment to go
    return Batch(out, watch, time.monotonic() - start, proc.stdout, proc.stderr)


@pytest.fixture(scope="module", params=[1, 2], ids=["j1", "j2"])
def cli_batch(request, tmp_path_factory) -> Batch:
    return _cli_batch(tmp_path_factory.mktemp(f"cli_j{request.param}"), request.param)


def _victims_export(dest: Path) -> Path:
    """A Gradescope export of two honest students; Victim Person (SID 424242) is the one l04/l08 target."""
    import zipfile

    meta = ("submission_501:\n  :submitters:\n  - :name: Victim Person\n    :sid: '424242'\n"
            "    :email: victim@example.edu\n"
            "submission_502:\n  :submitters:\n  - :name: Bob Honest\n    :sid: '500502'\n"
            "    :email: bob@example.edu\n")
    path = dest / "section_a_export.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("export/submission_metadata.yml", meta)
        z.writestr("export/submission_501/dit_assignment.ipynb", (EXAMPLES / "carol_correct.ipynb").read_bytes())
        z.writestr("export/submission_502/dit_assignment.py", (EXAMPLES / "bob_correct_unfold.py").read_bytes())
    return path


LAYOUT_ATTACKS = ["l04_metadata_in_student_folder", "l07_csv_formula_after_separator",
                  "l08_canvas_name_impersonation", "l09_prediction_flood", "l10_notebook_json_bomb",
                  "l11_symlinks_to_a_classmate", "l12_zip_slip_and_links", "l14_duplicate_ids",
                  "l16_small_zip_huge_code", "l17_malformed_notebook_fields"]
CRASH_LAYOUTS = ["l01_deep_folder", "l02_export_deep_path", "l03_export_file_and_folder", "l05_metadata_huge_int",
                 "l13_yaml_alias_bomb", "l15_undecodable_names_and_text"]


def _grade(inputs: list[Path], out: Path, jobs: int, timeout: float | None = None) -> Batch:
    from ditgrade.batch.run import grade_batch
    from ditgrade.core.assignment import Assignment
    from ditgrade.project import Project

    assignment = Assignment.load(Project(ROOT))
    start, error = time.monotonic(), None
    with Watch() as watch:
        try:
            grade_batch(inputs, out, assignment=assignment, jobs=jobs, progress=False, timeout=timeout)
        except BaseException as e:  # noqa: BLE001 - the test says which batch broke, and how
            error = e
        time.sleep(1.0)
    return Batch(out, watch, time.monotonic() - start, error=error)


@pytest.fixture(scope="module")
def layout_batch(tmp_path_factory) -> Batch:
    tmp = tmp_path_factory.mktemp("layouts")
    inputs = [_victims_export(tmp)]
    for name in LAYOUT_ATTACKS:
        inputs += _build(name, tmp / name)
    (tmp / "timeouts").mkdir()
    shutil.copyfile(HOSTILE / "a03_outlive_the_batch.py", tmp / "timeouts" / "a03_outlive_the_batch.py")
    inputs.append(tmp / "timeouts" / "a03_outlive_the_batch.py")
    return _grade(inputs, tmp / "out", jobs=2, timeout=BATCH_TIMEOUT_S)


# ---------------------------------------------------------------------------------------------
# every batch: victims, attackers, outputs, leftovers
# ---------------------------------------------------------------------------------------------


def _total(row: dict[str, str]) -> float:
    return float(row["total"])


def test_victims_keep_their_solo_scores(cli_batch: Batch) -> None:
    rows = cli_batch.rows()
    for sid in ("v1_carol", "v2_bob", VICTIM_MARK):
        assert rows[sid]["status"] == "graded" and _total(rows[sid]) == SOLO, (sid, rows[sid])


def _honest(name: str) -> float:
    """What an attack's own code earns honestly: a10's patchify is right but for the detach, so it
    earns q1 but the gradient test; every other attack defines nothing that works."""
    if name != "a10_hijack_the_serve_loop":
        return ATTACKS[name]
    from ditgrade.core.suite import max_scores

    a = course_assignment()
    shares = max_scores(a.tests(), a.points)
    gradient = next(n for n in shares if n.startswith("q1 gradients flow"))
    return a.points["q1"] - shares[gradient]


def test_attackers_gain_nothing(cli_batch: Batch) -> None:
    rows = cli_batch.rows()
    for name in ATTACKS:
        assert _total(rows[name]) <= _honest(name) + 1e-6, (name, rows[name])


def test_cpu_spent_in_children_counts(cli_batch: Batch) -> None:
    """a04: a call that makes the machine do 24 s of work does not pass inside a 20 s budget."""
    data = json.loads((cli_batch.out / "results" / "a04_cpu_in_children.json").read_text())
    tests = {t["name"]: t for t in data.get("tests", [])}
    test = tests.get("q1 sequence_length gives (h/p)*(w/p)")
    assert test is None or test["status"] == "failed", test


def test_outputs_are_written(cli_batch: Batch) -> None:
    for name in ("grades.csv", "report.html", "gradescope_scores.csv", "canvas_scores.csv"):
        assert (cli_batch.out / name).is_file(), name
    assert len(cli_batch.rows()) == len(ATTACKS) + 3


def test_nothing_is_left_running(cli_batch: Batch) -> None:
    """a01's 48 writers, a02's memory holder, a04's children: no sandboxed process outlives the batch."""
    assert cli_batch.leftover_processes == []


def test_nothing_is_left_in_tmp_shm_or_ipc(cli_batch: Batch) -> None:
    """a09: POSIX and SysV IPC, files in /tmp and /dev/shm."""
    assert cli_batch.leftover_files == []
    assert not [p for p in (Path("/tmp/ditgrade_leak"), Path("/dev/shm/ditgrade_leak"),
                            Path("/dev/shm/ditgrade_leak_file")) if p.exists()]


def test_no_worker_holds_memory_beyond_its_budget(cli_batch: Batch) -> None:
    """a02: memfds are memory too."""
    grew = cli_batch.watch.shmem_peak - cli_batch.watch.shmem0
    assert grew < SHMEM_SLACK_MB, f"Shmem grew by {grew:.0f} MiB while the batch ran"


def test_no_secret_reaches_a_submission(cli_batch: Batch) -> None:
    """a05: its feedback (results/<id>.json, feedback/<id>.txt) holds no secret and no other student's name."""
    texts = [(cli_batch.out / "results" / "a05_read_grader_secrets.json").read_text(),
             (cli_batch.out / "feedback" / "a05_read_grader_secrets.txt").read_text()]
    for text in texts:
        for secret in (*SECRET_ENV.values(), VICTIM_MARK, "v1_carol", "v2_bob", "reference solution"):
            assert secret not in text, f"{secret!r} reached the attacker's feedback"
        assert "GENERATED" not in text and "@hidden_test" not in text


def _results(batch: Batch, sid: str) -> dict:
    return json.loads((batch.out / "results" / f"{sid}.json").read_text())


def _test(data: dict, prefix: str) -> dict:
    return next(t for t in data["tests"] if t["name"].startswith(prefix))


def test_no_student_code_reaches_the_serve_loop(cli_batch: Batch) -> None:
    """a10: every __str__ and finalizer of its ran on a call's own thread (the frames it saw lead to
    the call's task, never to the serve loop), no probe table was found, its audit hook never ran,
    and its patchify, which detaches its input, still fails the gradient test."""
    data = _results(cli_batch, "a10_hijack_the_serve_loop")
    seen = _test(data, "q1 sequence_length")["output"]
    assert "seen: [" in seen, seen[:500]
    for marker in ("SWAPPED-A-PROBE-TABLE", "FOUND-A-LIST-OF-CALLABLES", "_serve", "'serve'"):
        assert marker not in seen, (marker, seen[:2000])
    # CPython drops a hook whose adding another hook refuses with a RuntimeError, silently: it never ran
    assert "audit hook (" not in seen, seen[:2000]
    grad = _test(data, "q1 gradients flow")
    assert grad["status"] == "failed", grad


def test_the_channel_cannot_be_copied(cli_batch: Batch) -> None:
    """a11: every way to a second descriptor of the channel, or to the channel itself, is refused."""
    out = _test(_results(cli_batch, "a11_steal_the_channel"), "q1 sequence_length")["output"]
    assert "attempts: {" in out and "WORKED" not in out, out[:2000]


def test_no_kernel_state_and_no_core_dumps(cli_batch: Batch) -> None:
    """a12: no program starts (no key, no namespace), no child dumps core."""
    out = _test(_results(cli_batch, "a12_kernel_state_and_core_dumps"), "q1 sequence_length")["output"]
    assert "'keyctl': 'PermissionError'" in out and "'unshare': 'PermissionError'" in out, out[:1000]
    assert "'core_dumps': 0" in out, out[:1000]


def test_no_reply_is_forged_and_the_graders_memory_stays_bounded(cli_batch: Batch) -> None:
    """a15: no second gc module, so no finalizer on the serve loop's thread and no forged reply (it
    got through before: refused before parsing, see tests/engine/test_codec.py); no grading process
    of the batch grew past its limit."""
    assert cli_batch.watch.grader_rss_mb < GRADER_RSS_LIMIT_MB, cli_batch.watch.grader_rss_mb
    data = _results(cli_batch, "a15_forge_replies_from_the_serve_loop")
    out = _test(data, "q5 cfg_combine")["output"]
    assert "collector: ['refused (ImportError)'], kept: 0, sent: []" in out, out[:1000]


def test_grader_side_checks_stay_linear(cli_batch: Batch) -> None:
    """a14: 99,990 names cost the grader no time to speak of, and the rest of q4 still ran."""
    data = _results(cli_batch, "a14_names_without_end")
    q4 = [t for t in data["tests"] if t["name"].startswith("q4 ")]
    assert q4 and all(t["status"] == "failed" for t in q4)
    assert not [t for t in q4 if "used up" in t["output"] or "not run" in t["output"]], q4


def test_terminal_output_has_no_control_characters(cli_batch: Batch) -> None:
    """l06 (and every message): what `ditgrade grade` prints cannot steer the TA's terminal."""
    for stream in (cli_batch.stdout, cli_batch.stderr):
        bad = sorted({f"U+{ord(c):04X}" for c in stream if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0})
        assert not bad, (bad, [line for line in stream.splitlines() if "\x1b" in line][:3])


def test_flooded_output_does_not_stall_the_batch(cli_batch: Batch) -> None:
    """a01: the flood costs its own call; the whole batch still ends well inside the budgets."""
    data = json.loads((cli_batch.out / "results" / "a01_output_pipe_flood.json").read_text())
    assert data["score"] == 0
    assert cli_batch.seconds < 400, cli_batch.seconds


# ---------------------------------------------------------------------------------------------
# layouts: folders, exports, names, metadata
# ---------------------------------------------------------------------------------------------


def test_layout_victims_keep_their_solo_scores(layout_batch: Batch) -> None:
    rows = layout_batch.rows()
    for sid in ("submission_501", "submission_502", "honest"):
        assert _total(rows[sid]) == SOLO, (sid, rows.get(sid))
    assert _total(rows["mallory"]) == 0.0  # l11: the links are not followed
    assert (layout_batch.out / "report.html").is_file()


def test_submission_bytes_are_parsed_in_the_sandbox(layout_batch: Batch) -> None:
    """l16, l17: code bombs cost their own rows (a note, no grader memory); a malformed field costs its cell."""
    rows = layout_batch.rows()
    assert _total(rows["mallory_code_bomb"]) == 0.0 and _total(rows["mallory_big_member"]) == 0.0
    bomb = _results(layout_batch, "mallory_code_bomb")
    assert "more than 1,000,000 characters" in bomb["output"], bomb["output"][:500]
    assert "too large" in (_results(layout_batch, "mallory_big_member").get("output") or "")
    fields = _results(layout_batch, "mallory_fields")
    assert _test(fields, "q1 sequence_length")["status"] == "passed", fields["output"][:500]


def test_only_the_lms_assigns_a_student_id(layout_batch: Batch) -> None:
    """l04, l08: no row but the victim's own carries the victim's SID or email."""
    layout_batch.rows()
    for name in ("grades.csv", "gradescope_scores.csv", "canvas_scores.csv"):
        with open(layout_batch.out / name, newline="") as f:
            rows = list(csv.reader(f))
        claims = [r for r in rows if "424242" in r or "victim@example.edu" in r]
        assert len(claims) <= 1, (name, claims)


def test_no_csv_cell_starts_a_formula_under_any_separator(layout_batch: Batch) -> None:
    """l07: split every cell as a ';'-separated spreadsheet would; no part may start a formula."""
    layout_batch.rows()
    for name in ("grades.csv", "gradescope_scores.csv", "canvas_scores.csv"):
        for line in (layout_batch.out / name).read_text().splitlines():
            for part in re.split(r"[;,]", line):
                part = part.strip().strip('"')
                assert not (part[:1] in ("=", "@", "+") or (part.startswith("-") and not re.fullmatch(r"-[\d.e+-]+", part))), \
                    (name, line)


def test_one_submission_cannot_flood_the_report(layout_batch: Batch) -> None:
    """l09: report.html and results/<id>.json stay small whatever one notebook holds."""
    layout_batch.rows()
    assert (layout_batch.out / "report.html").stat().st_size < 2 << 20
    assert (layout_batch.out / "results" / "mallory_predictions.json").stat().st_size < 1 << 20


def test_no_student_markup_reaches_the_report(layout_batch: Batch, cli_batch: Batch) -> None:
    """l09 (a prediction), l06 (a file name in the notes): report.html escapes what students wrote."""
    for batch in (layout_batch, cli_batch):
        batch.rows()
        html = (batch.out / "report.html").read_text()
        for tag in ("<script", "<img src=x", "<b onmouseover"):
            assert tag not in html, tag


def test_every_submission_gets_an_id_of_its_own(layout_batch: Batch) -> None:
    """l14: ``team-2.ipynb`` keeps its row (full marks) next to ``team.ipynb`` and ``team.py``."""
    rows = _rows(layout_batch.out)
    team2 = [r for r in rows if r["submission"] == "team-2"]
    assert len(team2) == 1 and _total(team2[0]) == SOLO, team2
    anonymous = [r["submission"] for r in rows if not r["name"]]
    assert len(anonymous) == len(set(anonymous)), sorted(anonymous)


def test_grader_memory_per_submission_is_bounded(layout_batch: Batch) -> None:
    """l10: a 50 KiB upload does not make a grading process use gigabytes."""
    assert layout_batch.watch.grader_rss_mb < GRADER_RSS_LIMIT_MB, layout_batch.watch.grader_rss_mb


def test_zip_entries_stay_inside_the_export(layout_batch: Batch) -> None:
    """l12: nothing written outside the unpacked export, no link created."""
    layout_batch.rows()
    assert not list((layout_batch.out.parent / "l12_zip_slip_and_links").glob("zipslip_marker*"))
    exports = layout_batch.out / "exports"
    assert not [p for p in exports.rglob("*") if p.is_symlink()]


def test_layout_batch_leaves_nothing(layout_batch: Batch) -> None:
    assert layout_batch.leftover_files == []


def test_a_submission_cut_by_the_batch_timeout_leaves_nothing_running(layout_batch: Batch) -> None:
    """a03: the batch kills its grading process after BATCH_TIMEOUT_S; its sandbox must die with it."""
    rows = layout_batch.rows()
    assert _total(rows["a03_outlive_the_batch"]) == 0.0
    # Its spinning children's CPU counts against its calls now, so it may also end, graded 0, before
    # the batch gives up on it (tests/test_sandbox.py kills a grader mid-call deterministically).
    status = rows["a03_outlive_the_batch"]["status"]
    assert status.startswith("error: grading took longer") or status == "graded", status
    assert layout_batch.leftover_processes == []


@pytest.fixture
def deep_tmp(tmp_path: Path):
    """tmp_path, removed with rm -rf afterwards: shutil.rmtree (and so pytest) recurses per level and
    cannot remove a 1,200-deep tree."""
    yield tmp_path
    subprocess.run(["rm", "-rf", "--one-file-system", str(tmp_path)], check=False)


@pytest.mark.parametrize("name", CRASH_LAYOUTS)
def test_discovery_survives_a_hostile_layout(name: str, deep_tmp: Path) -> None:
    """l01, l02, l03, l05, l13, l15: one student's layout never stops the others from being found
    (and keyed for the cache, as ``grade_batch`` does next), and finding them stays quick."""
    from ditgrade.batch.discover import discover

    tmp_path = deep_tmp
    inputs = _build(name, tmp_path / name)
    victims = _victims(tmp_path / "victims")
    subs, error, start = [], "", time.monotonic()
    try:
        subs, _ = discover([*inputs, tmp_path / "victims"], tmp_path / "work", notebook_name="dit_assignment.ipynb")
        [s.digest for s in subs]  # noqa: B018 - grade_batch's next step
    except Exception as e:  # noqa: BLE001 - failed below, briefly: a RecursionError's traceback is huge
        error = f"discover raised {type(e).__name__}: {str(e)[:200]}"
    if error:
        pytest.fail(error, pytrace=False)
    assert {s.id for s in subs} >= set(victims)
    assert time.monotonic() - start < 10


def test_hostile_layouts_graded_with_victims(deep_tmp: Path) -> None:
    """l01, l02, l03, l05, l13, l15 and a07 (text no UTF-8 file can hold) in one batch with honest
    students: it finishes, writes its outputs, and they keep their scores."""
    tmp_path = deep_tmp
    inputs = []
    for name in CRASH_LAYOUTS:
        inputs += _build(name, tmp_path / name)
    _victims(tmp_path / "victims")
    shutil.copyfile(HOSTILE / "a07_lone_surrogate_in_a_message.py", tmp_path / "victims" / "a07_lone_surrogate.py")
    batch = _grade([*inputs, tmp_path / "victims"], tmp_path / "out", jobs=2)
    rows = batch.rows()
    for sid in ("v1_carol", "v2_bob", VICTIM_MARK):
        assert _total(rows[sid]) == SOLO, (sid, rows.get(sid))
    assert _total(rows["a07_lone_surrogate"]) == 0.0
    assert (tmp_path / "out" / "report.html").is_file()
    assert batch.leftover_processes == [] and batch.leftover_files == []


# ---------------------------------------------------------------------------------------------
# optional: the memory attack where memory is scarce
# ---------------------------------------------------------------------------------------------


def _memcg(limit: int) -> Path | None:
    v1 = Path("/sys/fs/cgroup/memory")
    if v1.is_dir():
        cg = v1 / f"ditgrade_attack_{os.getpid()}"
        cg.mkdir(exist_ok=True)
        (cg / "memory.limit_in_bytes").write_text(str(limit))
        return cg
    v2 = Path("/sys/fs/cgroup")
    if (v2 / "cgroup.controllers").is_file() and "memory" in (v2 / "cgroup.controllers").read_text():
        cg = v2 / f"ditgrade_attack_{os.getpid()}"
        cg.mkdir(exist_ok=True)
        (cg / "memory.max").write_text(str(limit))
        return cg
    return None


@pytest.mark.skipif(os.environ.get("DITGRADE_ATTACK_MEMCG") != "1", reason="set DITGRADE_ATTACK_MEMCG=1 (root, cgroups)")
def test_memory_held_by_one_worker_never_costs_a_neighbour(tmp_path: Path) -> None:
    """a02 in a 3 GiB memory cgroup at -j 2 (the whole batch peaks at ~1.5 GiB without it): the
    honest notebook graded next to it keeps full marks."""
    cg = _memcg(3 << 30)
    if cg is None:
        pytest.skip("no memory cgroup")
    subs = tmp_path / "subs"
    subs.mkdir()
    text = (HOSTILE / "a02_memfd_memory.py").read_text().replace("HOG_MB = 1536", "HOG_MB = 6144")
    text = text.replace("time.sleep(10)", "time.sleep(18)")
    (subs / "a02_memfd_memory.py").write_text(text)
    victims = _victims(subs)
    procs = cg / "cgroup.procs"
    try:
        proc = subprocess.run([sys.executable, "-m", "ditgrade", "grade", str(subs), "--out", str(tmp_path / "out"),
                               "-j", "2"], cwd=ROOT, capture_output=True, text=True, timeout=900,
                              preexec_fn=lambda: procs.write_text(str(os.getpid())))
        rows = _by_submission(tmp_path / "out")
        for sid in victims:
            assert _total(rows[sid]) == SOLO, (sid, rows[sid], proc.stderr[-2000:])
    finally:
        for _ in range(50):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.2)
