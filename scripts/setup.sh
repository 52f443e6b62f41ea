#!/usr/bin/env bash
# Install ditgrade and what its tests need into .venv/ in this project folder, and nowhere else.
#
#   bash scripts/setup.sh            then .venv/bin/ditgrade ..., .venv/bin/python -m pytest
#
# Python: $PYTHON if set, else the first of python3, python3.13, python3.12, python3.11 on PATH that
# is a final release >= 3.11 (diffusers 0.42 requires it). `python3 -m venv` must work: on Debian and
# Ubuntu that is the python3-venv package (apt install python3-venv); without it the script stops
# with one line naming the package, before it writes anything.
#
# torch is the CPU build, pinned (torch==2.13.0+cpu; PyPI's Linux wheel would pull several GB of CUDA
# libraries that grading never uses). Where it comes from, first match wins:
#   DITGRADE_TORCH_SPEC=REQ   that requirement instead, as pip is configured (e.g. torch==2.13.0: PyPI's
#                             CUDA build, for a Python that PyTorch's CPU index cannot be reached for)
#   pip as configured         a find-links folder or an index that already holds torch 2.13.0+cpu
#   DITGRADE_TORCH_INDEX      PyTorch's CPU index (default https://download.pytorch.org/whl/cpu),
#                             torch's own requirements from PyPI
# Then the project itself, editable, with its dev extra (`pip install -e ".[dev]"`), torch pinned to
# what was installed so that pip never swaps it.
#
# Touches nothing outside this folder but pip's own download cache: no `--user` installs, no Jupyter
# kernel registered anywhere (the venv's ipykernel gives Jupyter and nbclient a `python3` kernel for
# .venv/bin/python when they run from the venv). Idempotent: when .venv already holds what this
# version of the script and of pyproject.toml install, it says so and changes nothing (~1 s).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
TORCH_VERSION=2.13.0
STAMP="$VENV/.ditgrade-setup"
export PIP_DISABLE_PIP_VERSION_CHECK=1

die() { echo "ditgrade setup.sh: ERROR: $*" >&2; exit 1; }
say() { echo "ditgrade setup.sh: $*"; }
# a final release >= 3.11 (a release candidate may lack what torch needs)
py_ok() { "$1" -c 'import sys; v = sys.version_info; sys.exit(not (v >= (3, 11) and v.releaselevel == "final"))' \
  >/dev/null 2>&1; }

# ---- the Python to build the venv from
if [ -n "${PYTHON:-}" ]; then
  PY="$(command -v "$PYTHON" || true)"
  [ -n "$PY" ] || die "PYTHON=$PYTHON is not a program"
  py_ok "$PY" || die "PYTHON=$PYTHON is $("$PY" --version 2>&1 | head -1); ditgrade needs a Python >= 3.11"
else
  PY=""
  for c in python3 python3.13 python3.12 python3.11; do
    if command -v "$c" >/dev/null && py_ok "$c"; then PY="$(command -v "$c")"; break; fi
  done
  [ -n "$PY" ] || die "no Python >= 3.11 on PATH (python3 is $(python3 --version 2>&1 | head -1)): install one, or set PYTHON=/path/to/python3.11"
fi
PY_VERSION="$("$PY" -c 'import platform; print(platform.python_version())')"

# ---- the venv: made once; made again only when it is broken or of another Python
venv_ok() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1 \
    && [ "$("$VENV/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null)" = "$PY_VERSION" ]
}
if ! venv_ok; then
  # Debian/Ubuntu ship venv's pip bootstrap (ensurepip) only in python3-venv / python3.X-venv
  if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || ! "$PY" -m ensurepip --version >/dev/null 2>&1; then
    PKG=python3-venv
    [ "$(readlink -f "$PY")" = "$(readlink -f /usr/bin/python3 2>/dev/null || true)" ] \
      || PKG="python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
    die "$PY ($PY_VERSION) cannot make a virtual environment: install $PKG (Debian/Ubuntu: sudo apt install $PKG)"
  fi
  [ ! -e "$VENV" ] || say "remaking $VENV (broken, or not of $PY $PY_VERSION)"
  rm -rf "$VENV"
  say "making $VENV with $PY ($PY_VERSION)"
  "$PY" -m venv "$VENV" || { rm -rf "$VENV"; die "$PY -m venv $VENV failed (above)"; }
fi
VPY="$VENV/bin/python"

# ---- up to date already?
WANT="$({ echo "python $PY_VERSION torch ${DITGRADE_TORCH_SPEC:-torch==$TORCH_VERSION+cpu}"; cat pyproject.toml scripts/setup.sh; } \
        | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && "$VPY" -c 'import importlib.metadata as m; m.version("torch"); m.version("ditgrade"); m.version("ipykernel")' \
        >/dev/null 2>&1; then
  say "$VENV is up to date ($PY_VERSION, torch $("$VPY" -c 'import importlib.metadata as m; print(m.version("torch"))')); nothing to do"
  exit 0
fi
rm -f "$STAMP"

# ---- torch, CPU build, pinned
have_torch() { "$VPY" -c 'import importlib.metadata as m, sys; sys.exit(m.version("torch") != sys.argv[1])' "$1" \
  >/dev/null 2>&1; }
PIP=("$VPY" -m pip install -q)
if [ -n "${DITGRADE_TORCH_SPEC:-}" ]; then
  say "installing $DITGRADE_TORCH_SPEC (DITGRADE_TORCH_SPEC)"
  "${PIP[@]}" "$DITGRADE_TORCH_SPEC" || die "pip could not install $DITGRADE_TORCH_SPEC (above)"
elif have_torch "$TORCH_VERSION+cpu"; then
  :
else
  say "installing torch $TORCH_VERSION+cpu"
  INDEX="${DITGRADE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
  "${PIP[@]}" "torch==$TORCH_VERSION+cpu" >/dev/null 2>&1 \
    || "${PIP[@]}" --index-url "$INDEX" --extra-index-url https://pypi.org/simple "torch==$TORCH_VERSION+cpu" \
    || die "no torch $TORCH_VERSION+cpu for Python $PY_VERSION from $INDEX (above): set DITGRADE_TORCH_INDEX to a CPU index that has it, or DITGRADE_TORCH_SPEC=torch==$TORCH_VERSION for PyPI's build (CUDA, several GB more)"
fi

# ---- the project, editable, torch held where it is
"$VPY" -c 'import importlib.metadata as m; print("torch==" + m.version("torch"))' > "$VENV/torch-pin.txt"
say "installing the project (-e .[dev]) into $VENV"
"${PIP[@]}" -c "$VENV/torch-pin.txt" -e ".[dev]" || die "pip could not install the project (above)"
"$VPY" -c 'import ditgrade.cli, torch, diffusers, ipykernel' || die "the installed project does not import (above)"
echo "$WANT" > "$STAMP"
say "done: $("$VPY" --version), torch $("$VPY" -c 'import torch; print(torch.__version__)'); run .venv/bin/ditgrade, .venv/bin/python -m pytest"
