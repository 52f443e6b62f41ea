"""Text that leaves the grader: results.json, the terminal, grades.csv.

Student code writes messages (exception texts, printed output) and students choose names; none of
it may steer a terminal or a spreadsheet, or stop a file from being written. ``clean`` drops control
characters (escape sequences included) but keeps newlines and tabs, and replaces lone surrogates
(which no UTF-8 file can hold) with U+FFFD; ``csv_cell`` also neutralises formula prefixes, as OWASP
advises against CSV injection.
"""

from __future__ import annotations

import re

# C0 controls but \t and \n, DEL, C1 controls, and the remains of ANSI escape sequences
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A lone surrogate: JSON's "\ud800" or a file name that is not UTF-8 (surrogate escapes)
_SURROGATE = re.compile("[\ud800-\udfff]")
# What makes a spreadsheet read a cell, or a part of it after a list separator, as a formula.
# Spaces and quotes before it are skipped: some spreadsheets trim them.
_FORMULA = r"[=+\-@\t\r|%]"
_FORMULA_AT_START = re.compile(rf'[\s"]*{_FORMULA}')
_FORMULA_AFTER_SEPARATOR = re.compile(rf'([;,][\s"]*)(?={_FORMULA})')  # "," or ";": whichever the locale uses
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def clean(text: object) -> str:
    """``text`` without control characters or escape sequences (newlines and tabs kept), and with
    U+FFFD for each lone surrogate, so that it can always be written as UTF-8."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", str(text)))


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
    """A spreadsheet-safe cell: cleaned, on one line, and never read as a formula, whether the
    spreadsheet splits lines on "," or ";" (write it with ``csv.QUOTE_ALL`` too)."""
    value = clean(text).replace("\n", " ").replace("\t", " ")
    value = _FORMULA_AFTER_SEPARATOR.sub(r"\1'", value)  # "Mallory;=cmd|..." -> "Mallory;'=cmd|..."
    if _FORMULA_AT_START.match(value) and not _PLAIN_NUMBER.fullmatch(value):
        value = "'" + value
    return value
