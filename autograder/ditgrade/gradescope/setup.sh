#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image; the zip is unpacked in
# /autograder/source. It installs a CPU-only torch and the grader into a virtual environment that
# every user can read (the sandboxed student process runs as an unprivileged uid and must import it).
#
# torch: Gradescope's image builders reach the internet, so the CPU wheel comes from PyTorch's CPU
# index (no CUDA libraries: a much smaller image). Should that index be unreachable, the fallback is
# the default index's torch==2.13.0, larger but the same on CPU.
set -euxo pipefail
ROOT="${DITGRADE_AUTOGRADER_ROOT:-/autograder}"
VENV="${DITGRADE_VENV:-/opt/ditgrade-venv}"

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip ca-certificates
# optional: the grader unshares its namespaces itself and does not need bubblewrap
apt-get install -y --no-install-recommends bubblewrap || true

python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip setuptools wheel
"$VENV/bin/python" -m pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
  || "$VENV/bin/python" -m pip install "torch==2.13.0"
"$VENV/bin/python" -m pip install -r "$ROOT/source/requirements.txt"
# editable: the package stays in /autograder/source next to otter_config.json; the sandbox hides
# that folder from student code, and run_autograder makes it unreadable to other users
"$VENV/bin/python" -m pip install --no-deps -e "$ROOT/source"
chmod -R a+rX "$VENV"
"$VENV/bin/python" -c "import torch, diffusers, ditgrade.run"  # fail the image build, not a student's run
