"""Which file of a submission is graded (``core.choose``): the expected name as Gradescope matches
it, else the only candidate, else nothing and a note naming the candidates; the same rule for a
folder (``pick_submission``, ``discover``) as for any list of names (a zip's members)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ditgrade.core.files import pick, pick_submission
from ditgrade.worker.choose import choose

NB = "dit_assignment.ipynb"


@pytest.mark.parametrize("names, chosen", [
    ([NB, "old.ipynb", "helper.py"], NB),  # the expected name wins over every other file
    (["work/" + NB, "scratch.ipynb"], "work/" + NB),  # ... also one folder down
    (["mine.ipynb", "utils.py", "mine.zip"], "mine.ipynb"),  # the only notebook
    (["export.zip", "extra.py"], "export.zip"),  # no notebook: the only zip
    (["extra.py", "__init__.py", "notes.txt"], "extra.py"),  # no zip: the only .py (otter skips __init__.py)
    (["a/b/c/solution.ipynb"], "a/b/c/solution.ipynb"),
    ([NB, ".ipynb_checkpoints/" + NB.replace(".ipynb", "-checkpoint.ipynb"), "__MACOSX/._" + NB], NB),
    (["mine.ipynb", ".ipynb_checkpoints/mine-checkpoint.ipynb", "._mine.ipynb"], "mine.ipynb"),  # copies are no candidates
])
def test_the_expected_name_else_the_only_candidate(names: list[str], chosen: str) -> None:
    assert choose(names, NB).name == chosen


def test_several_candidates_and_none_named_as_expected_is_refused_naming_them() -> None:
    c = choose(["b.ipynb", "a.ipynb", "x.py"], NB)
    assert c.name is None
    assert "2 notebooks and none is named dit_assignment.ipynb: a.ipynb, b.ipynb" in c.note
    assert "rename the one to grade dit_assignment.ipynb" in c.note
    c = choose([f"n{i}.ipynb" for i in range(9)], NB)
    assert c.name is None and "and 4 more" in c.note
    c = choose(["one/" + NB, "two/" + NB], NB)
    assert c.name is None and "2 files are named dit_assignment.ipynb" in c.note
    assert choose(["a.py", "b.py"], "").note.endswith("submit only the one to grade")


def test_a_choice_among_other_files_says_what_else_was_there() -> None:
    c = choose([NB, "old.ipynb"], NB)
    assert c.name == NB and c.note == "graded dit_assignment.ipynb; also in the submission: old.ipynb"
    assert choose([NB], NB).note == ""
    nothing = choose(["notes.txt", "photo.png"], NB)
    assert nothing.name is None and "(it holds notes.txt, photo.png)" in nothing.note
    assert "(it is empty)" in choose([], NB).note


def test_a_folder_is_chosen_from_by_the_same_rule(tmp_path: Path) -> None:
    assert pick_submission(tmp_path) is None
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "extra.py").write_text("x = 1")
    assert pick_submission(tmp_path).name == "extra.py"
    (tmp_path / "export.zip").write_bytes(b"PK")
    assert pick_submission(tmp_path).name == "export.zip"
    (tmp_path / "mine.ipynb").write_text("{}")
    assert pick_submission(tmp_path).name == "mine.ipynb"
    (tmp_path / NB).write_text("{}")
    assert pick_submission(tmp_path, NB).name == NB
    path, note = pick(tmp_path, "")  # two notebooks, no expected name: nothing is guessed
    assert path is None and "mine.ipynb" in note and NB in note
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "deep.py").write_text("x = 1")
    assert pick(sub / "deep.py", NB) == (sub / "deep.py", "")  # a file is itself
