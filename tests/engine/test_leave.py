"""``core.leave``: a command ends without the interpreter's tear-down, and loses nothing by it."""

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_leave_keeps_what_a_normal_exit_does():
    """The exit status, buffered output on both streams, atexit handlers (logging's flush among
    them) and a thread still at work all survive; only the tear-down is skipped."""
    p = _run("""
        import atexit, sys, threading, time
        from ditgrade.core.leave import leave

        atexit.register(lambda: print("atexit ran", end=""))
        def late(): time.sleep(0.3); print("thread done ", end="")
        threading.Thread(target=late).start()
        print("buffered ", end=""); print("on stderr", end="", file=sys.stderr)
        leave(3)
    """)
    assert p.returncode == 3
    assert p.stdout == "buffered thread done atexit ran"
    assert p.stderr == "on stderr"


def test_leave_skips_finalizers():
    """What the tear-down would run is not run (the reason for ``leave``: torch's and diffusers'
    modules took 1.3-1.8 s to tear down)."""
    p = _run("""
        import sys
        from ditgrade.core.leave import leave

        class Noisy:
            def __del__(self): print("torn down", end="")
        keep = Noisy()
        leave(0)
    """)
    assert (p.returncode, p.stdout) == (0, "")


def test_the_command_leaves_with_mains_status(tmp_path):
    """``python -m ditgrade`` ends with the status ``main`` returned (2: a usage error)."""
    p = subprocess.run([sys.executable, "-m", "ditgrade", "run", str(tmp_path / "missing.py"), "-o", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "no such file or folder" in p.stderr
