"""Attack: leave kernel state behind under the sandbox's uid, make a new user namespace, dump core.

Starts ``keyctl`` to add kernel keys (they outlive a process, and a later sandbox with the same uid
could read them), asks for a new user namespace through a program, and crashes forked children
with ``os.abort()`` (a core dump goes to ``core_pattern``, a pipe to a helper on many systems,
whatever RLIMIT_CORE says).

What must hold instead: no program starts, so no key is made and no namespace; no child dumps core
(the worker is not dumpable, forks inherit that, and nothing in the sandbox can make itself dumpable
again); the submission costs only its own calls.
"""
import os
import subprocess


def _report():
    out = {}
    for name, cmd in (("keyctl", ["keyctl", "add", "user", "k", "v", "@u"]), ("unshare", ["unshare", "-U", "true"])):
        try:
            out[name] = subprocess.run(cmd, capture_output=True).returncode
        except OSError as e:
            out[name] = type(e).__name__
    cores = 0
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            os.abort()
        _, status = os.waitpid(pid, 0)
        cores += bool(os.WCOREDUMP(status))
    out["core_dumps"] = cores
    return out


def sequence_length(h, w, p):
    raise RuntimeError(f"kernel: {_report()}")
