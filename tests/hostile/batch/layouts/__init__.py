"""Attacks that are a layout (folders, zips, file names, metadata) rather than one source file.

Each module has a docstring saying what it tries and what must hold instead, and ``build(dest)``
that creates the attack under ``dest`` and returns the paths a TA would pass to ``ditgrade grade``.
tests/test_batch_attacks.py grades them together with honest submissions.
"""
