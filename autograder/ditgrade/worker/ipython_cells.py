"""How IPython turns one code cell into the Python it runs, read without running IPython.

Runs in the sandboxed worker (``ditgrade.worker.read`` calls ``python_of_cell`` for each code cell).
IPython 9's reading (``IPython.core.inputtransformer2``): the cell is split into lines as
``str.splitlines`` splits it, cleaned up (dedented, pasted prompts stripped), a cell magic on its
first line takes the rest as its body, and at the start of each logical line magics, shell escapes
and help queries are IPython's, autocall escapes become calls. Here shell escapes and the magics
that run no Python of the notebook are blanked (line numbers kept); a ``%%writefile`` cell becomes
the statement that writes its file; the magics that run Python run it as IPython's
``ExecutionMagics`` do (``%time``, ``%prun``, ``%timeit`` and their cell forms: see
``_line_magic_python``), each once.
"""

from __future__ import annotations

import ast
import getopt
import io
import keyword
import re
import shlex
import textwrap
import tokenize

# Cell magics that run their body in the notebook's namespace, as Python (``%%timeit`` runs its body
# inside a function of its own: ``_timeit_code``).
_PYTHON_CELL_MAGICS = frozenset({"%%time", "%%capture", "%%prun"})
# What the statements the grader writes call builtins through: the notebook may rebind exec or globals.
_B = '__import__("builtins")'
MAX_NESTED_CELL_MAGICS = 8  # `%%capture` over `%%time` over ...: each body read as a cell again
# What the statement a magic becomes may grow to: each nesting quotes its body again, doubling its
# backslashes (round 22: four levels made 51 MB of a 200 KB cell); past it, the magic does not run.
MAX_MAGIC_CODE_CHARS = 1_000_000


# IPython splits a cell into lines with ``str.splitlines`` (``TransformerManager.transform_cell``),
# which also breaks at \x0b \x0c \x1c \x1d \x1e \x85 \u2028 \u2029; Python's tokenizer breaks only
# at \n, \r\n and \r. IPython takes its decisions on its lines (a cell magic's line and body, a
# magic's or an escape's line, prompts), and the Python it runs keeps those characters where it keeps
# the line (attack round 21: ``%%writefile h.py\x1c...`` wrote its body in IPython and was refused
# here). A cell is held as two lists: each line's text, and the break that ends it (Python's three
# as "\n", the others as they are; "" after the last line, which is empty where the cell ends with a
# break, as ``str.split`` gives). A line IPython replaces (a magic, an escape) ends with "\n", as
# IPython's replacement does.
_PYTHON_BREAKS = frozenset({"\r\n", "\r", "\n"})


def _ipython_lines(source: str) -> tuple[list[str], list[str]]:
    """(each line's text, the break after it) as IPython splits ``source`` (see above)."""
    lines, ends = [], []
    for part in source.splitlines(keepends=True):
        end = "\r\n" if part.endswith("\r\n") else part[-1:] if part[-1:].splitlines() == [""] else ""
        lines.append(part[:len(part) - len(end)])
        ends.append("\n" if end in _PYTHON_BREAKS else end)
    if not ends or ends[-1]:
        lines.append("")
        ends.append("")
    return lines, ends


def _replaced(ends: list[str], first: int, last: int) -> None:
    """Lines ``first`` to ``last`` were replaced: each ends with "\n", as IPython's replacement does
    (the cell's last line still ends with nothing)."""
    ends[first:last + 1] = ["\n" if end else "" for end in ends[first:last + 1]]


def _joined(lines: list[str], ends: list[str]) -> str:
    return "".join(line + end for line, end in zip(lines, ends, strict=True))


class _Scanner:
    """Python's strings, comments and brackets, followed line by line without needing valid Python
    (the one walker behind ``_python_lines``, ``_assigns_magic`` and ``_ends_with_question_mark``).
    ``code(line)`` yields each character of ``line`` that is code: outside strings (prefixes and escapes followed; a triple-
    quoted string may span lines) and before a comment; ``depth`` counts open brackets after it;
    ``level`` counts them as Python's tokenizer does, below zero after a stray closing one."""

    def __init__(self, level: int = 0) -> None:
        self.depth, self.quote, self.comment = 0, "", False  # quote: the open string's delimiter
        self.level = level

    def code(self, line: str):
        j, self.comment = 0, False
        while j < len(line):
            ch = line[j]
            if self.quote:
                if ch == "\\":
                    j += 2  # an escaped character, raw strings too (r"\"" does not end there)
                elif line.startswith(self.quote, j):
                    j, self.quote = j + len(self.quote), ""
                else:
                    j += 1
                continue
            if ch == "#":
                self.comment = True
                return
            if ch in "'\"":
                self.quote = line[j:j + 3] if line[j:j + 3] in ("'''", '"""') else ch
                j += len(self.quote)
                continue
            if ch in "([{":
                self.depth, self.level = self.depth + 1, self.level + 1
            elif ch in ")]}":
                self.depth, self.level = max(0, self.depth - 1), self.level - 1
            yield j, ch
            j += 1

    def end_line(self, joined: bool) -> None:
        if len(self.quote) == 1 and not joined:
            self.quote = ""  # an unclosed one-line string ends with its line (a syntax error anyway)


def _assigns_magic(line: str) -> int:
    """Whether ``line`` assigns a magic or a shell escape as IPython reads it (``MagicAssign``,
    ``SystemAssign``): its first ``=`` outside strings and brackets (not ``==``, ``!=``, ``<=``,
    ``+=`` ...) followed by ``!``, or by ``%`` and a name (``t = %timeit -o f()``; ``t = %5`` is
    Python's syntax error, attack round 18), after a target an assignment can have (``) = %time 1``
    is IPython's syntax error too). Where it does, the index of that ``!`` or ``%``; 0 where not."""
    scan = _Scanner()
    for j, ch in scan.code(line):
        if ch == "=" and scan.depth == 0:
            if line[j + 1:j + 2] == "=" or (j and line[j - 1] in "=!<>+-*/%&|^@:"):
                return 0
            value = line[j + 1:].lstrip()
            magic = value[:1] == "!" or (value[:1] == "%" and value[1:].lstrip()[:1].isidentifier())
            return len(line) - len(value) if magic and _parses(line[:j].strip() + " = None") else 0
    return 0


def _ends_with_question_mark(lines: list[str], ends: list[str]) -> bool:
    """Whether the last character of IPython's ``lines`` outside strings and comments is ``?`` (a help
    query): ``def f(s="why?#"):`` is Python (attack round 17: cutting at the first ``#`` blanked it).
    A comment ends with IPython's line, as in its tokenizer."""
    return _last_code_character(lines, ends) == "?"


def _last_code_character(lines: list[str], ends: list[str]) -> str:
    scan, last = _Scanner(), ""
    for line, end in zip(lines, ends, strict=True):
        for _, ch in scan.code(line):
            if not ch.isspace():
                last = ch
        scan.end_line(line.endswith("\\") and end == "\n")
    return last


# IPython's autocall escapes at the start of a logical line (``inputtransformer2.EscapedCommand``):
# ``/f a b`` is ``f(a, b)``, ``,f a b`` is ``f("a", "b")``, ``;f a b`` is ``f("a b")`` (a lone ``;``
# is ``("")``). Python starts no line with them; ``//`` and ``/=`` are other operators.
_AUTOCALL = re.compile(r"^[ \t]*(/(?![/=])|,|;)")


def _autocall_escape(line: str) -> str:
    match = _AUTOCALL.match(line)
    return match.group(1) if match else ""


def _autocall(escape: str, content: str) -> str | None:
    """The Python IPython runs for an escaped line's ``content`` (after the escape); None where
    IPython refuses the cell (``/`` with no name)."""
    name, _, args = content.partition(" ")
    if escape == "/":
        return f"{name}({', '.join(args.split())})" if name else None
    if escape == ",":
        return '{}("{}")'.format(name, '", "'.join(args.split()))
    return f'{name}("{args}")'


# IPython's clean-up of a cell before it reads magics (``IPython.core.inputtransformer2``, 9.x):
# the cell is dedented; pasted doctest prompts (``>>> ``, ``... ``, indented or not) come off every
# line outside a triple-quoted string when one such line starts with ``>>>``, and those lines are
# dedented again; IPython's own prompts (``In [n]: ``, ``...: ``) come off when the first or the
# second line has one. Colab's IPython 7 took the first line's indentation off the lines that have
# it instead of dedenting: where IPython 9's reading is not Python and that rule's is, that one is
# taken, so a cell either runs also runs here (attack round 14: applying both at once broke cells
# whose first line was an indented comment, which IPython 9 runs).
_INDENT = re.compile(r"^[ \t]+")
_PS1_AT = re.compile(r"^\s*>>>")
_PS1, _PS2 = re.compile(r"^\s*>>>[ \t]?"), re.compile(r"^\s*\.\.\.[ \t]?")
_TRIPLE = re.compile(r"(?<!\\)(\"\"\"|\'\'\')")
_STRING_PREFIX = re.compile(r"(?i)^[rubf]*$")
_IPYTHON_PROMPT = re.compile(r"^((\[nav\]|\[ins\])?\ )?In\ \[\d+\]:\ |^\s*\.{3,}:\ ?")


def _dedent(lines: list[str], ends: list[str]) -> list[str]:
    """``textwrap.dedent`` of the lines (whitespace-only lines become empty), applied as IPython
    applies it: to the text with its breaks, where only "\n" ends a line (it takes only spaces and
    tabs, so the lines stay as many)."""
    return _ipython_lines(textwrap.dedent(_joined(lines, ends)))[0][:len(lines)]


def _in_string_literal(lines: list[str]) -> list[bool]:
    """For each line, whether it lies inside a triple-quoted string written as a string (a docstring,
    a literal), whose ``>>>`` lines are text, not prompts: IPython's heuristic. A string opened on a
    line that had a prompt, after an earlier prompt line, is part of the pasted code."""
    inside: list[bool] = []
    open_quote, keep, seen_prompt = "", False, False
    for line in lines:
        inside.append(bool(open_quote) and keep)
        for m in _TRIPLE.finditer(line):
            if not open_quote:
                open_quote = m.group(1)
                before = line[:m.start()]
                bare = _PS2.sub("", _PS1.sub("", before, count=1), count=1)
                keep = not (bare != before and seen_prompt) and bool(_STRING_PREFIX.match(bare.strip()))
                inside[-1] = keep
            elif m.group(1) == open_quote:
                open_quote, keep = "", False
        seen_prompt = seen_prompt or bool(_PS1_AT.match(line))
    return inside


def _strip_doctest_prompts(lines: list[str], ends: list[str]) -> list[str]:
    inside = _in_string_literal(lines)
    if not any(_PS1_AT.match(line) and not kept for line, kept in zip(lines, inside, strict=True)):
        return lines
    out, stripped = [], []
    for line, kept in zip(lines, inside, strict=True):
        new = line if kept else (_PS1.sub("", line, count=1) if _PS1.match(line) else _PS2.sub("", line, count=1))
        out.append(new)
        stripped.append(new != line)
    result, i = [], 0
    while i < len(out):  # dedent each run of lines outside strings where a prompt came off
        j = i
        while j < len(out) and inside[j] == inside[i]:
            j += 1
        run = out[i:j]
        result += _dedent(run, ends[i:j]) if not inside[i] and any(stripped[i:j]) else run
        i = j
    return result


def ipython_cleanup(lines: list[str], ends: list[str], *, colab: bool = False) -> bool:
    """Clean the lines of one cell (``ends``: the break after each) up as IPython 9 does before
    running it (see above), in place;
    ``colab``: with IPython 7's rule for the first line's indentation too. True where that rule
    reads the cell otherwise (its first line still indented once the cell is dedented). Blank lines
    before the first are kept blank (IPython drops them), so line numbers stay (round 13: an indented
    cell and one with pasted prompts ran in IPython and were syntax errors here)."""
    top = _top(lines)
    if top is None:
        return False
    body = _dedent(lines[top:], ends[top:])
    indent = _INDENT.match(body[0])
    if indent and colab:  # IPython 7's rule, where a later line is less indented than the first
        body = [line[len(indent.group(0)):] if line.startswith(indent.group(0)) else line for line in body]
    body = _strip_doctest_prompts(body, ends[top:])
    if _IPYTHON_PROMPT.match(body[0]) or (len(body) > 1 and _IPYTHON_PROMPT.match(body[1])):
        body = [_IPYTHON_PROMPT.sub("", line, count=1) for line in body]
    lines[top:] = body
    return bool(indent)


def _top(lines: list[str]) -> int | None:
    """The index of a cell's first line that is not blank, or None."""
    return next((i for i, line in enumerate(lines) if line.strip()), None)


def _cell_magic(lines: list[str], top: int | None) -> tuple[str, str]:
    """(the cell magic on line ``top`` of the cleaned-up lines, the rest of its line), or ("", "").
    ``top`` is the first line not blank before the clean-up: IPython drops blank lines first, then
    prompts, and a line a bare prompt left blank still comes first (round 14's comparison with
    IPython 9). The name ends at the first space, as IPython reads it (``%%time<TAB>x`` is a magic
    of that whole name, which does not exist)."""
    first = lines[top] if top is not None else ""
    if not first.startswith("%%") or _MAGIC_HELP.match(first):  # `%%time?` asks for help: not a cell magic
        return "", ""
    name, _, rest = first[2:].rstrip().partition(" ")
    return "%%" + name, rest


_MAGIC_HELP = re.compile(r"%%\w+\?")
_HELP_END = re.compile(r"%{0,2}(?!\d)[\w*]+(\.(?!\d)[\w*]+|\[-?[0-9]+\])*\?\??$")  # IPython's _help_end_re
_CAPTURE_OPTIONS = ("--no-stderr", "--no-stdout", "--no-display")
_PRUN_FLAGS, _PRUN_VALUED = frozenset("rq"), frozenset("DlsT")


_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")  # argparse's: a value, not an option


def _abbreviates(word: str, options: tuple[str, ...]) -> bool:
    """Whether argparse reads ``word`` as one of ``options`` (the whole name or a unique prefix)."""
    return word.startswith("--") and len(word) > 2 and (
        word in options or sum(o.startswith(word) for o in options) == 1)


def _magic_code(magic: str, rest: str) -> str | None:
    """For a cell magic that runs its body as a cell, the code it runs before the body ("" for none:
    only ``%%prun`` runs what follows its options on its line); None where IPython refuses what
    follows the magic on its line, and the body never runs (attack round 15: ``%%time  # a note``
    raises "Can't use statement directly after '%%time'!" in IPython and ran here)."""
    words = _arg_words(rest)
    if words is None:
        return None
    if magic == "%%time":  # only --no-raise-error; anything else is a statement after %%time
        return "" if all(_abbreviates(w, ("--no-raise-error",)) for w in words) else None
    if magic == "%%capture":
        return "" if _capture_args(rest) is not None else None
    # %%prun: getopt with "D:l:rs:T:q", stopping at the first word that is not an option
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        if word.startswith("--"):
            return None  # no long options
        for j, flag in enumerate(word[1:], start=1):
            if flag in _PRUN_VALUED:
                if j == len(word) - 1:  # its value is the next word
                    i += 1
                    if i == len(words):
                        return None
                break
            if flag not in _PRUN_FLAGS:
                return None
        i += 1
    return " ".join(words[i:])  # as IPython joins them


_WRITEFILE = frozenset({"%%writefile", "%%file"})  # %%file is IPython's other name for it
_QUOTED_FILENAME = re.compile(r"^(\'.*\')|(\".*\")$")  # IPython's own test, as it is written


def _writefile_code(magic: str, rest: str, body: str) -> tuple[str | None, str]:
    """(the statement that does what ``%%writefile [-a] FILE`` does with ``body``, ""), or (None, why
    IPython refuses the cell or the grader does not run it). IPython's argparse takes ``-a`` (or an
    abbreviation of ``--append``) and one file name; it then strips the quotes of a quoted name and
    expands ``~``."""
    if not body:
        return None, f"the cell magic {magic} has an empty body, which IPython refuses to run"
    if "$" in rest or "{" in rest:
        return None, f"the file name of {magic} uses variables ({rest.strip()[:40]!r}), which the grader does not expand"
    words = _arg_words(rest)
    append, names, options_end = False, [], False
    for w in words or []:
        if w == "--" and not options_end:
            options_end = True
        elif w.startswith("-") and w != "-" and not options_end and not _NEGATIVE_NUMBER.match(w):
            if not re.fullmatch(r"-a+", w) and not _abbreviates(w, ("--append",)):  # -aa: argparse takes -a twice
                return None, f"IPython refuses the option {w[:40]!r} of {magic}, so the cell never runs"
            append = True
        else:
            names.append(w)
    if words is None or len(names) != 1:
        return None, f"{magic} needs one file name ({rest.strip()[:40]!r}), which IPython refuses, so the cell never runs"
    name = names[0][1:-1] if _QUOTED_FILENAME.match(names[0]) else names[0]
    return (f'__import__("io").open(__import__("os").path.expanduser({name!r}), {"a" if append else "w"!r}, '
            f'encoding="utf-8").write({body!r})'), ""


# The magics that run Python of the notebook (IPython's ``ExecutionMagics``), and where they run it:
# ``%time`` in the caller's namespace (the notebook's at the top of a cell or in a top-level block;
# a function's local namespace, whose changes do not last, inside a function; a class body's),
# ``%prun`` in the notebook's namespace wherever it is, ``%timeit`` (and ``%%timeit``'s setup and
# body) inside a function whose globals are the notebook's: a ``global`` statement, an in-place
# change or a written file reaches the notebook (attack round 21). Each runs once: the number of
# times IPython runs a ``%timeit`` depends on the machine's speed unless ``-n`` is given, and a
# body's effect on the notebook is the same after one run unless it adds up over runs. At the top of
# a cell, ``%time`` and ``%prun`` become their statement itself, so that the names it binds are read
# as the notebook's (``%time x = f()`` binds x); elsewhere, and where they are assigned
# (``t = %time f()``), a call of exec or eval on its Python.
_TIMEIT_OPTIONS = "n:r:tcp:qov:"  # IPython's, given to getopt as its parse_options does


def _line_magic_python(content: str, *, direct: bool, depth: int) -> str | None:
    """The Python that the line magic ``%content`` runs: the statement itself where ``direct``, else
    an expression whose value is what IPython's magic returns; None for a magic that runs no Python
    of the notebook, where IPython refuses its arguments, or where it would grow too long."""
    python = _line_magic_code(content, direct=direct, depth=depth)
    return python if python is None or len(python) <= MAX_MAGIC_CODE_CHARS else None


def _line_magic_code(content: str, *, direct: bool, depth: int) -> str | None:
    name, _, args = content.partition(" ")
    if depth >= MAX_NESTED_CELL_MAGICS:
        return None
    if name == "time":  # argparse's parse_known_args: --no-raise-error (or a prefix) is its only option
        words = _arg_words(args)
        if words is None:
            return None
        kept = [w for w in words if not _abbreviates(w, ("--no-raise-error",))]
        python = _statement_python(" ".join(kept), depth)
        if python is None or (direct and "\n" not in python and _compiles(python)):
            return python
        no_raise = len(kept) < len(words)
        return (f"(lambda run: {_B}.exec({_TIME!r}, run) or run['value'])({{'g': {_B}.globals(), "
                f"'l': {_B}.locals(), 'source': {python!r}, 'no_raise': {no_raise}}})")
    if name == "prun":
        statement = _magic_code("%%prun", args)
        python = None if statement is None else _statement_python(statement, depth)
        if python is None or (direct and "\n" not in python and _compiles(python)):
            return python
        return f"{_B}.exec({python!r}, {_B}.globals())"
    if name == "timeit":
        setup = _timeit_setup(args)
        if not setup or not setup[1]:  # refused, nothing to time, or timed no times (-r 0)
            return None
        body, _, _ = _read_cell(setup[0], colab=False, depth=depth + 1, in_function=True)
        source = None if body is None else _in_function("pass", body)
        return None if source is None else (
            f"{_B}.exec({_TIMEIT_LINE!r}, {{'g': {_B}.globals(), 'l': {_B}.locals(), 'source': {source!r}}})")
    return None


# %time's run (``ExecutionMagics.time``): one expression is evaluated; after several statements a
# last expression is evaluated too (its value is what ``t = %time ...`` binds); with
# --no-raise-error an exception is swallowed (round 22: it failed the loop around it here).
_TIME = """import ast
tree, value = ast.parse(source), None
try:
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        value = eval(compile(ast.Expression(tree.body[0].value), "<timed eval>", "eval"), g, l)
    elif len(tree.body) > 1 and isinstance(tree.body[-1], ast.Expr):
        exec(compile(ast.Module(tree.body[:-1], []), "<timed exec>", "exec"), g, l)
        value = eval(compile(ast.Expression(tree.body[-1].value), "<timed exec>", "eval"), g, l)
    else:
        exec(compile(tree, "<timed exec>", "exec"), g, l)
except Exception:
    if not no_raise:
        raise
"""
# A line %timeit sees the local names of the function (or class body) it is in: IPython copies
# them into the notebook's globals for the timing and then puts back the globals they hid, so the
# others stay (round 22: a correct count_parameters that timed a sum over its own list lost q3).
# At the top of a cell the locals are the globals: what the timing changed in them is put back.
_TIMEIT_LINE = """hidden = {}
if l:
    hidden = {name: value for name, value in g.items() if name in l}
    g.update(l)
exec(source, g, {})
g.update(hidden)
"""


def _statement_python(statement: str, depth: int) -> str | None:
    """``statement`` read as IPython's ``transform_cell`` reads it; None where it holds nothing."""
    python, _, _ = _read_cell(statement, colab=False, depth=depth + 1)
    python = (python or "").strip("\n")
    return python if python.strip() else None


def _compiles(text: str) -> bool:
    try:
        compile(text, "<magic>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def _timeit_setup(rest: str) -> tuple[str, bool] | None:
    """(what follows ``%timeit``'s or ``%%timeit``'s options on its line, as IPython's
    ``parse_options(..., posix=False, strict=False, preserve_non_opts=True)`` leaves it: each option
    and its value taken out of the text once; whether IPython runs the body at all: not with ``-n``
    below 1 or ``-r`` 0, round 22), or None where IPython refuses the options (getopt; a count or
    precision that is not a number, or given twice)."""
    words = _arg_words(rest, strict=False) or []
    try:
        options, _ = getopt.getopt(words, _TIMEIT_OPTIONS)
        numbers = {option: int(value) for option, value in options if option in ("-n", "-r", "-p")}
    except (getopt.GetoptError, ValueError):
        return None
    if len(numbers) < sum(option in ("-n", "-r", "-p") for option, _ in options):
        return None  # IPython makes a list of a repeated option, which int() refuses
    left = " " + rest
    for option, value in options:
        left = left.replace(option, "", 1).replace(value, "", 1)
    number, repeat = numbers.get("-n", 0), numbers.get("-r", 7)
    return left.lstrip(), number == 0 or (number > 0 and repeat > 0)


def _timeit_code(rest: str, body: str, *, colab: bool, depth: int) -> tuple[str | None, str]:
    """(the statement that runs a ``%%timeit`` cell as IPython does, once: its setup, then its body,
    inside a function whose globals are the notebook's, ""), or (None, why IPython refuses it)."""
    options = _timeit_setup(rest)
    if options is None:
        return None, f"IPython refuses what follows %%timeit on its line ({rest.strip()[:40]!r}), so the cell never runs"
    setup, runs = options
    if not runs:
        return None, f"%%timeit {rest.strip()[:40]} times its body no times (IPython runs it only with -n 1 or more and -r 1 or more)"
    if not body.strip():
        return None, "the cell magic %%timeit has an empty body, which IPython refuses to run"
    if depth >= MAX_NESTED_CELL_MAGICS:
        return None, f"the cell magics are nested more than {MAX_NESTED_CELL_MAGICS} deep"
    first, why, _ = _read_cell(setup, colab=colab, depth=depth + 1, in_function=True)
    then, why_body, _ = _read_cell(body, colab=colab, depth=depth + 1, in_function=True)
    if first is None or then is None:
        return None, why or why_body
    if len(first) + len(then) > MAX_MAGIC_CODE_CHARS:  # before compiling it (round 23: 65 s for 200 KB)
        return None, f"the cell magics make a statement longer than {MAX_MAGIC_CODE_CHARS:,} characters"
    source = _in_function(first, then)
    if source is None:
        return None, ("the setup or the body of %%timeit is not Python on its own (a return, a yield ...), "
                      "which IPython refuses, so the cell never runs")
    code = f"{_B}.exec({source!r}, {_B}.globals(), {{}})"
    if len(code) > MAX_MAGIC_CODE_CHARS:
        return None, f"the cell magics make a statement longer than {MAX_MAGIC_CODE_CHARS:,} characters"
    return code, ""


def _in_function(setup: str, body: str) -> str | None:
    """The source of a function holding ``setup`` then ``body``, and its call: IPython's timeit
    template, run once. None where either is not Python on its own, which IPython refuses."""
    try:
        parts = []
        for text in (setup, body):
            compile(text, "<magic-timeit>", "exec", dont_inherit=True)
            parts += ast.parse(text).body
        module = ast.parse("def inner():\n    pass\ninner()\n")
        module.body[0].body = parts or [ast.Pass()]
        return ast.unparse(ast.fix_missing_locations(module))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


# ``%%capture NAME`` binds NAME to what the cell printed, once its body has run (a ``CapturedIO``:
# ``.stdout``, ``.stderr``, ``.outputs``, ``.show()``; the grader keeps no rich display outputs), or
# deletes NAME where the body ends with ``;``, as IPython does. The statement on the magic's line
# sends the printing to buffers; one after the body sends it back and binds NAME (student round 22:
# ``print(out.stdout)`` after ``%%capture out`` raised NameError). The buffers wait on the ``sys``
# module, out of the notebook's namespace.
_CAPTURE_START = """import io, sys
sys.__dict__.setdefault("_ditgrade_captures", []).append(
    (sys.stdout, sys.stderr, io.StringIO() if {out} else None, io.StringIO() if {err} else None))
sys.stdout = sys._ditgrade_captures[-1][2] or sys.stdout
sys.stderr = sys._ditgrade_captures[-1][3] or sys.stderr
"""
_CAPTURE_END = """import sys

class CapturedIO:
    def __init__(self, stdout, stderr):
        self._stdout, self._stderr = stdout, stderr

    def __str__(self):
        return self.stdout

    stdout = property(lambda self: self._stdout.getvalue() if self._stdout else "")
    stderr = property(lambda self: self._stderr.getvalue() if self._stderr else "")
    outputs = property(lambda self: [])

    def show(self):
        sys.stdout.write(self.stdout)
        sys.stderr.write(self.stderr)

    __call__ = show

saved_stdout, saved_stderr, stdout, stderr = sys._ditgrade_captures.pop()
sys.stdout, sys.stderr = saved_stdout, saved_stderr
captured = CapturedIO(stdout, stderr)
"""


def _capture_args(rest: str) -> tuple[set[str], str] | None:
    """(the options on ``%%capture``'s line, each by its full name; the name it binds, or ""), as
    IPython's argparse reads ``[--no-stderr] [--no-stdout] [--no-display] [output]``; None where
    IPython refuses the line (an unknown or ambiguous option, two names, a quote left open)."""
    words = _arg_words(rest)
    if words is None:
        return None
    options, names, options_end = set(), [], False
    for w in words:
        if w == "--" and not options_end:
            options_end = True
        elif w.startswith("-") and w != "-" and not options_end and not _NEGATIVE_NUMBER.match(w):
            if not _abbreviates(w, _CAPTURE_OPTIONS):
                return None
            options.add(w if w in _CAPTURE_OPTIONS else next(o for o in _CAPTURE_OPTIONS if o.startswith(w)))
        else:
            names.append(w)
    return (options, "".join(names)) if len(names) <= 1 else None


def _capture_output(rest: str) -> tuple[str, bool, bool] | None:
    """(the name ``%%capture`` binds, whether it takes stdout, stderr) from its accepted line; None
    where it names none (or a name no code can use: IPython stores it all the same)."""
    options, name = _capture_args(rest) or (set(), "")
    if not name.isidentifier() or keyword.iskeyword(name):
        return None
    return name, "--no-stdout" not in options, "--no-stderr" not in options


def _capture_outcome(raw: str) -> str:
    """What ``%%capture NAME`` does with NAME once ``raw`` (its body as IPython passes it) has run:
    "delete" it where the body's last token is ``;`` (``DisplayHook.semicolon_at_end_of_expression``,
    Python's tokenizer on the raw body: a DEDENT after an indented ``x;`` is a last token, round 23),
    "keep" it where that tokenizer fails (IPython raises after the body), else "bind"."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(raw).readline))
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
        return "keep"
    skipped = (tokenize.ENDMARKER, tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
    last = next((t for t in reversed(tokens) if t.type not in skipped), None)
    return "delete" if last is not None and last.type == tokenize.OP and last.string == ";" else "bind"


def capture_end(name: str, outcome: str) -> str:
    """The statement that ends a ``%%capture NAME`` cell (``_capture_outcome``): printing goes back to
    where it went, and NAME is bound to what was captured, deleted, or kept."""
    restore = f"(lambda done: {_B}.exec({_CAPTURE_END!r}, done) or done['captured'])({{}})"
    return {"bind": f"{name} = {restore}", "delete": f"{restore} and {_B}.globals().pop({name!r}, None)",
            "keep": restore}[outcome]


def is_capture_end(source: str) -> bool:
    """Whether ``source`` is exactly a statement ``capture_end`` writes. The grader runs it even after
    the time for top-level code is used up, as it runs definitions: printing must come back (round
    23: skipped, it left the rest of the grading printing into the capture)."""
    try:
        node = ast.parse(source).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if len(node) != 1:
        return False
    names = [""] + [n.id for n in getattr(node[0], "targets", ()) if isinstance(n, ast.Name)] + [
        c.value for c in ast.walk(node[0]) if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value.isidentifier()]
    return any(source.strip() == capture_end(name, outcome) for name in names for outcome in ("bind", "delete", "keep"))


def _captured(body: str, name: str, stdout: bool, stderr: bool, *, outcome: str, in_function: bool) -> str:
    """``body`` (Python; its first line the magic's, blank) between the statements that capture its
    printing and end the capture (``capture_end``). Inside a function (``%%timeit``'s) the body runs
    as one ``run_cell`` does: an error stops it, is shown, and the capture still ends (round 23: the
    error skipped the end, and the rest of the grading printed into the capture)."""
    start = f"{_B}.exec({_CAPTURE_START.format(out=stdout, err=stderr)!r}, {{}})"
    end = capture_end(name, outcome)
    if in_function:
        module = ast.parse(f"{start}\ntry:\n    pass\nexcept Exception:\n    pass\nfinally:\n    {end}\n")
        module.body[1].body = ast.parse(body).body or [ast.Pass()]
        return ast.unparse(module)
    lines = body.split("\n")
    lines[0] = start
    return "\n".join(lines).rstrip("\n") + "\n" + end + "\n"


def _arg_words(rest: str, *, strict: bool = True) -> list[str] | None:
    """A magic's arguments split as IPython splits them (``IPython.utils.process.arg_split``: shlex,
    not POSIX, quotes kept); where a quote is left open, None (IPython refuses: round 16), or with
    ``strict=False`` the rest as one last word, as ``arg_split(strict=False)`` gives it."""
    lex = shlex.shlex(rest, posix=False)
    lex.whitespace_split, lex.commenters = True, ""
    words = []
    while True:
        try:
            words.append(next(lex))
        except StopIteration:
            return words
        except ValueError:
            if strict:
                return None
            return [*words, lex.token]


def strip_magics(source: str) -> str | None:
    """The cell as Python, as IPython reads it: cleaned up (``ipython_cleanup``), IPython's magics,
    shell escapes and help queries blanked, line numbers kept; None for a cell magic whose body is not
    Python in the notebook's namespace. Only a whole logical line is IPython's: a continuation line
    that starts with ``%`` or ``!=`` inside brackets is Python (independent attack round 10: blanking
    physical lines turned a correct check into a wrong one). IPython 9's reading; Colab's IPython 7's
    only where it differs, IPython 9's is not Python and it is."""
    return python_of_cell(source)[0]


def python_of_cell(source: str) -> tuple[str | None, str]:
    """(``strip_magics(source)``, and where that is None, why the cell does not run, for the student)."""
    text, why, differs = _read_cell(source, colab=False, depth=0)
    if differs and text is not None and not _parses(text):
        colab, _, _ = _read_cell(source, colab=True, depth=0)
        if colab is not None and _parses(colab):
            return colab, ""
    return text, why


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _read_cell(source: str, *, colab: bool, depth: int, in_function: bool = False) -> tuple[str | None, str, bool]:
    """``python_of_cell`` for one reading (``ipython_cleanup``'s ``colab``), and whether IPython 7's
    rule would read the cell or a cell magic's body otherwise. ``in_function``: the cell runs inside
    a function (``%%timeit``'s), where a magic that runs its code in the notebook's namespace says so."""
    lines, ends = _ipython_lines(source)
    top = _top(lines)
    blank = len(lines) - 1 if top is None else top  # IPython drops them (\x0c, \u2028 ... with them)
    lines[:blank], ends[:blank] = [""] * blank, ["\n"] * blank
    differs = ipython_cleanup(lines, ends, colab=colab)
    magic, rest = _cell_magic(lines, top)
    if magic in _WRITEFILE:
        # its body goes to a file, as IPython writes it (the body's lines, ending with a newline);
        # the notebook may import it from there: the worker's folder is on sys.path, as Jupyter's is
        body = _joined(lines[top + 1:], ends[top + 1:])
        body += "\n" if body and not body.endswith("\n") else ""
        code, why = _writefile_code(magic, rest, body)
        return (None, why, differs) if code is None else ("\n" * top + code + "\n" * (len(lines) - top - 1), "", differs)
    if magic == "%%timeit":
        code, why = _timeit_code(rest, _joined(lines[top + 1:], ends[top + 1:]), colab=colab, depth=depth)
        return (None, why, differs) if code is None else ("\n" * top + code + "\n" * (len(lines) - top - 1), "", differs)
    if magic:
        code = _magic_code(magic, rest) if magic in _PYTHON_CELL_MAGICS else None
        why = _not_run(magic, rest, code, _joined(lines[top + 1:], ends[top + 1:]), depth)
        if why:
            return None, why, differs
        # IPython runs the body as a cell of its own (``%%capture``: run_cell; ``%%time``, ``%%prun``:
        # transform_cell), cleaned up and read for magics again: an indented body runs, and a cell
        # magic inside makes the body whatever that magic makes it (round 14: ``%%capture`` over
        # ``%%writefile`` defined nothing in IPython and redefined a function here). ``%%prun``'s
        # code from its own line comes first, on that line (round 15).
        body, why, inner = _read_cell(_joined([code or "", *lines[top + 1:]], ["\n", *ends[top + 1:]]),
                                      colab=colab, depth=depth + 1)
        output = _capture_output(rest) if magic == "%%capture" and body is not None else None
        if output and _parses(body):  # (a body IPython refuses is not run: round 23's trailing backslash)
            raw = _joined(lines[top + 1:], ends[top + 1:])
            body = _captured(body, *output, outcome=_capture_outcome(raw), in_function=in_function)
        if body is not None and in_function:  # they run it in the notebook's namespace, wherever they are
            body = f"{_B}.exec({body!r}, {_B}.globals())" + "\n" * (len(lines) - top - 1)
            if len(body) > MAX_MAGIC_CODE_CHARS:
                return None, f"the cell magics make a statement longer than {MAX_MAGIC_CODE_CHARS:,} characters", differs
        return (None if body is None else "\n" * top + body), why, differs or inner
    text, why = _python_lines(lines, ends, depth=depth, in_function=in_function)
    return text, why, differs


def _python_lines(lines: list[str], ends: list[str], *, depth: int, in_function: bool) -> tuple[str | None, str]:
    """The cell's lines (cleaned up, no cell magic) as Python, read in one pass as IPython's token
    transforms read them: at the start of each logical line, an autocall escape becomes its call,
    which is then read as Python with what follows (IPython reads the cell again after each
    transform: attack round 18's ``;print x\"\"\"`` opened a string that swallowed the next lines,
    and ``/f (1`` a bracket that made a ``%14`` line a remainder); a magic, a shell escape or an
    assigned one (``x = !ls``) is blanked with its backslash-joined lines, whatever brackets or
    quotes it holds (``!echo it's``); a lone ``\\`` before one joins onto it (round 18); a logical
    line that is not Python and ends with ``?`` is a help query, blanked. A backslash joins lines
    only before "\n", as in Python. (None, why) where IPython refuses the cell."""
    out, ends, scan, i = list(lines), list(ends), _Scanner(), 0
    budget = [2 * sum(map(len, lines)) + 10_000]
    while i < len(out):
        first = i  # where the logical line's first token is: past lines holding only a backslash
        while out[first].strip() == "\\" and ends[first] == "\n":
            first += 1
        line, escape = out[first], _autocall_escape(out[first])
        if escape or line.lstrip().startswith(("%", "!", "?")) or (("!" in line or "%" in line) and _assigns_magic(line)):
            last = first
            while out[last].endswith("\\") and ends[last] == "\n":
                last += 1
            indent = line[:len(line) - len(line.lstrip())]
            # a logical line that ends with ``name?`` asks for help, whatever it starts with: IPython
            # tries that first (``,f x?``; a magic's line ends before the logical line after \x0c ...)
            # (the scans from magic lines share a budget of twice the cell: round 22's 2,000 lines
            # of ``%who (`` each scanned to the cell's end took 11.6 s; past it, no help is found)
            end = _logical_end(out, ends, first, _Scanner(scan.level), budget)
            asked = end is not None and _ends_with_question_mark(out[first:end + 1], ends[first:end + 1]) and (
                _asks_for_help(out[first:end + 1], ends[first:end + 1]))
            if asked:
                escape, last = "", end
            if not escape:
                # a magic that runs Python (``%time x = f()``, ``t = %time f()``) becomes that Python
                at = 0 if asked else len(indent) if line.lstrip().startswith("%") else _assigns_magic(line)
                python = None
                if not asked and line[at:at + 1] == "%":
                    parts = [line[at:], *out[first + 1:last + 1]]  # joined as IPython joins them
                    content = " ".join([p.rstrip()[:-1] for p in parts[:-1]] + [parts[-1].rstrip()])
                    assigned = at > len(indent)
                    python = _line_magic_python(content[1:], depth=depth, direct=not (in_function or indent or assigned))
                new = _blank(indent) if python is None else line[:at] + python
                out[i:last + 1] = [""] * (first - i) + [new] + [""] * (last - first)
                _replaced(ends, i, last)
                i = last + 1
                continue
            parts = [line.lstrip()[len(escape):], *out[first + 1:last + 1]]  # joined as IPython joins them
            call = _autocall(escape, " ".join([p.rstrip()[:-1] for p in parts[:-1]] + [parts[-1].rstrip()]))
            if call is None:
                return None, (f"line {first + 1} is only {escape!r}, IPython's escape for calling a function "
                              f"(\"{escape}f x\" is f(x)) with no function named, which IPython refuses, so the "
                              "cell never runs")
            out[i:last + 1] = [""] * (first - i) + [indent + call] + [""] * (last - first)
            _replaced(ends, i, last)
            i = first
        start, i = i, _logical_end(out, ends, i, scan)
        text = _joined(out[start:i + 1], ends[start:i] + [""])
        # a help query where IPython reads one (``name?``; round 22: ``f(2)?`` and ``obj? # c`` it
        # leaves as they are, and the cell does not compile), and Python does not (where IPython's
        # lines are not Python's, \x0c ... ends a comment for IPython only)
        if "?" in text and _ends_with_question_mark(out[start:i + 1], ends[start:i + 1]) and _asks_for_help(
                out[start:i + 1], ends[start:i + 1]) and (set(ends[start:i]) - {"\n"} or not _parses(text.strip())):
            indent = out[start][:len(out[start]) - len(out[start].lstrip())]
            out[start:i + 1] = [_blank(indent)] + [""] * (i - start)
            _replaced(ends, start, i)
        i += 1
    return _joined(out, ends), ""


def _asks_for_help(lines: list[str], ends: list[str]) -> bool:
    """IPython's test of a logical line that ends with ``?`` (``HelpEnd``): its text, to the end of
    the line that holds the ``?``, ends with ``name?`` or ``name??``, nothing after them."""
    last = max((k for k, line in enumerate(lines) if line.strip()), default=0)
    return bool(_HELP_END.search(_joined(lines[:last + 1], ends[:last] + [ends[last] or "\n"])))


def _logical_end(lines: list[str], ends: list[str], i: int, scan: _Scanner, budget: list[int] | None = None) -> int | None:
    """The index of the last of IPython's lines in the logical line that starts at line ``i``, as
    Python's tokenizer (3.11's, given IPython's lines) groups them: open brackets and strings go on, a
    backslash before "\n" joins, and only "\n" or a line of only a comment ends it; after \x0c,
    \u2028 ... the next line goes on with it. ``budget``: characters left to scan (spent here), None
    once they are."""
    statement = True  # whether line i starts a statement for the tokenizer
    while True:
        if budget is not None:
            budget[0] -= len(lines[i]) + 1
            if budget[0] < 0:
                return None
        comment_only = statement and lines[i].lstrip(" \t\f").startswith("#")
        for _ in scan.code(lines[i]):
            pass
        joined = lines[i].endswith("\\") and not scan.comment and ends[i] == "\n"
        scan.end_line(joined)
        onward = ends[i] not in ("\n", "") and not comment_only
        statement = not (scan.level or scan.quote or joined)  # the tokenizer's own test
        if not (scan.depth or scan.quote or joined or onward) or i == len(lines) - 1:
            return i
        i += 1


def _blank(indent: str) -> str:
    """What an IPython line becomes: a ``pass`` where IPython's call was. Indented, its block keeps a
    body (round 11's loop whose one line was ``%time ...``); at the left edge it ends the block above,
    as the call does (round 22: a blank line let ``def f():`` go on past ``%who``; round 23: ``try:``
    went on to its ``except``). The grader does not run a ``pass`` at the top of a cell."""
    return indent + "pass"


def _not_run(magic: str, rest: str, code: str | None, body: str, depth: int) -> str:
    """Why a cell that starts with the cell magic ``magic`` (the rest of its line ``rest``, whose code
    ``_magic_code`` read) does not run its ``body`` as Python in the notebook's namespace, for the
    student; "" where it does."""
    if magic not in _PYTHON_CELL_MAGICS:
        return f"the cell magic {magic[:40]} is not Python"
    if code is None:
        return f"IPython refuses what follows {magic} on its line ({rest.strip()[:40]!r}), so the cell never runs"
    if not body:
        return f"the cell magic {magic} has an empty body, which IPython refuses to run"
    if depth >= MAX_NESTED_CELL_MAGICS:
        return f"the cell magics are nested more than {MAX_NESTED_CELL_MAGICS} deep"
    return ""
