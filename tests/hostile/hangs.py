"""Ignores SIGTERM and loops forever."""
import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)


def patchify(z, p):
    while True:
        pass
