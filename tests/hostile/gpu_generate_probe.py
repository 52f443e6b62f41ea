"""q5's generate, run on the GPU job's pipeline, looks for a way out of the --gpu sandbox and
reports what it found in its exception (the test's feedback carries it back). Expected: nothing.

Used by scripts/gpu_run_check.py (on a CUDA machine, and in its CPU dry run) and tests/test_gpu_sandbox.py.
"""
import json
import os
import socket
import threading


def generate(pipe, class_labels, guidance_scale=4.0, num_inference_steps=50, seed=0):
    import torch

    found = {"cuda": torch.cuda.is_available(), "grader_files": [], "network": [], "processes": [],
             "signals": [], "writable": []}
    if found["cuda"]:  # the CUDA context is live: the pipeline sits on the device
        found["device_tensor"] = float(torch.ones(4, device="cuda").sum())
    for dirpath, _dirs, files in os.walk("/"):
        if dirpath.startswith(("/proc", "/sys", "/dev")):
            continue
        for f in files:
            path = os.path.join(dirpath, f)
            if f.endswith((".py", ".json", ".toml", ".ipynb")) and ("ditgrade" in path or "/dit/" in path
                                                                     or "solutions" in path or "hidden" in path):
                try:
                    with open(path, "rb") as fh:
                        text = fh.read(65536)
                except Exception:
                    continue
                if b"@hidden_test(" in text or b"driver_cells" in text or b"def grade_submission" in text:
                    found["grader_files"].append(path)
    for host, port in (("1.1.1.1", 53), ("127.0.0.1", 22), ("127.0.0.1", 8888)):
        try:
            with socket.socket() as s:
                s.settimeout(1)
                s.connect((host, port))
            found["network"].append(f"{host}:{port}")
        except Exception:  # refused by the network namespace, or by the audit hook before that
            pass
    found["processes"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid())
    for pid in {os.getppid()} - {0, 1}:  # 0: the parent lies outside this PID namespace
        try:
            os.kill(pid, 0)
            found["signals"].append(pid)
        except Exception:
            pass
    for d in ("/", "/usr", "/etc", "/root", "/var/tmp", os.path.dirname(os.__file__)):  # /tmp is its own
        try:
            with open(os.path.join(d, ".ditgrade-probe"), "w") as fh:
                fh.write("x")
            found["writable"].append(d)
        except Exception:
            pass
    try:  # what CUDA does for each thread it starts: the sandbox must allow it under --gpu
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as fh:
            fh.write("probe")
        found["thread_name"] = "ok"
    except Exception as e:
        found["thread_name"] = f"{type(e).__name__}: {e}"
    try:  # ... but not the process's memory
        with open("/proc/self/mem", "r+b"):
            found["writable"].append("/proc/self/mem")
    except Exception:
        pass
    found["uid"] = os.getuid()
    raise RuntimeError("SANDBOX-PROBE " + json.dumps(found, sort_keys=True))
