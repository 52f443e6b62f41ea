"""The mutation bank: every single-mistake mutant loses points in its own question and nowhere else.
Mutants are edits of the reference's syntax tree, so comments and formatting do not break them.
Run with -s to see the kill table (mutant, question, score per question)."""

from __future__ import annotations

import collections

import pytest
from conftest import REPO, load_bank_module

from ditgrade.core.assignment import Assignment
from ditgrade.packaging.mutate import Mutant, MutantError, apply
from ditgrade.project import Project

MUTANTS = load_bank_module(Assignment.load(Project(REPO)), "mutants").MUTANTS
KILL_TABLE: dict[str, tuple[str, dict, bool]] = {}


def test_bank_is_large_and_well_formed(reference_source, assignment) -> None:
    assert len(MUTANTS) >= 60
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    per_question = collections.Counter(m.question for m in MUTANTS)
    assert set(per_question) == set(assignment.points) and min(per_question.values()) >= 7, per_question
    for m in MUTANTS:
        assert apply(reference_source, m) != apply(reference_source, Mutant("id", "q", "", m.target, m.old, m.old))


def test_mutants_survive_comments_and_formatting(reference_source) -> None:
    """What broke a text-replacement bank: a comment or a reformatting in the master notebook."""
    noisy = reference_source.replace("    x = x.permute(0, 2, 4, 1, 3, 5)  # [B, gh, gw, C, p, p]",
                                     "    # the grid axes first\n    x = x.permute(0, 2, 4,\n                  1, 3, 5)  # moved")
    assert noisy != reference_source
    for m in MUTANTS:
        assert apply(noisy, m) == apply(reference_source, m), m.name


def test_a_mutant_whose_code_is_gone_names_itself(reference_source) -> None:
    m = Mutant("renamed", "q1", "", "patchify", "x = x.permute(0, 2, 4, 1, 3, 5)", "x = x")
    with pytest.raises(MutantError, match=r"occurs 0 times in patchify"):
        apply(reference_source.replace("x.permute(0, 2, 4, 1, 3, 5)", "x.permute(0, 2, 4, 1, 3, 5).contiguous()"), m)


def _row(name: str, question: str, scores: dict) -> str:
    return f"{name:<38}{question:<4}" + " ".join(f"{q}={s:g}/{m:g}" for q, (s, m) in scores.items())


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_loses_points_only_in_its_question(grade, reference_source, mutant) -> None:
    results, scores = grade(apply(reference_source, mutant))
    own_score, own_max = scores[mutant.question]
    others_full = all(s == m for q, (s, m) in scores.items() if q != mutant.question)
    KILL_TABLE[mutant.name] = (mutant.question, scores, own_score < own_max and others_full)
    failed = "\n".join(f"  {r.name} [{r.kind}]: {r.output[:240]}" for r in results if not r.passed)
    row = _row(mutant.name, mutant.question, scores)
    assert own_score < own_max, f"not caught ({mutant.description}):\n{row}"
    assert others_full, f"lost points outside {mutant.question} ({mutant.description}):\n{row}\n{failed}"
    assert not any("the grader could not check" in r.output for r in results), failed


def test_print_kill_table() -> None:
    """Runs after the parametrized tests (file order); prints the table with -s."""
    if not KILL_TABLE:
        pytest.skip("no mutant ran in this session")
    lines = [_row(n, q, s) + ("" if ok else "   <-- NOT OK") for n, (q, s, ok) in KILL_TABLE.items()]
    caught = sum(ok for _, _, ok in KILL_TABLE.values())
    print(f"\nkill table: {caught}/{len(KILL_TABLE)} caught in their own question only\n" + "\n".join(lines))
