"""The mutants an off-the-shelf mutation tool makes of the reference (cosmic-ray, pinned).

The tool's operators are enumerated through its plugin API and each mutant is made in memory with
``cosmic_ray.mutating.mutate_code(source, operator, occurrence)``: no session database, no file
written. A mutant is a deterministic function of the reference's bytes and the tool's version, so
``(operator, occurrence)`` names it within one reference, and ``Change`` (the lines it alters,
stripped) names it across edits elsewhere in the file (what a reviewed survivor is keyed by).

Each mutant is attributed to the innermost function whose *body* holds it, by the qualified name
Python gives that function's code (``Block.forward``, ``outer.<locals>.inner``): only the tests
that ran that code while grading the reference can tell the mutant apart from it. A mutation
outside every function body (module or class level, a decorator, a default value) gets the empty
name: it runs at load time, so every test may see it. Its ``owner``, the innermost definition
that holds it (header included), names it in reports and gives its question.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.metadata
import pickle
from dataclasses import dataclass

TOOL = "cosmic-ray"


class ToolMissing(RuntimeError):
    """The pinned mutation tool is not installed."""


def tool_version() -> str:
    try:
        return importlib.metadata.version(TOOL)
    except importlib.metadata.PackageNotFoundError:
        raise ToolMissing(f"{TOOL} is not installed (pip install -e . installs the pinned version)") from None


@dataclass(frozen=True)
class Site:
    """One mutant the tool can make: its operator, which occurrence of it, and where."""

    operator: str
    occurrence: int
    line: int
    function: str  # co_qualname of the innermost function whose body holds the mutation; "" = load time
    owner: str = ""  # the innermost function or class holding it, its def line included; "" = neither

    @property
    def id(self) -> str:
        return f"{self.operator}#{self.occurrence}"


@dataclass(frozen=True)
class Change:
    """What a mutant alters: the removed and the added lines, each stripped (stable across runs)."""

    old: str
    new: str


def _operators() -> list[tuple[str, object]]:
    import cosmic_ray.plugins

    out = []
    for name in cosmic_ray.plugins.operator_names():
        cls = cosmic_ray.plugins.get_operator(name)
        if not cls.arguments():  # the tool's own default set: operators that need arguments are opt-in
            out.append((name, cls()))
    return out


def _spans(tree: ast.Module, *, whole: bool) -> list[tuple[tuple[int, int], tuple[int, int], str]]:
    """(start, end, qualified name), outermost first, of every function's body, or with ``whole`` of
    every function and class with its decorators and header."""
    spans = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                is_class = isinstance(child, ast.ClassDef)
                if whole:
                    start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    spans.append(((start, 0), (child.end_lineno, child.end_col_offset), name))
                elif not is_class:
                    first, last = child.body[0], child.body[-1]
                    spans.append(((first.lineno, first.col_offset), (last.end_lineno, last.end_col_offset), name))
                visit(child, name + ("." if is_class else ".<locals>."))
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def function_at(spans: list, pos: tuple[int, int]) -> str:
    inside = [name for start, end, name in spans if start <= pos <= end]
    return inside[-1] if inside else ""  # the innermost: spans are listed outermost first


def sites(source: str) -> list[Site]:
    """Every mutant the tool's default operators make of ``source``, in the tool's own order."""
    tool_version()
    from cosmic_ray.ast import ast_nodes, get_ast

    tree = get_ast(source)
    module = ast.parse(source)
    spans, owners = _spans(module, whole=False), _spans(module, whole=True)
    out = []
    for name, op in _operators():
        positions = ((start, end) for node in ast_nodes(tree) for start, end in op.mutation_positions(node))
        for occurrence, (start, _end) in enumerate(positions):
            out.append(Site(name, occurrence, start[0], function_at(spans, start), function_at(owners, start)))
    return out


@functools.lru_cache(maxsize=2)
def _parsed(source: str) -> bytes:
    """The tool's parse tree of ``source``, pickled: unpickling a fresh copy takes a fifth of the
    time of parsing again, and the tool's operators edit the tree they are given. b"" when the tree
    is too deep to pickle (then each mutant parses afresh)."""
    from cosmic_ray.ast import get_ast

    try:
        return pickle.dumps(get_ast(source), protocol=pickle.HIGHEST_PROTOCOL)
    except RecursionError:
        return b""


def mutant_source(source: str, site: Site) -> str:
    """The reference with ``site``'s mutation applied: what the tool's ``mutate_code`` gives (its own
    visitor and operator, on a fresh copy of its parse tree; tests/engine/test_audit.py checks the
    two agree)."""
    import cosmic_ray.plugins
    from cosmic_ray.ast import get_ast
    from cosmic_ray.mutating import MutationVisitor

    tree_bytes = _parsed(source)
    visitor = MutationVisitor(site.occurrence, cosmic_ray.plugins.get_operator(site.operator)())
    tree = visitor.walk(pickle.loads(tree_bytes) if tree_bytes else get_ast(source))
    if not visitor.mutation_applied:
        raise ValueError(f"{TOOL} made no mutant for {site.id} (the reference changed since it was listed)")
    return tree.get_code()


def change(original: str, mutated: str) -> Change:
    old, new = [], []
    for line in difflib.unified_diff(original.splitlines(), mutated.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (old if line.startswith("-") else new).append(line[1:].strip())
    return Change("\n".join(old), "\n".join(new))


def readable(function: str, owner: str = "") -> str:
    """``outer.<locals>.inner`` as ``outer.inner``; load-time code as ``f (definition)`` (a default
    value, a decorator, a class body) or ``(module level)``."""
    if function:
        return function.replace(".<locals>", "")
    return f"{owner.replace('.<locals>', '')} (definition)" if owner else "(module level)"


def question_of_function(function: str, questions: dict[str, tuple[str, ...]]) -> str:
    """The question whose answer defines the function's top-level name ("" when none does)."""
    top = function.split(".", 1)[0]
    return next((q for q, names in questions.items() if top in names), "")
