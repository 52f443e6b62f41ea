"""Attack: a 60 KiB zip upload holding a 50 MiB notebook made of 17 million empty JSON objects.

``core.extract._from_zip`` trusts the zip's declared size (under 50 MiB) and ``_from_notebook``
parses it with ``json.loads`` in the *grader's* process, which has no memory limit: 50 MiB of
``{},`` become ~1.3 GiB of Python dicts (and ``extract.predictions`` parses the notebook a second
time). A few such uploads graded at once push the TA's machine into the OOM killer, whose first
victims are the sandboxed workers (oom_score_adj 1000), i.e. other students' calls.

What must hold instead: the grader's own memory per submission stays bounded (e.g. a cap on the
notebook's size and cell count, or parsing it inside the sandbox).
"""
import zipfile
from pathlib import Path

ITEMS = (50 * 1024 * 1024 - 200) // 3


def build(dest: Path) -> list[Path]:
    body = b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [' + b"{}," * (ITEMS - 1) + b"{}]}"
    path = dest / "bomb" / "mallory_bomb.zip"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("dit_assignment.ipynb", body)
    return [path]
