#!/usr/bin/env bash
# Device check of q5's GPU job (DiT-XL/2 sampling): run it once on a CUDA machine, in < 7 minutes.
# First scripts/gpu_run_check.py: the whole `ditgrade run --gpu` on the reference (timed, every test,
# the sandbox's protections) and on a hostile generate that looks for a way out; one line:
#   GPU-RUN seconds=... score=46.0/46.0 gpu_tests=5/5 protections=ok probe=ok verdict=OK|FAIL
# Then scripts/gpu_check.py, in one process, prints one summary line:
#   GPU-CHECK device="..." dtype=float16 steps=20 images=4 weights=real|random seconds=... \
#     direct_seconds=... ratio=... peak_gib=... ... hidden=5/5 mutants=8/8 verdict=OK|FAIL
# (seconds: the student's generate via the gpu_generate probe; direct_seconds: DiTPipeline called
# directly; budgets: ratio <= 1.2, peak <= 3 GiB, hidden tests <= 30 s end to end with local
# weights). Then, when pytest is importable, the pytest GPU tests (tests/test_gpu_sampling.py -m gpu).
# Exit status: gpu_check.py's (0 ok, 1 a check or budget failed, 2 could not start), else pytest's.
#
# Usage (repository root):   bash scripts/gpu_check.sh
# Dry run on a CPU (the same logic on the tiny pipeline; budgets not enforced):
#                            DITGRADE_GPU_CHECK_DEVICE=cpu bash scripts/gpu_check.sh
# Other variables: DITGRADE_DIT_PATH (a DiT pipeline folder; else the Hugging Face cache of
# facebook/DiT-XL-2-256, else DiT-XL/2 with random weights, reported as weights=random),
# DITGRADE_GPU_STEPS (20), DITGRADE_GPU_CHECK_PYTEST=0 (skip pytest), DITGRADE_GPU_CHECK_OUT
# (default $OUT when set: gpu_check.json, samples.png, gpu_check.log).
#
# The GPU machine has torch but not diffusers, and no network. Make the wheels here first, into
# .whl/ (git-ignored; carry it to the machine), for the machine's Python (3.12, x86_64). The lent
# machines here already hold diffusers' other requirements, so two wheels do:
#
#   python3 -m pip download --no-deps $P diffusers==0.42.1 importlib_metadata
#
# On a bare machine, all of them:
#   P="--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
#      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl"
#   python3 -m pip download --no-deps $P diffusers==0.42.1 importlib_metadata
#   # diffusers' own requirements (see: unzip -p .whl/diffusers-*.whl '*/METADATA' | grep ^Requires-Dist):
#   #   importlib_metadata filelock huggingface-hub numpy regex requests safetensors Pillow;
#   # and theirs. torch already brings filelock, fsspec, typing-extensions (and usually numpy):
#   python3 -m pip download --no-deps $P zipp lazy-importer 'huggingface-hub>=1.32,<3' \
#       regex 'safetensors>=0.8' Pillow requests urllib3 idna certifi charset-normalizer \
#       httpx2 httpcore2 h11 anyio sniffio truststore click packaging pyyaml tqdm hf-xet
#   # optional, makes from_pretrained skip the random init of the 675M weights: accelerate psutil
#
# (pip download --no-deps does not resolve: if diffusers gains a requirement, the preflight below
# names the missing module and stops in seconds, before any GPU work.)
set -uo pipefail
cd "$(dirname "$0")/.."
# the project's venv where scripts/setup.sh made one (a CPU dry run here); else the machine's python3
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
WHEELS=${DITGRADE_GPU_CHECK_WHEELS:-.whl}
# Not under /tmp, and named *-packages: the sandbox binds a worker's package folders into its
# private view of the disk by that name, and gives it an empty /tmp of its own.
SITE=${DITGRADE_GPU_CHECK_SITE:-/opt/ditgrade-gpu/site-packages}
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
    || { echo "gpu-check: installing $WHEELS/*.whl failed"; exit 2; }
  export PYTHONPATH=$SITE:$PWD/autograder DITGRADE_PROJECT=$PWD
else
  echo "gpu-check: no $WHEELS/*.whl: using the packages already installed"
  export PYTHONPATH=$PWD/autograder${PYTHONPATH:+:$PYTHONPATH} DITGRADE_PROJECT=$PWD
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export DITGRADE_GPU_CHECK_OUT=${DITGRADE_GPU_CHECK_OUT:-${OUT:-}}

# Preflight: every module the job imports, named when missing (seconds, no GPU work).
"$PY" - <<'EOF' || exit 2
import importlib, sys
missing = []
for m in ("numpy", "torch", "diffusers", "huggingface_hub", "safetensors", "PIL", "dit.sampling",
          "dit.probes", "dit.hidden.q5_gpu"):
    try:
        importlib.import_module(m)
    except Exception as e:
        missing.append(f"{m} ({type(e).__name__}: {e})")
if missing:
    print("gpu-check: cannot start, missing: " + "; ".join(missing))
    sys.exit(1)
import diffusers, torch
print(f"gpu-check: preflight ok: python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"diffusers {diffusers.__version__}, cuda {torch.cuda.is_available()}")
EOF

LOG=$(mktemp)
timeout 150 "$PY" scripts/gpu_run_check.py 2>&1 | grep -v '^$' | tee "$LOG"
run_rc=${PIPESTATUS[0]}
[ "$run_rc" = 124 ] && echo "gpu-check: gpu_run_check.py ran past 150 s"
timeout 150 "$PY" scripts/gpu_check.py 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
[ "$rc" = 124 ] && echo "gpu-check: gpu_check.py ran past 150 s"
[ "$rc" = 0 ] && rc=$run_rc
if [ "$rc" -le 1 ] && [ "${DITGRADE_GPU_CHECK_PYTEST:-1}" != 0 ] && "$PY" -c "import pytest" 2>/dev/null; then
  if [ "${DITGRADE_GPU_CHECK_DEVICE:-cuda}" = cpu ]; then SEL="not gpu"; else SEL="gpu"; fi
  timeout 75 "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu_sampling.py -m "$SEL" 2>&1 | tail -n 15
  prc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] && rc=$prc
fi
[ -n "$DITGRADE_GPU_CHECK_OUT" ] && mkdir -p "$DITGRADE_GPU_CHECK_OUT" && cp "$LOG" "$DITGRADE_GPU_CHECK_OUT/gpu_check.log"
grep '^GPU-RUN' "$LOG" || echo "GPU-RUN verdict=FAIL (no summary: exit status $run_rc)"
grep '^GPU-CHECK' "$LOG" || echo "GPU-CHECK verdict=FAIL (no summary: exit status $rc)"
rm -f "$LOG"
exit "$rc"
