#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image; the zip is unpacked in
# /autograder/source. It installs a Python >= 3.11, a CPU-only torch and the grader into a virtual
# environment at /opt/ditgrade-venv (run_autograder expects it there) that every user can read: the
# sandboxed student process runs as an unprivileged uid and imports torch, numpy ... from it.
#
# Base image: Gradescope's default, Ubuntu 22.04, has python3 3.10, but diffusers 0.42 needs
# Python >= 3.11, so there this script installs Ubuntu's own python3.11 (jammy's universe). An image
# whose python3 is already >= 3.11 (Ubuntu 24.04: 3.12) uses that. Anything else (Ubuntu 18.04 or
# 20.04, Fedora, Rocky ...) stops the build with one line that says which base image to choose.
#
# torch is always the CPU build (the default index's Linux wheel pulls several GB of CUDA libraries
# that a CPU-only grader never uses). Where it comes from, first match wins:
#   DITGRADE_TORCH_WHEEL=/path/torch-...+cpu-....whl    that wheel file
#   DITGRADE_TORCH_FIND_LINKS=/folder                   torch==2.13.0+cpu from the wheels in a folder
#   DITGRADE_TORCH_INDEX=URL                            torch==2.13.0+cpu from another CPU index
#   (none)                                              torch==2.13.0+cpu from PyTorch's CPU index
# The "+cpu" pin matches no wheel on PyPI, so an unreachable CPU index fails the build instead of
# quietly installing the CUDA build; a check at the end fails it too if a CUDA torch got in anyway.
#
# -e: a failed step fails the image build (Gradescope shows the log) instead of leaving a half-built
#     image that would give every student a zero; -u: an unset variable is an error, not "";
# -o pipefail: a failure inside a pipeline counts; -x: the build log shows every command it ran.
set -euxo pipefail
umask 022  # everything installed here must be readable by the sandbox's unprivileged uid
ROOT="${DITGRADE_AUTOGRADER_ROOT:-/autograder}"
VENV="${DITGRADE_VENV:-/opt/ditgrade-venv}"
TORCH_VERSION=2.13.0
export DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

die() {  # the one line the build log ends on (not traced, so it is the last thing a staff member reads)
  { set +x; } 2>/dev/null
  echo "ditgrade setup.sh: $*" >&2
  exit 1
}
py_ok() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' 2>/dev/null; }
has_candidate() { local p; p="$(apt-cache policy "$1" 2>/dev/null)"; [[ "$p" == *"Candidate: "[^\(]* ]]; }
BASE_HINT="choose Ubuntu 22.04 (or newer) as the base image on Gradescope's Configure Autograder page"

command -v apt-get >/dev/null || die "ERROR: this base image has no apt-get; ditgrade needs Python >= 3.11 from Ubuntu: $BASE_HINT."
apt-get update
apt-get install -y --no-install-recommends ca-certificates

# a Python >= 3.11 with venv: the image's python3 when it is new enough, else Ubuntu's python3.1x
PY=""
if command -v python3 >/dev/null && py_ok python3; then
  PY="$(command -v python3)"
  if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get install -y --no-install-recommends python3-venv
  fi
else
  for v in 3.13 3.12 3.11; do
    if has_candidate "python$v" && has_candidate "python$v-venv"; then
      apt-get install -y --no-install-recommends "python$v" "python$v-venv"
      PY="/usr/bin/python$v"
      break
    fi
  done
fi
if [ -z "$PY" ] || ! py_ok "$PY"; then
  die "ERROR: ditgrade needs Python >= 3.11 (diffusers 0.42) and this image has $(python3 --version 2>&1 || echo 'no python3') with no python3.11 package in apt: $BASE_HINT."
fi
"$PY" --version
# optional: the grader unshares its namespaces itself and does not need bubblewrap
apt-get install -y --no-install-recommends bubblewrap || true

"$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
"$VPY" -m pip install --upgrade pip setuptools wheel

if [ -n "${DITGRADE_TORCH_WHEEL:-}" ]; then
  [ -f "$DITGRADE_TORCH_WHEEL" ] || die "ERROR: DITGRADE_TORCH_WHEEL=$DITGRADE_TORCH_WHEEL is not a file."
  "$VPY" -m pip install "$DITGRADE_TORCH_WHEEL"
elif [ -n "${DITGRADE_TORCH_FIND_LINKS:-}" ]; then
  "$VPY" -m pip install --find-links "$DITGRADE_TORCH_FIND_LINKS" "torch==$TORCH_VERSION+cpu"
else
  # torch from the CPU index; its dependencies (sympy, networkx ...) from either index
  "$VPY" -m pip install --index-url "${DITGRADE_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" \
    --extra-index-url https://pypi.org/simple "torch==$TORCH_VERSION+cpu"
fi
# the requirements may not replace that torch (with a CUDA build, say): pin it to what is installed
TORCH_PIN="$(mktemp)"
"$VPY" -c 'import importlib.metadata as m; print("torch==" + m.version("torch"))' > "$TORCH_PIN"
"$VPY" -m pip install -c "$TORCH_PIN" -r "$ROOT/source/requirements.txt"
rm -f "$TORCH_PIN"
# editable: the package stays in /autograder/source next to otter_config.json; the sandbox hides
# that folder from student code, and run_autograder makes it unreadable to other users
"$VPY" -m pip install --no-deps --no-build-isolation -e "$ROOT/source"
chmod -R a+rX "$VENV"

# fail the image build, not a student's run: every module grading imports, torch CPU-only, the CLI
"$VPY" - <<'EOF'
import importlib.metadata as md
import diffusers, hypothesis, matplotlib, nbformat, numpy, safetensors, torch, yaml  # noqa: F401
cuda = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith("nvidia-"))
if torch.version.cuda is not None or cuda:
    raise SystemExit(f"ditgrade setup.sh: ERROR: torch {torch.__version__} is a CUDA build ({', '.join(cuda)}): "
                     "set DITGRADE_TORCH_WHEEL to a CPU wheel or fix the CPU index")
print("torch", torch.__version__, "| diffusers", diffusers.__version__, "| numpy", numpy.__version__,
      "| matplotlib", matplotlib.__version__)
EOF
PYTHONPATH="$ROOT/source/autograder" "$VPY" -m ditgrade --project "$ROOT/source" --help >/dev/null

# keep the image small: apt's package lists and downloads, pip's caches (PIP_NO_CACHE_DIR kept most out)
apt-get clean
rm -rf /var/lib/apt/lists/* /root/.cache/pip "${HOME:-/root}/.cache/pip" /tmp/pip-*
