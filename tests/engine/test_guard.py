"""The worker's audit hook, by itself: in a fresh interpreter that installs it (``guard.install`` and
``guard.collector_off``, as the worker does before the first student statement) on its main thread,
standing in for the serve loop's. The sandbox's tests (tests/test_sandbox.py, tests/hostile/) show the
same through a real worker; here each rule is seen alone, and what the worker needs still works."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent('''
    import gc, importlib, importlib.util, json, sys, threading, _imp
    from ditgrade.worker import guard

    guard.install()
    guard.collector_off()
    out = {}

    def attempt(label, fn):
        try:
            value = fn()
        except BaseException as err:
            out[label] = f"refused ({type(err).__name__})"
        else:
            out[label] = "worked" if value is not None else "worked: None"

    def import_again():
        del sys.modules["gc"]
        try:
            import gc as fresh
            return fresh.enable
        finally:
            sys.modules["gc"] = gc

    class Name(str):
        pass

    class Spec:
        name = Name("gc")

    attempt("gc.enable", gc.enable)
    attempt("fresh gc: module_from_spec", lambda: importlib.util.module_from_spec(importlib.util.find_spec("gc")))
    attempt("fresh gc: create_builtin", lambda: _imp.create_builtin(importlib.util.find_spec("gc")))
    attempt("fresh gc: import again", import_again)
    attempt("fresh gc: a str subclass for a name", lambda: _imp.create_builtin(Spec()))
    attempt("a built-in module imported again", lambda: importlib.import_module("_symtable"))

    def test_module(name):
        import importlib.machinery, os
        folder = os.path.join(os.path.dirname(os.__file__), "lib-dynload")
        path = os.path.join(folder, next(f for f in os.listdir(folder) if f.startswith("_testcapi.")))
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        return importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path, loader=loader))

    class Innocent(str):
        def startswith(self, *args):
            return False

    attempt("_testcapi", lambda: test_module("_testcapi"))
    attempt("_testcapi under a package's name", lambda: test_module("x._testcapi"))
    attempt("_testcapi named by a str subclass", lambda: test_module(Innocent("_testcapi")))
    attempt("reload", lambda: importlib.reload(gc))
    attempt("main: sys._getframe", sys._getframe)

    def raised():
        try:
            raise LookupError
        except LookupError as err:
            return err

    kept = raised()
    attempt("main: a traceback's frame", lambda: kept.__traceback__.tb_frame)
    on_thread = {}

    def hooks_frame():
        """The hook's own frame is in the traceback of what it refuses: nothing in it makes a gc."""
        import types
        try:
            sys._current_frames()
        except RuntimeError as err:
            tb = err.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            found = tb.tb_frame
        assert found.f_code.co_name == "hook", found.f_code.co_name
        for value in found.f_locals.values():
            try:
                made = value(types.SimpleNamespace(name="gc"))
            except BaseException:
                continue
            if hasattr(made, "enable"):
                return "a fresh gc"
        return None

    def elsewhere():
        try:
            on_thread["thread: sys._getframe"] = "worked" if sys._getframe() else "none"
            on_thread["thread: a traceback's frame"] = "worked" if raised().__traceback__.tb_frame else "none"
        except BaseException as err:
            on_thread["thread"] = f"refused ({type(err).__name__})"
        on_thread["thread: the hook's frame"] = hooks_frame() or "nothing"

    t = threading.Thread(target=elsewhere)
    t.start()
    t.join()
    out.update(on_thread)
    print(json.dumps(out))
''')


def _probe() -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_no_second_gc_module_no_test_module_and_no_frame_on_the_serve_loops_thread() -> None:
    """A fresh ``gc`` has the original ``enable`` (independent attack round 3 turned automatic
    collection back on with one, so that a finalizer ran on the serve loop's thread): every way to
    make one is refused, the hook's own frame (round 5 read it in a refusal's traceback) included;
    CPython's test modules are refused under any name that loads them (round 5: a package prefix, a
    str subclass); on that thread no frame is handed out; elsewhere, frames and imports of built-in
    modules work as ever."""
    seen = _probe()
    assert seen == {
        "gc.enable": "refused (RuntimeError)",
        "fresh gc: module_from_spec": "refused (ImportError)",
        "fresh gc: create_builtin": "refused (ImportError)",
        "fresh gc: import again": "refused (ImportError)",
        "fresh gc: a str subclass for a name": "refused (ImportError)",
        "a built-in module imported again": "worked",
        "_testcapi": "refused (ImportError)",
        "_testcapi under a package's name": "refused (ImportError)",
        "_testcapi named by a str subclass": "refused (ImportError)",
        "reload": "worked",
        "main: sys._getframe": "refused (RuntimeError)",
        "main: a traceback's frame": "refused (RuntimeError)",
        "thread: sys._getframe": "worked",
        "thread: a traceback's frame": "worked",
        "thread: the hook's frame": "nothing",
    }, seen
