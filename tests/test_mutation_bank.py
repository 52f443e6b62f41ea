"""The mutation bank: every single-mistake mutant loses points in its own question and nowhere else.
Mutants are edits of the reference's syntax tree, so comments and formatting do not break them.

The bank is graded once, by the release gate "mutants" (``release.check_gates``): its verdict is kept
under the project with a key of everything it depends on (the grader's fingerprint, which covers the
hidden tests and the reference; bank/mutants.py; the installed packages) and reused while none of
that changes, so a rerun after a passing release or test session takes a second, and any change to
the tests, the reference or the bank grades it again. Only a passing verdict is kept: a mutant that
is not caught fails here every time. Run with -s to see the kill table."""

from __future__ import annotations

import collections
import os

import pytest
from conftest import REPO, load_bank_module

from ditgrade.core.assignment import Assignment
from ditgrade.packaging import release
from ditgrade.packaging.mutate import Mutant, MutantError, apply
from ditgrade.project import Project

MUTANTS = load_bank_module(Assignment.load(Project(REPO)), "mutants").MUTANTS


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


@pytest.fixture(scope="module")
def bank_verdict(assignment, tmp_path_factory) -> dict[str, dict]:
    """{mutant name: its row in the gate's verdict}, from the kept verdict or from grading the bank once."""
    found = []
    release.check_gates(assignment, ["mutants"], staging=tmp_path_factory.mktemp("gates"),
                        jobs=os.cpu_count() or 1, log=lambda line: None, record=found.append)
    (gate,) = found
    rows = {row["name"]: row for row in gate.details.get("mutants", [])}
    assert rows or not gate.passed, gate
    if not rows:
        pytest.fail(f"the mutants gate graded nothing: {gate.evidence}")
    return rows


@pytest.mark.slow  # grades the bank unless the release gate's verdict is kept (25 s beside CI's loads)
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_loses_points_only_in_its_question(bank_verdict, mutant) -> None:
    row = bank_verdict[mutant.name]
    assert not row["problem"], f"{mutant.name} ({mutant.question}, {mutant.description}): {row['problem']}"
    assert row["caught_by"].startswith(mutant.question + " ")


@pytest.mark.slow
def test_print_kill_table(bank_verdict) -> None:
    """Prints, with -s, which test caught each mutant, and how many tests could not see it."""
    lines = [f"{r['name']:<38}{r['question']:<4}{r['caught_by'][:70]:<72}ran {r['ran']:>2}, skipped {r['skipped']:>2}"
             + (f"   <-- {r['problem']}" if r["problem"] else "") for r in bank_verdict.values()]
    caught = sum(not r["problem"] for r in bank_verdict.values())
    print(f"\nkill table: {caught}/{len(bank_verdict)} caught in their own question only\n" + "\n".join(lines))
