"""Connects to the grader's machine on DITGRADE_TEST_PORT (loopback) and to a public address."""
import os
import socket


def patchify(z, p):
    errors = []
    for host in ("127.0.0.1", "1.1.1.1"):
        try:
            socket.create_connection((host, int(os.environ.get("DITGRADE_TEST_PORT", "9"))), timeout=2).close()
            errors.append(f"{host}: connected")
        except OSError as e:
            errors.append(f"{host}: {type(e).__name__}")
    raise RuntimeError("; ".join(errors))
