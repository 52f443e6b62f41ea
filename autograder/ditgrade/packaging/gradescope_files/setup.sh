#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image; the zip is unpacked in
# /autograder/source. It installs a Python >= 3.11, a CPU-only torch, the engine's requirements
# (requirements.txt), the assignment's (<grading folder>/requirements.txt, the folder named in
# otter_config.json) and the grader into a virtual environment at /opt/ditgrade-venv (run_autograder
# expects it there) that every user can read: the sandboxed student process runs as an unprivileged
# uid and imports torch, numpy ... from it.
#
# Python: the engine needs 3.11 (tomllib), and so may the assignment's own requirements. Gradescope's
# default base image, Ubuntu 22.04, has python3 3.10, and the python3.11 in jammy's universe is
# 3.11.0~rc1: pip accepts it, but torch 2.13 cannot even be imported on it (no
# sys.get_int_max_str_digits, new in 3.11.0rc2). So, in this order:
#   1. the image's python3, when it is a final release >= 3.11 (Ubuntu 24.04: 3.12);
#   2. apt's python3.13/3.12/3.11 + -venv, when apt has one that is not a pre-release;
#   3. else CPython 3.11.2 built from python.org's source (sha256 pinned; about 3 minutes on 2 cores),
#      installed with `make altinstall` in /usr/local. DITGRADE_PYTHON_TARBALL=/path/Python-3.11.2.tgz
#      uses a local copy of that same file (it is also Debian's python3.11_3.11.2.orig.tar.gz);
#   4. an image without apt-get (Fedora, Rocky ...) stops the build with one line saying what to choose.
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
PYTHON_VERSION=3.11.2
PYTHON_URL="https://www.python.org/ftp/python/$PYTHON_VERSION/Python-$PYTHON_VERSION.tgz"
PYTHON_SHA256=2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849
export DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
CHOOSE="choose Ubuntu 22.04 (Gradescope's default) or newer as the base image on the Configure Autograder page"

die() {  # the one line the build log ends on (not traced, so it is the last thing a staff member reads)
  { set +x; } 2>/dev/null
  echo "ditgrade setup.sh: ERROR: $*" >&2
  exit 1
}
# a final release >= 3.11 (a release candidate may lack what torch needs)
py_ok() { "$1" -c 'import sys; v = sys.version_info; sys.exit(not (v >= (3, 11) and v.releaselevel == "final"))' 2>/dev/null; }
candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '^(none)$' || true; }
PRERELEASE='~(a|b|rc)[0-9]'  # a Debian version of a Python pre-release, e.g. jammy's 3.11.0~rc1-1~22.04.1
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

build_python() {  # CPython $PYTHON_VERSION from source into /usr/local (python3.11; /usr/bin/python3 untouched)
  local deps=(gcc make libc6-dev pkg-config curl libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev
              libsqlite3-dev uuid-dev) new=() d src work
  for d in "${deps[@]}"; do installed "$d" || new+=("$d"); done
  apt-get install -y --no-install-recommends "${deps[@]}"
  work="$(mktemp -d)"
  src="${DITGRADE_PYTHON_TARBALL:-$work/Python-$PYTHON_VERSION.tgz}"
  [ -n "${DITGRADE_PYTHON_TARBALL:-}" ] || curl -fsSL --retry 3 -o "$src" "$PYTHON_URL"
  echo "$PYTHON_SHA256  $src" | sha256sum -c - || die "$src is not python.org's Python-$PYTHON_VERSION.tgz (sha256)"
  tar -xzf "$src" -C "$work"
  (cd "$work/Python-$PYTHON_VERSION" && ./configure --prefix=/usr/local --with-ensurepip=install \
     && make -j"$(nproc)" && make altinstall) > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log" >&2; die "building Python $PYTHON_VERSION from source failed (above): $CHOOSE."; }
  rm -rf "$work" /usr/local/lib/python3.11/test /usr/local/lib/libpython3.11.a /usr/local/lib/python3.11/config-3.11-*/libpython3.11.a
  strip -s /usr/local/bin/python3.11 /usr/local/lib/python3.11/lib-dynload/*.so  # ~25 MB of symbols
  # the shared libraries it links stay when the build tools go: mark their packages as wanted
  local libs pkgs
  libs="$(ldd /usr/local/bin/python3.11 /usr/local/lib/python3.11/lib-dynload/*.so | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)"
  pkgs="$(for d in $libs; do dpkg -S "*/${d##*/}" 2>/dev/null | sed -n '1s/:.*//p'; done | sort -u)"
  [ -z "$pkgs" ] || apt-mark manual $pkgs
  [ "${#new[@]}" = 0 ] || apt-get purge -y --auto-remove "${new[@]}"
}

command -v apt-get >/dev/null || die "this base image has no apt-get and ditgrade needs Python >= 3.11 with apt: $CHOOSE."
# torch 2.13's Linux wheels are manylinux_2_28: Ubuntu 18.04 (glibc 2.27) cannot run them
GLIBC="$(getconf GNU_LIBC_VERSION | awk '{print $2}')"
[ "$(printf '%s\n' 2.28 "$GLIBC" | sort -V | head -1)" = 2.28 ] \
  || die "this base image's glibc $GLIBC is older than the 2.28 torch $TORCH_VERSION needs: $CHOOSE."
apt-get update
apt-get install -y --no-install-recommends ca-certificates

PY=""
if command -v python3 >/dev/null && py_ok python3; then
  PY="$(command -v python3)"
  # Debian's and Ubuntu's python3 has venv's pip only with python3-venv (import ensurepip works without)
  if dpkg -S "$(readlink -f "$PY")" >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends python3-venv
  fi
else
  for v in 3.13 3.12 3.11; do
    c="$(candidate "python$v")"
    if [ -n "$c" ] && [ -n "$(candidate "python$v-venv")" ] && [[ ! "$c" =~ $PRERELEASE ]]; then
      apt-get install -y --no-install-recommends "python$v" "python$v-venv"
      PY="/usr/bin/python$v"
      break
    fi
  done
  if [ -z "$PY" ]; then
    build_python
    PY=/usr/local/bin/python3.11
  fi
fi
py_ok "$PY" && "$PY" -c 'import ctypes, ensurepip, lzma, bz2, sqlite3, ssl, venv, zlib' \
  || die "no working Python >= 3.11 (tried $PY): $CHOOSE."
"$PY" --version
"$PY" -m venv "$VENV"
VPY="$VENV/bin/python"
"$VPY" -m pip install --upgrade pip setuptools wheel

if [ -n "${DITGRADE_TORCH_WHEEL:-}" ]; then
  [ -f "$DITGRADE_TORCH_WHEEL" ] || die "DITGRADE_TORCH_WHEEL=$DITGRADE_TORCH_WHEEL is not a file."
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
GRADING="$("$VPY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["grading_folder"])' "$ROOT/source/otter_config.json")"
REQS=(-r "$ROOT/source/requirements.txt")
[ ! -f "$ROOT/source/$GRADING/requirements.txt" ] || REQS+=(-r "$ROOT/source/$GRADING/requirements.txt")
"$VPY" -m pip install -c "$TORCH_PIN" "${REQS[@]}"
rm -f "$TORCH_PIN"
# editable: the package stays in /autograder/source next to otter_config.json; the sandbox hides
# that folder from student code, and run_autograder makes it unreadable to other users
"$VPY" -m pip install --no-deps --no-build-isolation -e "$ROOT/source"
chmod -R a+rX "$VENV"

# fail the image build, not a student's run: the engine's modules, every module the sandbox preloads
# (the grading folder's assignment.toml), torch CPU-only, the CLI
PYTHONPATH="$ROOT/source/autograder" "$VPY" - "$ROOT/source/$GRADING/assignment.toml" <<'EOF'
import importlib
import importlib.metadata as md
import os
import sys
import tomllib
os.environ["MPLBACKEND"] = "Agg"  # and pyplot builds matplotlib's font cache now, in the image, not per submission
import hypothesis, nbformat, numpy, torch, yaml  # noqa: E401,F401
with open(sys.argv[1], "rb") as f:
    preload = tomllib.load(f).get("preload", [])
for name in preload:
    importlib.import_module(name)
cuda = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith("nvidia-"))
if torch.version.cuda is not None or cuda:
    raise SystemExit(f"ditgrade setup.sh: ERROR: torch {torch.__version__} is a CUDA build ({', '.join(cuda)}): "
                     "set DITGRADE_TORCH_WHEEL to a CPU wheel or fix the CPU index")
tops = sorted({n.split(".")[0] for n in preload} | {"numpy", "torch"})
print(" | ".join(f"{t} {getattr(sys.modules[t], '__version__', '?')}" for t in tops if t in sys.modules))
EOF
PYTHONPATH="$ROOT/source/autograder" "$VPY" -m ditgrade --project "$ROOT/source" --help >/dev/null
"$VPY" -m compileall -q "$ROOT/source/autograder"  # bytecode now, not on every submission's first import

# keep the image small: apt's package lists and downloads, pip's caches (PIP_NO_CACHE_DIR kept most out)
apt-get clean
rm -rf /var/lib/apt/lists/* /root/.cache/pip "${HOME:-/root}/.cache/pip" /tmp/pip-* /tmp/torchinductor_*
