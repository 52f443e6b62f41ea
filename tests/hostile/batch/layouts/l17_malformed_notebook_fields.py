"""Attack: a notebook whose fields have the wrong types: a cell ``"id"`` that is a list, a
``"metadata"`` that is a string, ``"source"`` of numbers, ``"cell_type"`` that is a dict.

Read in the grader, ``cell.get("id") in frozenset(...)`` raised TypeError (unhashable list) and
ended the grade with "the autograder itself failed".

What must hold instead: a malformed field costs its own cell, with a note; the rest of the notebook
is graded (here: a correct ``sequence_length`` still earns its points) and the batch goes on.
"""
import json
from pathlib import Path


def build(dest: Path) -> list[Path]:
    cells = [
        {"cell_type": "code", "id": ["a", "list"], "metadata": "text", "source": "import torch"},
        {"cell_type": {"a": 1}, "id": 7, "source": "x = 1"},
        {"cell_type": "code", "id": {"k": [1]}, "metadata": {"tags": "prediction"}, "source": [1, 2]},
        {"cell_type": "code", "id": ["b"], "metadata": {}, "outputs": [],
         "source": "def sequence_length(h, w, p):\n    return (h // p) * (w // p)\n"},
    ]
    path = dest / "mallory_fields.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": [], "nbformat": 4, "nbformat_minor": 5}))
    return [path]
