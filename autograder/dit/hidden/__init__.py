"""The DiT assignment's hidden tests: one module per question, q5's GPU job in its own.

``readable_paths`` tells the engine which folders a sandboxed worker may read: the DiT-XL/2
weights, for the GPU job.
"""

from __future__ import annotations

from pathlib import Path


def readable_paths(gpu: bool) -> list[str]:
    if not gpu:
        return []
    from ..sampling import resolve_source

    source = Path(resolve_source("auto"))
    if not source.is_dir():
        return []
    # a Hugging Face cache snapshot is made of links into the repository's blobs/: allow the whole repository
    if source.parent.name == "snapshots":
        return [str(source.parent.parent.resolve())]
    return [str(source.resolve())]
