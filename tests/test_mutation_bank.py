"""The mutation bank: every single-mistake submission loses points in its own question and nowhere else.

Run with -s to see the kill table (mutant, question, score per question).
"""

from __future__ import annotations

import collections

import pytest
from conftest import load_bank_module

bank = load_bank_module("mutants")
MUTANTS = bank.MUTANTS
QUESTIONS = ("q1", "q2", "q3", "q4", "q5")
KILL_TABLE: dict[str, tuple[str, dict, bool]] = {}


def test_bank_is_large_and_well_formed(reference_source) -> None:
    assert len(MUTANTS) >= 30
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    per_question = collections.Counter(m.question for m in MUTANTS)
    assert all(per_question[q] >= 5 for q in QUESTIONS), per_question
    for m in MUTANTS:
        assert reference_source.count(m.old) == 1, f"{m.name}: `old` must occur exactly once in the reference"
        assert m.old != m.new


def _row(name: str, question: str, scores: dict) -> str:
    cells = " ".join(f"{q}={scores[q][0]:g}/{scores[q][1]:g}" for q in QUESTIONS)
    return f"{name:<36}{question:<4}{cells}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_loses_points_only_in_its_question(grade, reference_source, mutant) -> None:
    results, scores = grade(bank.apply_mutant(reference_source, mutant))
    own_score, own_max = scores[mutant.question]
    others_full = all(s == m for q, (s, m) in scores.items() if q != mutant.question)
    killed = own_score < own_max and others_full
    KILL_TABLE[mutant.name] = (mutant.question, scores, killed)
    failed = "\n".join(f"  {r.name} [{r.kind}]: {r.output[:240]}" for r in results if not r.passed)
    row = _row(mutant.name, mutant.question, scores)
    assert own_score < own_max, f"not caught ({mutant.description}):\n{row}"
    assert others_full, f"lost points outside {mutant.question} ({mutant.description}):\n{row}\n{failed}"
    assert not any("the grader could not check" in r.output for r in results), failed


def test_print_kill_table() -> None:
    """Runs after the parametrized tests (file order); prints the table with -s."""
    if not KILL_TABLE:
        pytest.skip("no mutant ran in this session")
    lines = [_row(name, q, scores) + ("" if killed else "   <-- NOT OK") for name, (q, scores, killed) in KILL_TABLE.items()]
    caught = sum(k for _, _, k in KILL_TABLE.values())
    print(f"\nkill table: {caught}/{len(KILL_TABLE)} caught in their own question only\n" + "\n".join(lines))
