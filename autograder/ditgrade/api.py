"""The names an assignment's author uses, in one public module (the engine's facade).

    probes.py (the student's process)   Probes, get_student, MissingName
    hidden/*.py (the grader's process)  hidden_test, warm_up, Fail, Runner, StudentError, the
                                        comparisons (assert_close, assert_equal, assert_count,
                                        run_cases, drawn_cases ...) and the decoded values
                                        (TensorValue, Raised, Opaque, type_name)
    hooks.py                            AssignmentHooks
    bank/mutants.py                     Mutant

Each name is imported from its home only when first asked for (PEP 562), so that a probes module
that imports ``Probes`` from here pulls nothing of the grader's side into a student's process.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "Probes": "worker.probe", "get_student": "worker.probe", "MissingName": "worker.probe",
    "hidden_test": "core.suite", "Fail": "core.suite", "warm_up": "core.suite",
    "Runner": "core.probe_calls", "StudentError": "core.errors",
    "TensorValue": "core.values", "Raised": "core.values", "Opaque": "core.values", "type_name": "core.values",
    "AssignmentHooks": "hooks", "Mutant": "packaging.mutate",
    **{name: "core.compare" for name in (
        "assert_close", "assert_close_overall", "assert_equal", "assert_count", "as_number", "check_shape",
        "drawn_cases", "dtype_of", "fmt_names", "fmt_shape", "items_of", "run_cases", "run_own_cases", "tensor_of")},
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"ditgrade.api has no {name!r}")
    value = getattr(importlib.import_module(f"ditgrade.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
