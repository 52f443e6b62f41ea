"""Leaves things behind: 12 MiB in /dev/shm, a System V segment, a 1,200-deep folder tree and
files in /tmp, and a process in a session of its own."""
import os
import subprocess


def patchify(z, p):
    with open("/dev/shm/stay", "wb") as f:
        f.write(b"x" * (12 << 20))  # under RLIMIT_FSIZE
    try:
        subprocess.run(["ipcmk", "-M", str(64 << 20)], capture_output=True)
    except OSError:
        pass  # no program can be started in the sandbox
    path = "/tmp"
    for i in range(1200):
        path = os.path.join(path, "d")
        try:
            os.mkdir(path)
        except OSError:
            break
    with open("/tmp/stay.txt", "w") as f:
        f.write("x" * 1000)
    if os.fork() == 0:
        os.setsid()
        import time

        time.sleep(1000)
        os._exit(0)
    raise RuntimeError("left things behind")
