"""The notebook's public checks (otter's ``grader.check``): run in the student's process, judged by the grader.

A public check is an otter test case: doctest-style code (``>>> `` lines, optional expected output).
``public_check`` runs one question's cases in copies of the student's namespace, the way
``grader.check`` does in the notebook, and reports, raw, what each example printed or raised; the
grader compares that with the expected output itself (``ditgrade.core.public``), so nothing in the
student's process (a patched ``doctest``, a replaced checker) decides whether a check passed.
"""

from __future__ import annotations

import doctest
import io
import sys

from .probe import Probe

_parse = doctest.DocTestParser().get_examples
MAX_PRINTED = 4000  # characters of one example's output kept


def public_check(ns: dict, cases: list) -> list:
    """For each case (doctest text), each example's {"source", "printed", "raised"} until one raises."""
    out = []
    for code in cases:
        globs = dict(ns)
        examples = []
        for example in _parse(code):
            printed, saved = io.StringIO(), sys.stdout
            sys.stdout = printed
            raised = None
            try:
                # this module's own __future__ flags are not the notebook's (dont_inherit)
                exec(compile(example.source, "<public check>", "single", 0, True), globs)
            except BaseException as e:  # noqa: BLE001 - reported to the grader, which judges it
                raised = e
            finally:
                sys.stdout = saved
            examples.append({"source": example.source, "printed": printed.getvalue()[:MAX_PRINTED], "raised": raised})
            if raised is not None:
                break
        out.append(examples)
    return out


PROBE = Probe("__public_check__", public_check, "the public checks")
