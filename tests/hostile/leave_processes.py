"""Starts processes that outlive the call, in their own sessions, and a small fork bomb."""
import os
import subprocess


def patchify(z, p):
    for _ in range(3):
        try:
            subprocess.Popen(["sleep", "1000"], start_new_session=True)
        except OSError:
            pass  # no program can be started in the sandbox
    pids = []
    for _ in range(500):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.setsid()
            import time

            time.sleep(1000)
            os._exit(0)
        pids.append(pid)
    raise RuntimeError(f"forked {len(pids)}")
