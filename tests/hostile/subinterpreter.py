"""A new interpreter in the worker's process has none of the worker's audit hook: there ``ctypes``
loads and calls libc. Tried both ways Python 3.11 offers; ``sequence_length`` says what happened."""
import os


def _in_a_new_interpreter(run) -> str:
    r, w = os.pipe()
    try:
        run(f"import ctypes, os\nos.write({w}, b'ctypes ran: pid ' + str(ctypes.CDLL(None).getpid()).encode())")
    except BaseException as err:  # noqa: BLE001
        return f"refused ({type(err).__name__})"
    finally:
        os.close(w)
    try:
        return os.read(r, 200).decode() or "nothing ran"
    finally:
        os.close(r)


def _xxsubinterpreters(code):
    import _xxsubinterpreters as si

    si.run_string(si.create(), code)


def _testcapi(code):
    import _testcapi

    _testcapi.run_in_subinterp(code)


def sequence_length(h, w, p):
    return " | ".join(f"{run.__name__}: {_in_a_new_interpreter(run)}" for run in (_xxsubinterpreters, _testcapi))


class _Innocent(str):
    def startswith(self, *args):
        return False


def unpatchify(tokens, p, c, h, w):
    """The same test module loaded past the import statement, from its file: under its own name,
    under a package's (independent attack round 5), and named by a str that denies its prefix."""
    import importlib.machinery
    import importlib.util

    path = importlib.machinery.PathFinder.find_spec("_testcapi").origin
    seen = []
    for name in ("_testcapi", "x._testcapi", _Innocent("_testcapi")):
        loader = importlib.machinery.ExtensionFileLoader(name, path)
        try:
            importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path, loader=loader))
        except BaseException as err:  # noqa: BLE001
            seen.append(f"refused ({type(err).__name__})")
        else:
            seen.append("loaded")
    return " | ".join(seen)
