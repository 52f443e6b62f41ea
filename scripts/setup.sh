#!/usr/bin/env bash
# Install ditgrade and everything its tests need into the current Python.
# torch is installed first and pinned so that pip never swaps in a multi-GB CUDA build;
# override TORCH_SPEC (e.g. with a CPU index option) on machines where needed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check ${TORCH_SPEC:-torch==2.13.0}
"$PY" -m pip install -q --disable-pip-version-check -e ".[dev]"
# bubblewrap is optional (the sandbox uses kernel namespaces directly); install it when we can.
if ! command -v bwrap >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1 || echo "note: bubblewrap not installed"
fi
# otter's notebook checks run a Jupyter kernel
"$PY" -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
