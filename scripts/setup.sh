#!/usr/bin/env bash
# Install ditgrade and everything its tests need into the current Python.
# torch is installed first and pinned so that pip never swaps in a multi-GB CUDA build;
# override TORCH_SPEC (e.g. with a CPU index option) on machines where needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check ${TORCH_SPEC:-torch==2.13.0}
"$PY" -m pip install -q --disable-pip-version-check -e ".[dev]"
# otter's notebook checks run a Jupyter kernel
"$PY" -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
