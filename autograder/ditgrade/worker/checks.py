"""The notebook's public checks (otter's ``grader.check``), run in the student's process.

A public check is an otter test case: doctest-style code (``>>> `` lines, optional expected
output). ``public_check`` runs one question's cases in a copy of the student's namespace, the way
``grader.check`` does in the notebook, and reports the first that fails. Students have these checks
already; what they earn is shown, and scored only when the course gives them weight.
"""

from __future__ import annotations

import doctest
import io
import sys

from .probe import Probe

_parser, _checker = doctest.DocTestParser(), doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def public_check(ns: dict, cases: list, question: str = "") -> dict:
    """Run ``cases`` (doctest texts) in copies of ``ns``; {"passed", "case", "message"} of the first failure."""
    for number, code in enumerate(cases, start=1):
        globs = dict(ns)
        for example in _parser.get_examples(code):
            out, saved = io.StringIO(), sys.stdout
            sys.stdout = out
            try:
                exec(compile(example.source, "<public check>", "single"), globs)
            except BaseException as e:  # noqa: BLE001 - a failing check, whatever it raised
                sys.stdout = saved
                first = example.source.strip().splitlines()[0]
                return {"passed": False, "case": number, "message": f"`{first}` raised {type(e).__name__}: {e}"}
            finally:
                sys.stdout = saved
            if example.want and not _checker.check_output(example.want, out.getvalue(), _FLAGS):
                return {"passed": False, "case": number,
                        "message": f"`{example.source.strip()}` printed {out.getvalue().strip()!r}, "
                                   f"expected {example.want.strip()!r}"}
    return {"passed": True, "case": 0, "message": ""}


PROBE = Probe("__public_check__", public_check, "the public checks of {question}")
