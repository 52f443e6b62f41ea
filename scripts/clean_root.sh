#!/usr/bin/env bash
# Prove autograder.zip the way Gradescope uses it, in a fresh OS root rather than this machine's Python:
#
#   1. base root  Ubuntu 22.04 (jammy, Gradescope's default base image) made by debootstrap from
#                 archive.ubuntu.com: minbase plus python3 (3.10, as on Gradescope's image) and the
#                 docker image's apt sources. Cached as a tarball under $CLEANROOT_CACHE.
#   2. image      autograder.zip unpacked into <root>/autograder/source, run_autograder copied to
#                 <root>/autograder/, then `bash /autograder/source/setup.sh` in the chroot as root,
#                 with torch from a local CPU wheel (DITGRADE_TORCH_FIND_LINKS, which setup.sh honours)
#   3. grading    /autograder/run_autograder in the chroot for each submission below, its
#                 results.json checked, wall time and peak PSS of the process tree measured
#
#   carol    examples/submissions/carol_correct.ipynb as dit_assignment.ipynb  full score (46)
#   dave     examples/submissions/dave_bug_q1_token_order.py                   loses points in q1 only
#   mallory  examples/submissions/mallory_hostile.py                           well below full, finishes
#   empty    an empty submission folder                                        0, with a note
#   probe    a correct .py whose sequence_length looks around the disk from inside the sandbox and
#            raises what it saw, so it shows in the test output (the grader's files must be hidden)
#   carol_gs, mallory_gs   carol and mallory again as in Gradescope's default container: one CPU
#            (taskset -c 0), a 0.5 CPU quota and 768 MB of memory (cgroup v1 or v2, where this machine
#            has them), the page cache dropped first so that torch's libraries are read (and charged) anew
#
# CLEANROOT_JOB=readme proves the README's two commands instead (issue 20): a fresh Debian 12 (bookworm)
# or Ubuntu 24.04 (noble) root with python3 and python3-venv from apt, the project git-cloned at the
# commit under test, then each command run exactly as the README's first lines write it, as root in a
# fresh shell (env -i, PATH, HOME), timed, checked, and every file written outside the project folder
# listed (see readme_job below). CLEANROOT_TEST_ARGS ("-m 'not slow'" by default) is appended to the
# test command: the whole suite takes 15+ minutes on 2 cores.
#
# Usage:  sudo scripts/clean_root.sh [OUT_DIR]       (OUT_DIR default: $CLEANROOT_WORK/out)
#         sudo CLEANROOT_JOB=readme CLEANROOT_SUITE=noble scripts/clean_root.sh [OUT_DIR]
# Writes OUT_DIR/summary.json (figures, checks), OUT_DIR/<name>/{results.json,grader_log.txt,...},
# OUT_DIR/setup.log. Exit 0: every check passed; 1: a step or a check failed; 77: cannot run here
# (not root, no debootstrap/chroot, no network), with the reason on the last line.
#
# Environment:
#   CLEANROOT_JOB        gradescope (default: the steps above) or readme (the README's commands)
#   CLEANROOT_SUITE      jammy (default for gradescope), bookworm (Debian 12; default for readme) or
#                        noble (Ubuntu 24.04)
#   CLEANROOT_CACHE      base-root tarballs (default /var/cache/ditgrade-cleanroot)
#   CLEANROOT_WORK       scratch: the root itself, the zip (default /tmp/cleanroot/work, readme:
#                        /tmp/cleanroot/readme-$CLEANROOT_SUITE)
#   CLEANROOT_ZIP        an autograder.zip to prove (default: built from this checkout)
#   CLEANROOT_TORCH_DIR  folder holding torch-2.13.0+cpu wheels (default /opt/wheels)
#   CLEANROOT_ONLY       comma-separated subset of the submissions above
#   CLEANROOT_ROOT_MOUNTPOINT  1 (default): bind the root onto itself so / is a mount point inside,
#                        as under Docker; 0: a plain chroot directory (the sandbox then clones /)
#   CLEANROOT_REFRESH_BASE=1  rebuild the cached base root
#   CLEANROOT_BASE_ONLY=1     stop once the cached base root is there
#   CLEANROOT_REUSE_IMAGE=1   grade again in the root the last run left, when it was built from the
#                        same autograder.zip (setup.sh's figures are then those of that run)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOB="${CLEANROOT_JOB:-gradescope}"
case "$JOB" in
  gradescope) SUITE="${CLEANROOT_SUITE:-jammy}"; WORK="${CLEANROOT_WORK:-/tmp/cleanroot/work}" ;;
  readme) SUITE="${CLEANROOT_SUITE:-bookworm}"; WORK="${CLEANROOT_WORK:-/tmp/cleanroot/readme-$SUITE}" ;;
  *) echo "FAIL: CLEANROOT_JOB must be gradescope or readme" >&2; exit 1 ;;
esac
CACHE="${CLEANROOT_CACHE:-/var/cache/ditgrade-cleanroot}"
OUT="${1:-$WORK/out}"
TORCH_DIR="${CLEANROOT_TORCH_DIR:-/opt/wheels}"
ONLY="${CLEANROOT_ONLY:-carol,dave,mallory,empty,probe,carol_gs,mallory_gs}"
ROOT_MOUNTPOINT="${CLEANROOT_ROOT_MOUNTPOINT:-1}"
R="$WORK/root"
CG_NAME="ditgrade-cleanroot-$$"
CG_DIRS=()       # what cleanup removes
CG_PROCS=()      # the cgroup.procs files a process joins
CG_PEAK=""       # the file holding peak memory use
# ubuntu-keyring 2021.03.26 (jammy main), pinned: Debian 12 does not package Ubuntu's archive key
UBUNTU_KEYRING_DEB="pool/main/u/ubuntu-keyring/ubuntu-keyring_2021.03.26_all.deb"
UBUNTU_KEYRING_SHA256="0d0e7ed6b112f5d03eabf3c7eb01ebdacf9c57714b279e90495cfc58c8c4520f"
# setup.sh builds CPython 3.11.2 from python.org's Python-3.11.2.tgz where the image has no usable
# Python >= 3.11 (jammy: python3.11 is 3.11.0~rc1). python.org is unreachable here; Debian's orig
# tarball of python3.11 is the same file (setup.sh checks the sha256), handed over as DITGRADE_PYTHON_TARBALL.
PYTHON_TGZ_URL="http://deb.debian.org/debian/pool/main/p/python3.11/python3.11_3.11.2.orig.tar.gz"
PYTHON_TGZ_SHA256="2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849"

log() { printf '\n=== %s  %s\n' "$(date +%T)" "$*" >&2; }
skip() { echo "SKIP: $*" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
fetch_verified() {  # URL DEST SHA256: download, and keep only a file with that sha256
  python3 - "$1" "$2" "$3" <<'EOF'
import hashlib, sys, urllib.request
url, dest, sha = sys.argv[1:4]
data = urllib.request.urlopen(url, timeout=120).read()
if hashlib.sha256(data).hexdigest() != sha:
    sys.exit(f"{url.rsplit('/', 1)[-1]}: sha256 mismatch")
open(dest, "wb").write(data)
EOF
}

# ---------------------------------------------------------------------------------------------
# can this machine do it at all?
# ---------------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot and mounts)"
command -v debootstrap >/dev/null || skip "debootstrap is not installed (apt-get install debootstrap)"
command -v chroot >/dev/null && command -v unzip >/dev/null || skip "needs chroot and unzip"
case "$SUITE" in
  jammy|noble) MIRROR=http://archive.ubuntu.com/ubuntu ;;
  bookworm) MIRROR=http://deb.debian.org/debian ;;
  *) fail "CLEANROOT_SUITE must be jammy, noble or bookworm" ;;
esac
python3 - "$MIRROR/dists/$SUITE/Release" <<'EOF' || skip "cannot reach $MIRROR (network)"
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=20).read(64)
EOF
python3 - <<'EOF' || skip "cannot reach https://pypi.org (network)"
import ssl, urllib.request
urllib.request.urlopen("https://pypi.org/simple/diffusers/", timeout=30,
                       context=ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")).read(64)
EOF
shopt -s nullglob
TORCH_WHEELS=("$TORCH_DIR"/torch-2.13.0+cpu-cp3*-manylinux*_x86_64.whl)
shopt -u nullglob
[ "${#TORCH_WHEELS[@]}" -gt 0 ] || [ "$JOB" = readme ] || skip "no torch-2.13.0+cpu wheel in $TORCH_DIR (download.pytorch.org is unreachable here)"

mkdir -p "$CACHE" "$WORK" "$OUT"
OUT="$(cd "$OUT" && pwd)"

# ---------------------------------------------------------------------------------------------
# mounts, and taking them all down again whatever happens
# ---------------------------------------------------------------------------------------------
mounts_under() {  # mount points at or below $1, deepest first
  python3 - "$1" <<'EOF'
import sys
root = sys.argv[1].rstrip("/")
points = []
with open("/proc/self/mountinfo") as f:
    for line in f:
        p = line.split()[4].encode().decode("unicode_escape")
        if p == root or p.startswith(root + "/"):
            points.append(p)
for p in sorted(set(points), key=lambda p: (-p.count("/"), p)):
    print(p)
EOF
}

kill_root_processes() {  # processes this script started in the root (their / is the root): by pid
  local d
  for d in /proc/[0-9]*; do
    if [ "$(readlink "$d/root" 2>/dev/null)" = "$R" ]; then kill -9 "${d#/proc/}" 2>/dev/null || true; fi
  done
}

unmount_root() {
  local p _
  [ -d "$R" ] || return 0
  kill_root_processes
  for _ in 1 2 3; do
    for p in $(mounts_under "$R"); do umount "$p" 2>/dev/null || umount -l "$p" 2>/dev/null || true; done
    [ -z "$(mounts_under "$R")" ] && return 0
    sleep 1
  done
  echo "WARNING: still mounted under $R: $(mounts_under "$R" | tr '\n' ' ')" >&2
  return 1
}

remove_root() {  # never rm -rf through a bind mount of the host's /dev
  unmount_root || fail "refusing to delete $R while something is mounted under it"
  rm -rf --one-file-system "$R"
}

cleanup() {
  local rc=$?
  unmount_root || true
  for d in "${CG_DIRS[@]}"; do rmdir "$d" 2>/dev/null || true; done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mount_root() {
  if [ "$ROOT_MOUNTPOINT" = 1 ]; then
    mount --bind "$R" "$R"           # as under Docker, / is a mount point inside
    mount --make-private "$R"
  fi
  mount -t proc proc "$R/proc"
  mount -t sysfs -o ro sysfs "$R/sys"
  mount --bind /dev "$R/dev"
  mkdir -p "$R/dev/pts" "$R/dev/shm"
  mount --bind /dev/pts "$R/dev/pts"
  mount -t tmpfs -o mode=1777,size=512m shm "$R/dev/shm"
}

# the environment of a command in the root: Gradescope's (root, PATH, HOME) plus this network's needs
in_root() {
  chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb "${ROOT_ENV[@]}" "$@"
}
ROOT_ENV=()
# This machine reaches PyPI through a TLS-inspecting proxy whose CA is in the host's bundle: the root
# gets that bundle (below) and pip is pointed at it. Gradescope's builders need none of this.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  ROOT_ENV+=(PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
             REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt)
fi
[ -n "${PIP_DEFAULT_TIMEOUT:-}" ] && ROOT_ENV+=("PIP_DEFAULT_TIMEOUT=$PIP_DEFAULT_TIMEOUT")

copy_host_network_config() {
  rm -f "$R/etc/resolv.conf"
  cp -L /etc/resolv.conf "$R/etc/resolv.conf"
  mkdir -p "$R/etc/ssl/certs" "$R/usr/local/share/ca-certificates"
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp -L /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/"
  # and the host's own CAs where update-ca-certificates (run when setup.sh installs ca-certificates) finds them
  cp -L /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# 1. the base root (cached)
# ---------------------------------------------------------------------------------------------
BASE_TAR="$CACHE/$SUITE-minbase-python3.tar.gz"
if [ ! -s "$BASE_TAR" ] || [ "${CLEANROOT_REFRESH_BASE:-0}" = 1 ]; then
  log "debootstrap $SUITE from $MIRROR (cached afterwards in $BASE_TAR)"
  remove_root
  DB_OPTS=(--variant=minbase --include=python3 --components=main)
  DB_SCRIPT=()  # a debootstrap older than the suite (Debian 12's knows no noble): Ubuntu's one script
  [ -e "/usr/share/debootstrap/scripts/$SUITE" ] || [ "$SUITE" = bookworm ] || DB_SCRIPT=(/usr/share/debootstrap/scripts/gutsy)
  if [ "$SUITE" != bookworm ]; then
    KEYDIR="$WORK/ubuntu-keyring"
    rm -rf "$KEYDIR" && mkdir -p "$KEYDIR"
    fetch_verified "$MIRROR/$UBUNTU_KEYRING_DEB" "$KEYDIR/k.deb" "$UBUNTU_KEYRING_SHA256"
    dpkg-deb -x "$KEYDIR/k.deb" "$KEYDIR/x"
    DB_OPTS+=(--keyring="$KEYDIR/x/usr/share/keyrings/ubuntu-archive-keyring.gpg")
  fi
  t0=$(date +%s)
  debootstrap "${DB_OPTS[@]}" "$SUITE" "$R" "$MIRROR" "${DB_SCRIPT[@]}" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -30 "$WORK/debootstrap.log" >&2; fail "debootstrap $SUITE failed (log: $WORK/debootstrap.log)"; }
  if [ "$SUITE" != bookworm ]; then  # the apt sources of Docker's ubuntu:22.04 (Gradescope's image) / ubuntu:24.04
    cat > "$R/etc/apt/sources.list" <<EOF
deb $MIRROR/ $SUITE main restricted universe multiverse
deb $MIRROR/ $SUITE-updates main restricted universe multiverse
deb $MIRROR/ $SUITE-backports main restricted universe multiverse
deb $MIRROR/ $SUITE-security main restricted universe multiverse
EOF
  else
    cat > "$R/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $MIRROR-security bookworm-security main
EOF
  fi
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*
  echo "debootstrap: $(( $(date +%s) - t0 )) s" >&2
  tar -C "$R" --numeric-owner -czf "$BASE_TAR.part" . && mv "$BASE_TAR.part" "$BASE_TAR"
fi

# ---------------------------------------------------------------------------------------------
# CLEANROOT_JOB=readme: the README's two commands in a fresh Debian 12 / Ubuntu 24.04 root
# ---------------------------------------------------------------------------------------------
# What a new user does: apt install python3-venv, git clone, then the README's first two lines, as
# written, in a fresh shell. Before python3-venv is installed, setup.sh must stop with one line naming
# it and write nothing. A listing of the root (path, type, size, mtime) is taken before and after
# each step; whatever changed outside the project folder is recorded in summary.json, by where: pip's
# cache, matplotlib's per-user cache and config folders (made by any program importing it: the grader
# and the tests do), scratch in /tmp and /var/tmp, and elsewhere (which must stay empty). torch: PyTorch's CPU index is unreachable
# from here, so a root whose Python has a torch-2.13.0+cpu wheel in $TORCH_DIR gets that folder
# read-only as pip's find-links (PIP_FIND_LINKS, as this machine's pip is configured), which setup.sh
# tries first; one without (noble's 3.12) is given DITGRADE_TORCH_SPEC=torch==2.13.0, PyPI's build.
PROJECT_IN_ROOT=/root/ditgrade
snapshot() {  # snapshot NAME: a listing of the root, the project folder and the mounts left out
  python3 - "$R" "$PROJECT_IN_ROOT" "$WORK/snap-$1.json" <<'EOF'
import json, os, stat, sys
root, project, out = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
skip = {root + p for p in ("/proc", "/sys", "/dev", "/run", project)}
seen = {}
for d, dirs, files in os.walk(root):
    dirs[:] = [x for x in dirs if os.path.join(d, x) not in skip]
    for name in dirs + files:
        p = os.path.join(d, name)
        try:
            st = os.lstat(p)
        except OSError:
            continue
        rel = p[len(root):]
        if stat.S_ISDIR(st.st_mode):
            seen[rel] = ["d", st.st_mode]
        else:
            seen[rel] = ["f", st.st_mode, st.st_size, st.st_mtime_ns]
json.dump(seen, open(out, "w"))
EOF
}
changed_since() {  # changed_since A B OUT.json: what changed in the root between two snapshots, by where
  python3 - "$WORK/snap-$1.json" "$WORK/snap-$2.json" "$3" <<'EOF'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
paths = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
def under(p, top):
    return p == top or p.startswith(top + "/")
def kind(p):
    if under(p, "/root/.cache/pip"):
        return "pip_cache"
    # matplotlib's per-user font cache and (empty) config folder, made by any program that imports it
    if p in ("/root/.cache", "/root/.config") or under(p, "/root/.cache/matplotlib") or under(p, "/root/.config/matplotlib"):
        return "matplotlib"
    if under(p, "/tmp") or under(p, "/var/tmp"):
        return "scratch"
    return "elsewhere"
out = {"pip_cache": [], "matplotlib": [], "scratch": [], "elsewhere": []}
for p in paths:
    out[kind(p)].append(("+" if p not in a else "-" if p not in b else "~") + p)
json.dump({k: {"count": len(v), "paths": v[:200]} for k, v in out.items()}, open(sys.argv[3], "w"), indent=1)
EOF
}
timed_in_root() {  # timed_in_root NAME CMD: CMD in a fresh shell in the project folder; NAME.log, .rc, .s
  local name="$1" cmd="$2" t0
  log "$name: $cmd"
  t0=$(date +%s.%N)
  # in the background and waited for (bash runs the cleanup trap only between commands), each
  # output line stamped with the seconds since the command started
  { local rc=0; in_root bash -c "cd $PROJECT_IN_ROOT && $cmd" 2>&1 || rc=$?; echo "$rc" > "$OUT/$name.rc"; } | python3 -u -c '
import sys, time
t0 = time.monotonic()
for line in sys.stdin:
    sys.stdout.write(f"[{time.monotonic() - t0:7.1f}] {line}")' > "$OUT/$name.log" &
  wait $! || true
  python3 -c "print(round($(date +%s.%N) - $t0, 1))" > "$OUT/$name.s"
  echo "$name: rc=$(cat "$OUT/$name.rc") in $(cat "$OUT/$name.s") s" >&2
}
venv_listing() {  # what .venv holds: path, size, mtime (the second setup.sh run must change none of it)
  (cd "$R$PROJECT_IN_ROOT/.venv" 2>/dev/null && find . -printf '%p %s %T@\n' | sort | sha256sum | cut -c1-16) || echo none
}

readme_job() {
  # the README's first two indented lines: the commands a new user runs
  mapfile -t CMDS < <(grep -m2 '^    [^ ]' "$REPO/README.md" | sed 's/^    //')
  [ "${#CMDS[@]}" = 2 ] || fail "README.md does not start with its two commands"
  local test_args="${CLEANROOT_TEST_ARGS-"-m 'not slow'"}" commit dirty torch_note
  commit="$(git -C "$REPO" rev-parse HEAD)"
  dirty="$(git -C "$REPO" status --porcelain --untracked-files=no | wc -l)"
  [ "$dirty" = 0 ] || echo "WARNING: $REPO has $dirty uncommitted changes: the root gets the commit ${commit:0:12} without them" >&2

  log "fresh $SUITE root from $BASE_TAR"
  remove_root
  mkdir -p "$R"
  tar -C "$R" --numeric-owner -xzf "$BASE_TAR"
  copy_host_network_config
  mount_root
  BASE_PY="$(in_root python3 --version 2>&1)"
  local tag
  tag="$(in_root python3 -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
  shopt -s nullglob
  local wheels=("$TORCH_DIR"/torch-2.13.0+cpu-"$tag"-"$tag"-manylinux*_x86_64.whl)
  shopt -u nullglob
  if [ "${#wheels[@]}" -gt 0 ]; then
    mkdir -p "$R/var/tmp/ditgrade-torch-wheels"
    mount --bind "$TORCH_DIR" "$R/var/tmp/ditgrade-torch-wheels"
    mount -o remount,bind,ro "$R/var/tmp/ditgrade-torch-wheels"
    ROOT_ENV+=(PIP_FIND_LINKS=/var/tmp/ditgrade-torch-wheels)
    torch_note="torch 2.13.0+cpu from $TORCH_DIR (PIP_FIND_LINKS, read-only)"
  else
    ROOT_ENV+=(DITGRADE_TORCH_SPEC=torch==2.13.0)
    torch_note="no torch 2.13.0+cpu wheel for $tag here: DITGRADE_TORCH_SPEC=torch==2.13.0 (PyPI's build, CUDA)"
  fi
  echo "torch: $torch_note" >&2

  log "git clone of $REPO at ${commit:0:12} into $PROJECT_IN_ROOT"
  git clone -q --no-hardlinks "$REPO" "$R$PROJECT_IN_ROOT"
  git -C "$R$PROJECT_IN_ROOT" -c advice.detachedHead=false checkout -q --detach "$commit"

  # without python3-venv: one line naming it, nothing written
  snapshot novenv0
  timed_in_root setup_without_venv "bash scripts/setup.sh"
  snapshot novenv1
  changed_since novenv0 novenv1 "$OUT/changed_setup_without_venv.json"
  [ ! -e "$R$PROJECT_IN_ROOT/.venv" ] && echo 0 > "$OUT/venv_left_without_venv" || echo 1 > "$OUT/venv_left_without_venv"

  log "apt-get install python3-venv (as a user would)"
  timed_in_root apt "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv"
  [ "$(cat "$OUT/apt.rc")" = 0 ] || { tail -20 "$OUT/apt.log" >&2; fail "apt-get install python3-venv failed"; }

  snapshot s0
  timed_in_root cmd1 "${CMDS[0]}"
  snapshot s1
  changed_since s0 s1 "$OUT/changed_cmd1.json"
  local before after
  before="$(venv_listing)"
  timed_in_root setup_again "bash scripts/setup.sh"
  after="$(venv_listing)"
  snapshot s2
  changed_since s1 s2 "$OUT/changed_setup_again.json"
  timed_in_root cmd2 "${CMDS[1]}${test_args:+ $test_args}"
  snapshot s3
  changed_since s2 s3 "$OUT/changed_cmd2.json"

  local P="$R$PROJECT_IN_ROOT"
  VENV_PY="$(in_root "$PROJECT_IN_ROOT/.venv/bin/python" --version 2>&1 || true)"
  TORCH_V="$(in_root "$PROJECT_IN_ROOT/.venv/bin/python" -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1 | tail -1 || true)"
  VENV_KB=$(du -skx "$P/.venv" 2>/dev/null | cut -f1 || echo 0)
  export OUT SUITE BASE_PY VENV_PY TORCH_V VENV_KB commit dirty test_args torch_note before after P
  export CMD1="${CMDS[0]}" CMD2="${CMDS[1]}"
  python3 - <<'EOF'
import json, os, re
from pathlib import Path

out, proj = Path(os.environ["OUT"]), Path(os.environ["P"])
def step(name):
    return {"rc": int((out / f"{name}.rc").read_text()), "wall_s": float((out / f"{name}.s").read_text()),
            "tail": (out / f"{name}.log").read_text()[-3000:]}
s = {"suite": os.environ["SUITE"], "commit": os.environ["commit"], "uncommitted_changes": int(os.environ["dirty"]),
     "base_python": os.environ["BASE_PY"], "venv_python": os.environ["VENV_PY"], "torch": os.environ["TORCH_V"],
     "torch_source": os.environ["torch_note"], "venv_mb": round(int(os.environ["VENV_KB"] or 0) / 1024),
     "commands": [os.environ["CMD1"], os.environ["CMD2"]], "test_args": os.environ["test_args"]}
for name in ("setup_without_venv", "apt", "cmd1", "setup_again", "cmd2"):
    s[name] = step(name)
    changed = out / f"changed_{name}.json"
    if changed.exists():
        s[name]["changed_outside_project"] = json.loads(changed.read_text())
s["setup_without_venv"]["venv_left"] = (out / "venv_left_without_venv").read_text().strip() == "1"
s["setup_again"]["venv_unchanged"] = os.environ["before"] == os.environ["after"] != "none"
log1 = (out / "cmd1.log").read_text()
m = re.search(r"^\[\s*([\d.]+)\] ditgrade setup.sh: done", log1, re.M)
s["cmd1"]["setup_s"] = float(m.group(1)) if m else None
dist = proj / "dist"
s["cmd1"]["dist"] = sorted(p.name for p in dist.iterdir()) if dist.is_dir() else []
grades = proj / "out" / "grades.csv"
s["cmd1"]["graded_rows"] = max(0, len(grades.read_text().splitlines()) - 1) if grades.exists() else 0
s["cmd1"]["report"] = (proj / "out" / "report.html").exists()
last = [ln for ln in (out / "cmd2.log").read_text().splitlines() if re.search(r"\d+ (passed|failed|error)", ln)]
s["cmd2"]["summary_line"] = last[-1].split("] ", 1)[-1] if last else ""
for word in ("passed", "failed", "errors", "error", "skipped", "deselected"):
    m = re.search(rf"(\d+) {word}\b", s["cmd2"]["summary_line"])
    s["cmd2"][word] = int(m.group(1)) if m else 0
home_jupyter = proj.parents[1] / "root" / ".local" / "share" / "jupyter" / "kernels"
s["user_kernelspecs"] = sorted(p.name for p in home_jupyter.iterdir()) if home_jupyter.is_dir() else []
(out / "summary.json").write_text(json.dumps(s, indent=1))
print(f"\n{s['suite']}: {s['base_python']}, venv {s['venv_python']}, torch {s['torch']} ({s['venv_mb']} MB)")
for name in ("setup_without_venv", "apt", "cmd1", "setup_again", "cmd2"):
    c = s[name].get("changed_outside_project", {})
    print(f"  {name:18s} rc {s[name]['rc']}  {s[name]['wall_s']:7.1f} s  outside the project: "
          + ", ".join(f"{k} {v['count']}" for k, v in c.items()))
print("  cmd1 setup.sh part:", s["cmd1"]["setup_s"], "s; dist:", s["cmd1"]["dist"], "; graded rows:", s["cmd1"]["graded_rows"])
print("  cmd2:", s["cmd2"]["summary_line"])
EOF
}
[ "${CLEANROOT_BASE_ONLY:-0}" = 1 ] && { echo "base root: $BASE_TAR" >&2; exit 0; }
if [ "$JOB" = readme ]; then
  readme_job
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# 2. the image: a fresh copy of the base, the zip, setup.sh
# ---------------------------------------------------------------------------------------------
PYTHON_TGZ="$CACHE/Python-3.11.2.tgz"
if [ ! -s "$PYTHON_TGZ" ]; then
  log "fetching CPython 3.11.2's source (Debian's copy of python.org's tarball)"
  fetch_verified "$PYTHON_TGZ_URL" "$PYTHON_TGZ" "$PYTHON_TGZ_SHA256"
fi

ZIP="${CLEANROOT_ZIP:-}"
if [ -z "$ZIP" ]; then
  ZIP="$WORK/autograder.zip"
  log "building autograder.zip from $REPO"
  (cd "$REPO" && PYTHONPATH="$REPO/autograder${PYTHONPATH:+:$PYTHONPATH}" python3 -c "
import sys
from ditgrade.packaging.gradescope import build_autograder_zip
from ditgrade.project import Project
build_autograder_zip(sys.argv[1], Project.find('$REPO'))" "$ZIP") || fail "could not build autograder.zip"
fi
[ -s "$ZIP" ] || fail "no autograder.zip at $ZIP"

ZIP_SHA="$(sha256sum "$ZIP" | cut -d' ' -f1)"
IMAGE_ENV="$WORK/image.env"  # the figures of the last successful setup.sh, for CLEANROOT_REUSE_IMAGE
if [ "${CLEANROOT_REUSE_IMAGE:-0}" = 1 ] && [ -f "$IMAGE_ENV" ] && [ -d "$R/opt/ditgrade-venv" ] \
   && grep -qx "ZIP_SHA=$ZIP_SHA" "$IMAGE_ENV"; then
  log "reusing the image in $R (same autograder.zip; setup.sh not rerun)"
  unmount_root
  # shellcheck disable=SC1090
  source "$IMAGE_ENV"
  cp "$WORK/setup.log" "$WORK/pip-freeze.txt" "$OUT/" 2>/dev/null || true
  mount_root
else
  rm -f "$IMAGE_ENV"
  log "fresh root from $BASE_TAR"
  remove_root
  mkdir -p "$R"
  tar -C "$R" --numeric-owner -xzf "$BASE_TAR"
  ROOT_KB_BASE=$(du -skx "$R" | cut -f1)
  BASE_PY="$(chroot "$R" python3 --version 2>&1 || echo 'no python3')"
  copy_host_network_config
  mkdir -p "$R/autograder/source"
  unzip -q "$ZIP" -d "$R/autograder/source"
  cp "$R/autograder/source/run_autograder" "$R/autograder/run_autograder"
  chmod 755 "$R/autograder/run_autograder"
  WHEELS_IN_ROOT=/var/tmp/ditgrade-torch-wheels
  mkdir -p "$R$WHEELS_IN_ROOT"
  cp "${TORCH_WHEELS[@]}" "$PYTHON_TGZ" "$R$WHEELS_IN_ROOT/"
  mount_root

  log "setup.sh in the root (log: $OUT/setup.log)"
  t0=$(date +%s.%N)
  set +e
  # in the background and waited for: bash runs a trap (cleanup) only between commands, and `wait` is one
  { in_root DITGRADE_TORCH_FIND_LINKS="$WHEELS_IN_ROOT" DITGRADE_PYTHON_TARBALL="$WHEELS_IN_ROOT/Python-3.11.2.tgz" \
      bash -c 'cd /autograder/source && bash /autograder/source/setup.sh' 2>&1; echo $? > "$WORK/setup.rc"; } \
    | python3 -u -c '
import sys, time
t0 = time.monotonic()
for line in sys.stdin:  # seconds since setup.sh started, for the phases in benchmarks/clean_root.md
    sys.stdout.write(f"[{time.monotonic() - t0:7.1f}] {line}")' > "$OUT/setup.log" &
  wait $!
  SETUP_RC=$(cat "$WORK/setup.rc" 2>/dev/null || echo 1)
  set -e
  SETUP_S=$(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 1))")
  echo "setup.sh: rc=$SETUP_RC in $SETUP_S s" >&2
  if [ "$SETUP_RC" != 0 ]; then tail -25 "$OUT/setup.log" >&2; fail "setup.sh failed in the $SUITE root"; fi
  rm -rf "$R$WHEELS_IN_ROOT"
  ROOT_PY="$(in_root /opt/ditgrade-venv/bin/python --version 2>&1)"
  TORCH_V="$(in_root /opt/ditgrade-venv/bin/python -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1)"
  VENV_KB=$(du -skx "$R/opt/ditgrade-venv" | cut -f1)
  ROOT_KB_IMAGE=$(du -skx --exclude=proc --exclude=sys --exclude=dev "$R" | cut -f1)
  APT_LISTS_LEFT=$(find "$R/var/lib/apt/lists" -type f ! -name lock 2>/dev/null | wc -l)
  PIP_CACHE_LEFT=$(du -skx "$R/root/.cache/pip" 2>/dev/null | cut -f1 || true)
  VENV_UNREADABLE=$(find "$R/opt/ditgrade-venv" ! -perm -o+r 2>/dev/null | wc -l)
  in_root /opt/ditgrade-venv/bin/python -m pip list --format=freeze > "$OUT/pip-freeze.txt" 2>/dev/null || true

  cp "$OUT/setup.log" "$OUT/pip-freeze.txt" "$WORK/"
  for v in ZIP_SHA ROOT_KB_BASE BASE_PY SETUP_S ROOT_PY TORCH_V VENV_KB ROOT_KB_IMAGE APT_LISTS_LEFT PIP_CACHE_LEFT \
           VENV_UNREADABLE; do printf '%s=%q\n' "$v" "${!v}"; done > "$IMAGE_ENV"
fi

# ---------------------------------------------------------------------------------------------
# 3. grading, measured from outside: wall time and peak PSS of run_autograder's process tree
# ---------------------------------------------------------------------------------------------
cat > "$WORK/measure.py" <<'EOF'
"""measure.py OUT.json CMD...: run CMD; every 0.2 s, the PSS (and CPU time) of its whole process tree."""
import json, os, subprocess, sys, time

TICK = os.sysconf("SC_CLK_TCK")
cpu_seen = {}  # (pid, start time) -> utime + stime (s) when last sampled: the tree's CPU time, sampled


def tree(top):
    kids, cpu = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                kids.setdefault(int(fields[1]), []).append(int(d))
                cpu[int(d)] = ((int(d), fields[19]), (int(fields[11]) + int(fields[12])) / TICK)
            except (OSError, ValueError, IndexError):
                pass
    out, i = [top], 0
    while i < len(out):
        out += kids.get(out[i], [])
        i += 1
    for pid in out:
        if pid in cpu:
            key, seconds = cpu[pid]
            cpu_seen[key] = max(cpu_seen.get(key, 0.0), seconds)
    return out

def pss_kb(pid):
    """(Pss, Pss_Anon) of one process in kB: all its memory, and the part that is not file pages."""
    pss = anon = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Pss_Anon:"):
                    anon = int(line.split()[1])
    except OSError:
        pass
    return pss, anon

def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])

out, cmd = sys.argv[1], sys.argv[2:]
load_before = loadavg()
t0 = time.monotonic()
proc = subprocess.Popen(cmd)
peak_kb = peak_anon_kb = peak_procs = samples = 0
status = None
while True:
    pid, status = os.waitpid(proc.pid, os.WNOHANG)
    if pid:
        break
    pids = tree(proc.pid)
    sizes = [pss_kb(p) for p in pids]
    total, anon = sum(s[0] for s in sizes), sum(s[1] for s in sizes)
    samples += 1
    peak_anon_kb = max(peak_anon_kb, anon)
    if total > peak_kb:
        peak_kb, peak_procs = total, len(pids)
    time.sleep(0.2)
wall = time.monotonic() - t0
proc.returncode = os.waitstatus_to_exitcode(status)
with open(out, "w") as f:
    json.dump({"wall_s": round(wall, 2), "peak_pss_mb": round(peak_kb / 1024, 1),
               "peak_pss_anon_mb": round(peak_anon_kb / 1024, 1), "procs_at_peak": peak_procs,
               "cpu_s": round(sum(cpu_seen.values()), 1), "samples": samples,
               "load_before": load_before, "load_after": loadavg(), "exit_code": proc.returncode}, f)
sys.exit(proc.returncode)
EOF

write_probe() {  # a correct submission whose sequence_length reports what the sandbox lets it see
  cp "$REPO/examples/submissions/bob_correct_unfold.py" "$1/probe.py"
  cat >> "$1/probe.py" <<'EOF'


def sequence_length(h, w, p):
    """PROBE: instead of answering, look at the grader's files from inside the sandbox and raise
    what was seen, so that it shows in the test's output in results.json."""
    import os
    seen = [f"uid={os.getuid()}"]

    def look(path):
        try:
            if os.path.isdir(path):
                seen.append(f"{path}: LIST {sorted(os.listdir(path))[:14]}")
            else:
                with open(path, "rb") as fh:
                    seen.append(f"{path}: READ {fh.read(40)!r}")
        except Exception as exc:
            seen.append(f"{path}: {type(exc).__name__}")

    for path in ["/", "/autograder", "/autograder/source", "/autograder/source/otter_config.json",
                 "/autograder/source/autograder/dit/generated/reference.py", "/autograder/results",
                 "/autograder/submission", "/opt", "/opt/ditgrade-venv", "/opt/ditgrade-venv/pyvenv.cfg",
                 "/root", "/tmp", "/etc/shadow"]:
        look(path)
    report = "PROBE " + " | ".join(seen)
    print(report, flush=True)
    raise RuntimeError(report)
EOF
}

# Gradescope's default container: 0.5 CPU, 768 MB. cgroup v1 (cpu + memory hierarchies) or v2.
CG_V1_MEM_PARENT="/sys/fs/cgroup/memory$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup 2>/dev/null | sed 's#^/$##')"
setup_cgroup() {
  if [ -d /sys/fs/cgroup/cpu ] && [ -d "$CG_V1_MEM_PARENT" ]; then  # cgroup v1
    local cpu=/sys/fs/cgroup/cpu/$CG_NAME mem=$CG_V1_MEM_PARENT/$CG_NAME
    mkdir -p "$cpu" "$mem" || return 1
    CG_DIRS+=("$cpu" "$mem")
    echo 100000 > "$cpu/cpu.cfs_period_us" && echo 50000 > "$cpu/cpu.cfs_quota_us" \
      && echo $((768 << 20)) > "$mem/memory.limit_in_bytes" || return 1
    CG_PROCS=("$cpu/cgroup.procs" "$mem/cgroup.procs")
    CG_PEAK="$mem/memory.max_usage_in_bytes"
  elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then  # cgroup v2
    local cg=/sys/fs/cgroup/$CG_NAME
    mkdir -p "$cg" || return 1
    CG_DIRS+=("$cg")
    echo "50000 100000" > "$cg/cpu.max" && echo $((768 << 20)) > "$cg/memory.max" || return 1
    CG_PROCS=("$cg/cgroup.procs")
    CG_PEAK="$cg/memory.peak"
  else
    return 1
  fi
}

GS_NOTE=""
grade() {  # grade NAME: the submission in $R/autograder/submission is already in place
  local name="$1" wrap=()
  rm -rf "$R/autograder/results"
  mkdir -p "$OUT/$name"
  if [[ "$name" == *_gs ]]; then
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    if [ "${#CG_PROCS[@]}" -gt 0 ] || setup_cgroup; then
      GS_NOTE="taskset -c 0, CPU quota 50000/100000 us, memory limit 768 MB (${CG_PROCS[*]%/cgroup.procs}), page cache dropped first"
      wrap=(bash -c 'for f in '"${CG_PROCS[*]}"'; do echo $$ > "$f"; done; exec taskset -c 0 "$@"' cg)
    else
      GS_NOTE="taskset -c 0 only (no writable cgroup for the 0.5 CPU / 768 MB limits)"
      wrap=(taskset -c 0)
    fi
  fi
  log "grading $name"
  # as Gradescope does: as root, working directory /autograder
  python3 "$WORK/measure.py" "$OUT/$name/measure.json" "${wrap[@]}" chroot "$R" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    bash -c 'cd /autograder && /autograder/run_autograder' > "$OUT/$name/stdout.txt" 2>&1 &
  wait $! || true  # (interruptible: see setup.sh's run above)
  cp "$R/autograder/results/results.json" "$OUT/$name/results.json" 2>/dev/null || echo '{}' > "$OUT/$name/results.json"
  cp "$R/autograder/results/grader_log.txt" "$OUT/$name/grader_log.txt" 2>/dev/null || true
  if [[ "$name" == *_gs ]] && [ -n "$CG_PEAK" ] && [ -f "$CG_PEAK" ]; then
    echo "$(( $(cat "$CG_PEAK") >> 20 ))" > "$OUT/$name/cgroup_peak_mb.txt"
    [ -f "${CG_PEAK%/*}/memory.failcnt" ] && cat "${CG_PEAK%/*}/memory.failcnt" > "$OUT/$name/cgroup_failcnt.txt"
    echo 0 > "$CG_PEAK" 2>/dev/null || true  # v1: reset the peak for the next run in this cgroup
  fi
}

IFS=, read -r -a NAMES <<< "$ONLY"
SUBS="$REPO/examples/submissions"
for name in "${NAMES[@]}"; do
  rm -rf "$R/autograder/submission"
  mkdir -p "$R/autograder/submission"
  case "$name" in
    carol|carol_gs) cp "$SUBS/carol_correct.ipynb" "$R/autograder/submission/dit_assignment.ipynb" ;;
    dave) cp "$SUBS/dave_bug_q1_token_order.py" "$R/autograder/submission/" ;;
    mallory|mallory_gs) cp "$SUBS/mallory_hostile.py" "$R/autograder/submission/" ;;
    empty) ;;
    probe) write_probe "$R/autograder/submission" ;;
    *) fail "unknown submission $name" ;;
  esac
  grade "$name"
done

# ---------------------------------------------------------------------------------------------
# the checks, and summary.json for tests/test_clean_root.py and benchmarks/clean_root.md
# ---------------------------------------------------------------------------------------------
export ZIP_SHA OUT SUITE BASE_PY ROOT_PY TORCH_V SETUP_S VENV_KB ROOT_KB_BASE ROOT_KB_IMAGE APT_LISTS_LEFT PIP_CACHE_LEFT \
       VENV_UNREADABLE GS_NOTE ONLY ROOT_MOUNTPOINT
python3 - <<'EOF'
import json, os
from pathlib import Path

out = Path(os.environ["OUT"])
full = 46.0
summary = {
    "suite": os.environ["SUITE"], "zip_sha256": os.environ["ZIP_SHA"], "base_python": os.environ["BASE_PY"], "venv_python": os.environ["ROOT_PY"],
    "torch": os.environ["TORCH_V"], "setup_s": float(os.environ["SETUP_S"]),
    "venv_mb": round(int(os.environ["VENV_KB"]) / 1024), "root_mb_base": round(int(os.environ["ROOT_KB_BASE"]) / 1024),
    "root_mb_image": round(int(os.environ["ROOT_KB_IMAGE"]) / 1024),
    "apt_lists_left": int(os.environ["APT_LISTS_LEFT"]), "pip_cache_kb_left": int(os.environ["PIP_CACHE_LEFT"] or 0),
    "venv_files_not_world_readable": int(os.environ["VENV_UNREADABLE"]),
    "root_is_mountpoint": os.environ["ROOT_MOUNTPOINT"] == "1", "gradescope_limits": os.environ["GS_NOTE"],
    "submissions": {}, "failures": [],
}
fails = summary["failures"]

def check(ok, what):
    if not ok:
        fails.append(what)

check(summary["torch"].endswith("None") and "+cpu" in summary["torch"], f"torch is not the CPU build: {summary['torch']}")
check(summary["apt_lists_left"] == 0, "apt lists left in the image")
check(summary["pip_cache_kb_left"] == 0, "a pip cache left in the image")
check(summary["venv_files_not_world_readable"] == 0, "files in the venv other users cannot read")

for name in os.environ["ONLY"].split(","):
    d = out / name
    res = json.loads((d / "results.json").read_text() or "{}")
    meas = json.loads((d / "measure.json").read_text()) if (d / "measure.json").exists() else {}
    xd = res.get("extra_data", {}).get("ditgrade", {})
    qs = {q: v.get("score") for q, v in xd.get("questions", {}).items()}
    qmax = {q: v.get("max_score") for q, v in xd.get("questions", {}).items()}
    entry = {"score": res.get("score"), "questions": qs, "output": res.get("output", ""), **meas,
             "protections": xd.get("sandbox", {}).get("protections"), "grader_error": xd.get("grader_error")}
    if (d / "cgroup_peak_mb.txt").exists():
        entry["cgroup_peak_mb"] = int((d / "cgroup_peak_mb.txt").read_text())
    if (d / "cgroup_failcnt.txt").exists():
        entry["cgroup_failcnt"] = int((d / "cgroup_failcnt.txt").read_text())
    if name == "probe":
        entry["probe_saw"] = next((t.get("output", "") for t in res.get("tests", []) if "PROBE" in t.get("output", "")), "")
    summary["submissions"][name] = entry
    score = res.get("score")
    check(score is not None, f"{name}: no score in results.json")
    if score is None:
        continue
    check(not entry["grader_error"], f"{name}: grader error {entry['grader_error']}")
    if name in ("carol", "carol_gs"):
        check(score == full, f"{name}: score {score}, expected {full}")
    elif name == "dave":
        lost = [q for q in qs if qs[q] < qmax[q]]
        check(score < full and lost == ["q1"], f"dave: score {score}, points lost in {lost} (expected q1 only)")
    elif name in ("mallory", "mallory_gs"):
        check(score < 0.75 * full and res.get("tests"), f"{name}: score {score}, expected well below {full}")
    elif name == "empty":
        check(score == 0 and res.get("output"), f"empty: score {score}, output {res.get('output')!r}")
    elif name == "probe":
        saw = entry["probe_saw"]
        check(bool(saw), "probe: its report is not in results.json")
        for secret in ("/autograder/source/otter_config.json", "/autograder/source/autograder/dit/generated/reference.py",
                       "/autograder/results", "/etc/shadow"):
            check(f"{secret}: READ" not in saw and f"{secret}: LIST" not in saw, f"probe: the sandbox let it see {secret}")
    if name != "empty":
        prot = entry["protections"] or {}
        for key in ("pid_namespace", "network_namespace", "uid_drop", "no_new_privs", "mount_isolation", "private_tmp"):
            check(prot.get(key) is True, f"{name}: protection {key} is {prot.get(key)!r}")

(out / "summary.json").write_text(json.dumps(summary, indent=1))
print(f"\n{summary['suite']}: base {summary['base_python']}, venv {summary['venv_python']}, torch {summary['torch']}")
print(f"setup.sh {summary['setup_s']} s; venv {summary['venv_mb']} MB; root {summary['root_mb_base']} -> {summary['root_mb_image']} MB")
for name, e in summary["submissions"].items():
    print(f"  {name:10s} score {e.get('score')!s:7.7s} wall {e.get('wall_s')} s  peak PSS {e.get('peak_pss_mb')} MB"
          f" (anon {e.get('peak_pss_anon_mb')} MB)" + (f"  cgroup peak {e['cgroup_peak_mb']} MB, failcnt {e.get('cgroup_failcnt')}"
                                                    if "cgroup_peak_mb" in e else ""))
if "probe" in summary["submissions"]:
    print("  probe saw:", summary["submissions"]["probe"]["probe_saw"][:1500])
print("checks:", "all passed" if not fails else "\n  FAILED " + "\n  FAILED ".join(fails))
raise SystemExit(1 if fails else 0)
EOF
