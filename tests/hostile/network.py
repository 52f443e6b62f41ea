"""Connects to the grader's machine on the loopback (__PORT__ from the test) and to a public address."""
import socket


def patchify(z, p):
    errors = []
    for host in ("127.0.0.1", "1.1.1.1"):
        try:
            socket.create_connection((host, int("__PORT__")), timeout=2).close()
            errors.append(f"{host}: connected")
        except Exception as e:  # noqa: BLE001
            errors.append(f"{host}: {type(e).__name__}")
    raise RuntimeError("; ".join(errors))
