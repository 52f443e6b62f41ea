"""Text that leaves the grader: results.json, the terminal, grades.csv.

Student code writes messages (exception texts, printed output) and students choose names; none of
it may steer a terminal or a spreadsheet. ``clean`` drops control characters (escape sequences
included) but keeps newlines and tabs; ``csv_cell`` also neutralises formula prefixes, as OWASP
advises against CSV injection.
"""

from __future__ import annotations

import re

# C0 controls but \t and \n, DEL, C1 controls, and the remains of ANSI escape sequences
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def clean(text: object) -> str:
    """``text`` without control characters or escape sequences (newlines and tabs kept)."""
    return _CONTROL.sub("", str(text))


def clean_tree(value: object) -> object:
    """``clean`` applied to every string in a JSON-like structure."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [clean_tree(v) for v in value]
    if isinstance(value, dict):
        return {clean(k): clean_tree(v) for k, v in value.items()}
    return value


def csv_cell(text: object) -> str:
    """A spreadsheet-safe cell: cleaned, on one line, and never read as a formula."""
    value = clean(text).replace("\n", " ").replace("\t", " ")
    if value.startswith(_FORMULA_START) and not _is_number(value):
        value = "'" + value
    return value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
