"""Single-mistake mutants of the reference, as edits of its syntax tree.

A mutant names the function it edits (``target``: "normalize", "Encoder.__init__"; empty for the
whole module), a piece of code in it (``old``) and what replaces it (``new``). Both are compared as
code, not text: ``old`` may be statements, an expression, a keyword argument (``seed=seed``) or a
parameter list, and matches where the target holds the same syntax tree, whatever its comments,
spacing or line breaks. So a comment or a reformatting in the master notebook never breaks a
mutant; a change of the code it names does, and the error names the bank file and the mutant.
An empty ``new`` deletes the statements of ``old``.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent
from typing import Any


@dataclass(frozen=True)
class Mutant:
    name: str
    question: str
    description: str
    target: str  # function or Class.method the edit is confined to ("" = anywhere in the module)
    old: str
    new: str


class MutantError(ValueError):
    """A mutant's ``old`` code does not occur exactly once in its target."""


def _parse_piece(code: str) -> list[tuple[str, list[ast.AST]]]:
    """Every reading of a piece of code, as (kind, nodes): 'expr', 'stmts', 'keyword', 'arguments'.
    ``x=1`` is both an assignment and a keyword argument; the edit uses the reading that matches."""
    code = dedent(code).strip()
    if not code:
        return [("stmts", [])]
    readings: list[tuple[str, list[ast.AST]]] = []
    for kind, make in (("expr", lambda: [ast.parse(code, mode="eval").body]),
                       ("stmts", lambda: ast.parse(code).body),
                       ("keyword", lambda: _keyword(code)),
                       ("arguments", lambda: [ast.parse(f"def f({code}): pass").body[0].args])):
        try:
            nodes = make()
        except SyntaxError:
            continue
        if nodes:
            readings.append((kind, nodes))
    if not readings:
        raise MutantError(f"not a piece of Python: {code!r}")
    return readings


def _keyword(code: str) -> list[ast.AST]:
    call = ast.parse(f"f({code})", mode="eval").body
    return [call.keywords[0]] if not call.args and len(call.keywords) == 1 else []


def _find_target(tree: ast.Module, target: str) -> ast.AST:
    if not target:
        return tree
    scope: ast.AST = tree
    for part in target.split("."):
        found = [n for n in getattr(scope, "body", []) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                        ast.ClassDef)) and n.name == part]
        if len(found) != 1:
            raise MutantError(f"{target!r} is not defined in the reference")
        scope = found[0]
    return scope


def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a, annotate_fields=False) == ast.dump(b, annotate_fields=False)


def _sites(scope: ast.AST, kind: str, old: list[ast.AST]) -> list[tuple[object, str, int]]:
    """(parent, field, index) of every place ``old`` occurs in ``scope`` (index -1: the field itself)."""
    sites: list[tuple[object, str, int]] = []
    for parent in ast.walk(scope):
        for field, value in ast.iter_fields(parent):
            if kind == "stmts" and isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                for i in range(len(value) - len(old) + 1):
                    if all(_same(value[i + j], old[j]) for j in range(len(old))):
                        sites.append((parent, field, i))
            elif kind == "keyword" and field == "keywords":
                sites += [(parent, field, i) for i, k in enumerate(value) if _same(k, old[0])]
            elif kind == "arguments" and isinstance(value, ast.arguments) and _same(value, old[0]):
                sites.append((parent, field, -1))
            elif kind == "expr":
                if isinstance(value, ast.expr) and _same(value, old[0]):
                    sites.append((parent, field, -1))
                elif isinstance(value, list):
                    sites += [(parent, field, i) for i, v in enumerate(value)
                              if isinstance(v, ast.expr) and _same(v, old[0])]
    return sites


def apply(source: str, mutant: Mutant) -> str:
    """The reference ``source`` with ``mutant`` applied, as code (comments are not kept)."""
    tree = ast.parse(source)
    scope = _find_target(tree, mutant.target)
    news = dict(_parse_piece(mutant.new))
    counts = []
    for kind, old in _parse_piece(mutant.old):
        if kind not in news:
            continue
        sites = _sites(scope, kind, old)
        counts.append(len(sites))
        if len(sites) == 1:
            break
    else:
        where = mutant.target or "the reference"
        raise MutantError(f"`{mutant.old.strip()}` occurs {max(counts, default=0)} times in {where}, expected once")
    new = news[kind]
    parent, field, i = sites[0]
    if kind == "stmts":
        body = getattr(parent, field)
        body[i : i + len(old)] = [copy.deepcopy(n) for n in new] or ([] if len(body) > len(old) else [ast.Pass()])
    elif i >= 0:
        getattr(parent, field)[i] = copy.deepcopy(new[0])
    else:
        setattr(parent, field, copy.deepcopy(new[0]))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def load_module(path: Path, name: str) -> Any:
    """A bank file (``bank/mutants.py``) imported as module ``name``: the bank is data, not a package."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
