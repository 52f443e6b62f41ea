"""The whole ``ditgrade run --gpu`` on a CUDA machine: the reference, timed, and a hostile generate.

Started by scripts/gpu_check.sh after its preflight. Two submissions go through the real command,
each in a fresh process, exactly as a TA runs it:

1. the reference solution: wall time of the whole command (budget 30 s with the pretrained
   weights), every test passed, GPU tests included, and the sandbox's protections as reported in
   results.json (the same ones a CPU run has: namespaces, uid drop, seccomp, mounts, Landlock, a
   control group, RLIMIT_DATA instead of RLIMIT_AS);
2. tests/hostile/gpu_generate_probe.py: its generate, on the live CUDA context, walks the disk for
   the grader's files, tries the network, other processes and the disk outside /tmp, and reports
   what it found; all of it must be empty.

Prints ``GPU-RUN seconds=... score=46.0/46.0 gpu_tests=5/5 protections=ok probe=ok verdict=OK`` and
writes gpu_run.json to DITGRADE_GPU_CHECK_OUT. With DITGRADE_GPU_CHECK_DEVICE=cpu it is a dry run on
the tiny pipeline (the sandboxed path of --gpu, on the CPU; budgets not enforced).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "solutions" / "dit_assignment.ipynb"
PROBE = REPO / "tests" / "hostile" / "gpu_generate_probe.py"
WALL_BUDGET_S = 30.0
LEAKS = ("grader_files", "network", "processes", "signals", "writable")  # what the probe must find empty
# What every run on this machine must report (the CPU run's list; RLIMIT_DATA replaces RLIMIT_AS).
REQUIRED = ("separate_process", "pid_namespace", "network_namespace", "uid_drop", "no_new_privs",
            "seccomp_allowlist", "mount_isolation", "private_tmp", "audit_hook")


def grade(submission: Path, out: Path, env: dict) -> tuple[dict, float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ditgrade", "run", "--gpu", str(submission), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=240)
    seconds = time.perf_counter() - start
    results = out / "results.json"
    data = json.loads(results.read_text()) if results.is_file() and results.stat().st_size else {}
    return data, seconds, proc.stdout[-3000:] + proc.stderr[-3000:]


def main() -> int:
    cuda = os.environ.get("DITGRADE_GPU_CHECK_DEVICE", "cuda").startswith("cuda")
    env = dict(os.environ)
    tmp = tempfile.TemporaryDirectory(prefix="ditgrade-gpu-run-")
    if not cuda:
        env["DITGRADE_GPU_DEVICE"] = "cpu"
        # a dry run on the CPU shows no GPU: with a CUDA build of torch and no CUDA context,
        # torch.cuda.is_available() would ask NVML through ctypes.dlopen, which the sandbox refuses
        env["CUDA_VISIBLE_DEVICES"] = ""
        if not env.get("DITGRADE_DIT_PATH"):
            sys.path.insert(0, str(REPO / "autograder"))
            from dit.pipelines import tiny_dit_pipeline

            folder = Path(tmp.name) / "tiny"
            tiny_dit_pipeline(0).save_pretrained(folder)
            subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)  # the sandbox reads as another uid
            env["DITGRADE_DIT_PATH"] = str(folder)
    problems: list[str] = []

    data, seconds, log = grade(REFERENCE, Path(tmp.name) / "reference", env)
    tests = data.get("tests", [])
    gpu_tests = [t for t in tests if " gpu: " in t["name"]]
    gpu_ok = sum(t["score"] >= t["max_score"] for t in gpu_tests)
    score, top = round(data.get("score", 0.0), 2), round(sum(t["max_score"] for t in tests), 2)
    meta = data.get("extra_data", {}).get("ditgrade", {})
    # the GPU tests run in a worker of their own (the only one that sees the devices): its protections
    prot = meta.get("sandbox", {}).get("gpu_protections", {})
    print(f"gpu-run: reference: {score}/{top} in {seconds:.1f} s, GPU tests {gpu_ok}/{len(gpu_tests)}, "
          f"gpu={meta.get('gpu')}", flush=True)
    print("gpu-run: protections: " + json.dumps(prot, sort_keys=True), flush=True)
    if not tests:
        problems.append("the reference run left no results: " + log)
    if score < top or not gpu_tests or gpu_ok < len(gpu_tests):
        failed = [f"{t['name']}: {t.get('output', '')[:400]}" for t in tests if t["score"] < t["max_score"]]
        problems.append(f"reference scored {score}/{top}; failed: {failed}")
    missing = [k for k in REQUIRED if not prot.get(k)]
    if "RLIMIT_DATA" not in prot.get("rlimits", []):
        missing.append("RLIMIT_DATA")
    if missing:
        problems.append(f"protections missing under --gpu: {missing} (notes: {prot.get('notes')})")
    if cuda and seconds > WALL_BUDGET_S:
        print(f"gpu-run: note: {seconds:.1f} s is over the {WALL_BUDGET_S:.0f} s goal")

    probe_data, probe_s, probe_log = grade(PROBE, Path(tmp.name) / "probe", env)
    text = " ".join(t.get("output", "") for t in probe_data.get("tests", []))
    match = re.search(r"SANDBOX-PROBE (\{.*?\})(?:\s|$)", text)
    found = json.loads(match.group(1)) if match else None
    print(f"gpu-run: hostile generate ({probe_s:.1f} s): {json.dumps(found, sort_keys=True)}", flush=True)
    leaks = {k: found[k] for k in LEAKS if found.get(k)} if found is not None else {}
    probe_ok = found is not None and not leaks
    if found is None:
        problems.append("the hostile generate's report did not come back: " + text[:800] + probe_log[-800:])
    else:
        if leaks:
            problems.append(f"the hostile generate reached: {leaks}")
        if found.get("thread_name") != "ok":
            problems.append(f"a thread could not be named (CUDA needs it): {found.get('thread_name')}")
        if cuda and not found.get("cuda"):
            problems.append("CUDA was not usable inside the --gpu sandbox")

    record = {"seconds": round(seconds, 2), "score": score, "max_score": top, "gpu_tests_passed": gpu_ok,
              "gpu_tests": len(gpu_tests), "protections": prot, "probe": found, "probe_seconds": round(probe_s, 2),
              "problems": problems, "device": "cuda" if cuda else "cpu (dry run)"}
    out_dir = os.environ.get("DITGRADE_GPU_CHECK_OUT")
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "gpu_run.json").write_text(json.dumps(record, indent=1))
    for p in problems:
        print(f"gpu-run: PROBLEM: {p}")
    print(f"GPU-RUN seconds={seconds:.1f} score={score}/{top} gpu_tests={gpu_ok}/{len(gpu_tests)} "
          f"protections={'ok' if not missing else 'MISSING'} probe={'ok' if probe_ok else 'FAIL'} "
          f"verdict={'FAIL' if problems else 'OK'}" + ("" if cuda else " (dry run)"), flush=True)
    tmp.cleanup()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
