"""Starts a program: refused in the sandbox (execve is not on its allowlist), as an ordinary
PermissionError in this call only."""
import subprocess
import sys


def sequence_length(h, w, p):
    return (h // p) * (w // p)


def patchify(z, p):
    out = subprocess.run([sys.executable, "-S", "-c", "print(6 * 7)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "42", out
    B, C, H, W = z.shape
    x = z.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)
