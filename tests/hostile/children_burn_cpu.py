"""Burns CPU in children it never reaps, while the worker itself only sleeps: the CPU time of
everything the student started counts against the call."""
import os
import time


def patchify(z, p):
    for _ in range(2):
        if os.fork() == 0:
            end = time.monotonic() + 30
            while time.monotonic() < end:
                pass
            os._exit(0)
    time.sleep(30)
    return z
