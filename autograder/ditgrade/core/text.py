"""Text that leaves the grader: results.json, the terminal, grades.csv.

Student code writes messages (exception texts, printed output) and students choose names; none of
it may steer a terminal or a spreadsheet, or stop a file from being written. ``clean`` drops control
characters (escape sequences included) but keeps newlines and tabs, and replaces lone surrogates
(which no UTF-8 file can hold) with U+FFFD; ``csv_cell`` also neutralises formula prefixes, as OWASP
advises against CSV injection.

On a TA's terminal, student text must never pass for one of the grader's own lines (a message of
70 newlines ending in a forged "total 46/46" did). ``one_line`` makes any text one line: newlines
become a visible ``\\n``, invisible format characters (bidirectional overrides, zero-width
characters) are dropped; callers print it after their own prefix or on an indented, marked line
(``STUDENT_MARK``). ``shorten`` cuts at a word boundary and says so. ``points`` is the one way a
score is written anywhere (terminal, feedback, CSV, report).
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
# What ends a line somewhere (str.splitlines' separators that clean keeps or a terminal may honour)
_LINE_BREAKS = re.compile(r"[\n\u2028\u2029]")
# Format characters (Unicode category Cf) that reorder or hide what follows them on screen
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
                        "\ufeff\ufff9-\ufffb]")
STUDENT_MARK = "    > "  # how a line of student text starts on a TA's terminal: indented and marked
NEWLINE_MARK = "\\n"  # a student's newline, shown
ELLIPSIS = "..."  # ASCII: any terminal encoding can print it


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


def one_line(text: object, limit: int | None = None) -> str:
    """``text`` cleaned and on one line: each line break shown as ``\\n``, tabs as spaces,
    invisible format characters dropped; at most ``limit`` characters (``shorten``)."""
    value = _INVISIBLE.sub("", clean(text)).replace("\t", " ")
    value = _LINE_BREAKS.sub(lambda _: NEWLINE_MARK, value.strip())  # a function: no escapes read
    return shorten(value, limit) if limit is not None else value


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, ending in "..." when cut."""
    if len(text) <= limit:
        return text
    room = max(1, limit - len(ELLIPSIS))
    cut = text[:room]
    space = cut.rfind(" ")
    if space > room // 2:  # a word boundary not too far back; otherwise cut inside a very long word
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def points(value: object) -> str:
    """A score as written everywhere: at most two decimals, no trailing zeros (46, 7.71, 43.33)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0.0
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
