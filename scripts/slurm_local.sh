#!/usr/bin/env bash
# A single-node, CPU-only Slurm on this machine, for testing `ditgrade grade --executor slurm`.
#
#   scripts/slurm_local.sh start    # install slurm-wlm if missing (root), start slurmctld + slurmd, wait for the node
#   scripts/slurm_local.sh status   # exit 0 when the node is up, 3 when Slurm is not running
#   scripts/slurm_local.sh env      # the export lines a caller needs:  eval "$(scripts/slurm_local.sh env)"
#   scripts/slurm_local.sh stop     # cancel jobs, stop the daemons, remove the folder
#
# No systemd, no munge (auth/none: fine on one machine, never on a shared one), no slurmdbd (so no sacct).
# Everything (slurm.conf, state, logs, pid files) lives in one folder. Settings (environment):
#   DITGRADE_SLURM_DIR        the folder                                        (/tmp/ditgrade-slurm)
#   DITGRADE_SLURM_PORT       slurmctld's port; slurmd uses the next one        (6817)
#   DITGRADE_SLURM_PARTITION  the one partition's name                          (debug)
#   DITGRADE_SLURM_TIMEOUT    seconds to wait for the node to be idle           (60)
#   DITGRADE_SLURM_CPUS       advertise this many CPUs instead of `slurmd -C`'s (to run more tasks at once)
#   DITGRADE_SLURM_GPUS       advertise this many fake GPUs (gres, no devices), so --gpus-per-node=N is accepted
#   DITGRADE_SLURM_SCHED      SchedulerParameters                               (batch_sched_delay=0)
# On failure it exits non-zero with one line on stderr: "slurm_local: <why>".
set -euo pipefail

DIR="${DITGRADE_SLURM_DIR:-/tmp/ditgrade-slurm}"
PORT="${DITGRADE_SLURM_PORT:-6817}"
PART="${DITGRADE_SLURM_PARTITION:-debug}"
TIMEOUT="${DITGRADE_SLURM_TIMEOUT:-60}"
CONF="$DIR/slurm.conf"
MARK="# written by ditgrade scripts/slurm_local.sh"
NODE="$(hostname -s)"
export SLURM_CONF="$CONF" PATH="$PATH:/usr/sbin:/sbin"
for v in "$PORT" "$TIMEOUT" "${DITGRADE_SLURM_CPUS:-1}" "${DITGRADE_SLURM_GPUS:-0}"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "slurm_local: not a number: '$v' (DITGRADE_SLURM_PORT/TIMEOUT/CPUS/GPUS)" >&2; exit 1; }
done

die() { echo "slurm_local: $*" >&2; exit 1; }
fail() { kill_pid slurmd; kill_pid slurmctld; die "$@"; }  # a failed start leaves no daemon behind (logs stay)
trap 'die "unexpected failure at line $LINENO: $BASH_COMMAND"' ERR
pid_of() { cat "$DIR/run/$1.pid" 2>/dev/null || true; }
alive() {  # alive NAME: the daemon named in its pid file is running (and is not a zombie)
  local p; p="$(pid_of "$1")"
  [[ -n "$p" && "$(cat "/proc/$p/comm" 2>/dev/null)" == "$1" && "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != Z ]]
}
node_state() { sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1; }  # idle, mixed, allocated, down*, drained, ...
ours() { grep -qsxF "$MARK" "$CONF" || [[ -z "$(ls -A "$DIR" 2>/dev/null | grep -v '^apt.log$' || true)" ]]; }
last_log() { tail -n 1 "$DIR/log/$1.log" 2>/dev/null | cut -c1-200; }

install_slurm() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && return
  [[ $EUID -eq 0 ]] || die "slurm-wlm is not installed and this is not root (apt-get install slurm-wlm)"
  command -v apt-get >/dev/null || die "slurm-wlm is not installed and there is no apt-get"
  mkdir -p "$DIR"
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm; } >"$DIR/apt.log" 2>&1 \
    || die "apt-get install slurm-wlm failed (see $DIR/apt.log)"
}

write_conf() {
  # Hardware as slurmd sees it, e.g. "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"
  local hw cpus mem extra=""
  hw="$(slurmd -C 2>/dev/null | head -n1 | sed 's/^NodeName=[^ ]* //')"
  [[ "$hw" == *CPUs=* && "$hw" == *RealMemory=* ]] || die "slurmd -C did not report CPUs/RealMemory"
  cpus="$(sed 's/.*CPUs=\([0-9]*\).*/\1/' <<<"$hw")"; mem="$(sed 's/.*RealMemory=\([0-9]*\).*/\1/' <<<"$hw")"
  if [[ -n "${DITGRADE_SLURM_CPUS:-}" ]]; then  # more CPUs than the machine has: slurmd must not drain the node for it
    cpus="$DITGRADE_SLURM_CPUS"; hw="CPUs=$cpus RealMemory=$mem"; extra="SlurmdParameters=config_overrides"
  fi
  mkdir -p "$DIR"/{state/ctld,state/d,log,run}
  echo "$MARK" >"$CONF"   # the folder is ours from now on (stop may remove it)
  local gres=""
  if [[ "${DITGRADE_SLURM_GPUS:-0}" -gt 0 ]]; then
    gres="Gres=gpu:$DITGRADE_SLURM_GPUS"   # plain files stand in for /dev/nvidiaN: slurmd only counts them
    for i in $(seq 0 $((DITGRADE_SLURM_GPUS - 1))); do : >"$DIR/fakegpu$i"; done
    echo "NodeName=$NODE Name=gpu File=$DIR/fakegpu[0-$((DITGRADE_SLURM_GPUS - 1))]" >"$DIR/gres.conf"
  fi
  cat >"$CONF" <<EOF
$MARK
ClusterName=ditgrade
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
# Slurm's default batch_sched_delay=3 starts queued batch jobs/array tasks on a ~3 s beat; 0 makes tests quicker.
SchedulerParameters=${DITGRADE_SLURM_SCHED:-batch_sched_delay=0}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job asking no memory would get the whole node and array tasks would run one at a time.
DefMemPerCPU=$((mem / cpus))
ReturnToService=2
# Jobs stay visible in squeue/scontrol this long after they end: with no slurmdbd that is the only state source.
MinJobAge=3600
KillWait=5
SlurmdTimeout=30
JobRequeue=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
StateSaveLocation=$DIR/state/ctld
SlurmdSpoolDir=$DIR/state/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
${gres:+GresTypes=gpu}
$extra
NodeName=$NODE NodeAddr=127.0.0.1 $hw $gres State=UNKNOWN
PartitionName=$PART Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

wait_idle() {  # until sinfo shows the node idle (or busy with jobs), else die with the state and the daemons' last words
  local t=0 s resumed=""
  while :; do
    s="$(node_state)"
    case "$s" in
      idle|mixed|allocated|completing) return 0 ;;
      down|drained|draining|drain)  # registered but held down (e.g. left so by a killed slurmd): put it back once
        [[ -z "$resumed" ]] && scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true; resumed=1 ;;
    esac
    alive slurmctld || fail "slurmctld exited: $(last_log slurmctld)"
    alive slurmd || fail "slurmd exited: $(last_log slurmd)"
    (( t >= TIMEOUT * 2 )) && fail "node $NODE not idle after ${TIMEOUT}s (state '${s:-none}', reason '$(sinfo -h -N -n "$NODE" -o %E 2>/dev/null)'; logs in $DIR/log)"
    sleep 0.5; t=$((t + 1))
  done
}

kill_pid() {  # kill_pid NAME: TERM, then KILL after 10 s
  local p i; p="$(pid_of "$1")"
  alive "$1" || return 0
  kill "$p" 2>/dev/null || true
  for i in $(seq 20); do alive "$1" || return 0; sleep 0.5; done
  kill -9 "$p" 2>/dev/null || true
}

start() {
  if alive slurmctld && alive slurmd; then wait_idle; echo "slurm_local: already running ($NODE $(node_state), SLURM_CONF=$CONF)"; return; fi
  ours || die "$DIR exists and is not ours (no $CONF written by this script); set DITGRADE_SLURM_DIR"
  if alive slurmctld || alive slurmd; then   # one daemon died (e.g. a killed slurmd): restart it, keep jobs and state
    echo "slurm_local: restarting the missing daemon" >&2
  else                                       # nothing running: start from scratch
    ( stop ) >/dev/null 2>&1 || true
    for p in "$PORT" $((PORT + 1)); do  # another Slurm there would answer our sinfo and fool the wait below
      ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || die "port $p is in use (another Slurm?); set DITGRADE_SLURM_PORT"
    done
    install_slurm
    write_conf
  fi
  alive slurmctld || slurmctld -f "$CONF" >>"$DIR/log/slurmctld.log" 2>&1 || fail "slurmctld failed to start: $(last_log slurmctld)"
  alive slurmd || slurmd -f "$CONF" -N "$NODE" >>"$DIR/log/slurmd.log" 2>&1 || fail "slurmd failed to start: $(last_log slurmd)"
  sleep 0.5
  wait_idle
  echo "slurm_local: up ($NODE $(node_state), $(sinfo -h -N -n "$NODE" -o '%c CPUs %m MB'), partition $PART, SLURM_CONF=$CONF)"
}

stop() {
  if [[ -f "$CONF" ]] && alive slurmctld; then   # cancel every job first, so no job step outlives its daemons
    scancel --partition="$PART" >/dev/null 2>&1 || true
    for _ in $(seq 20); do [[ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ]] && break; sleep 0.5; done
  fi
  kill_pid slurmd
  kill_pid slurmctld
  # Remove the folder only if it is ours (never rm -rf a folder someone pointed us at by mistake).
  if [[ -d "$DIR" ]]; then ours && rm -rf "$DIR" || die "$DIR has no $CONF of ours; not removing it"; fi
  echo "slurm_local: stopped"
}

status() {
  if ! alive slurmctld || ! alive slurmd; then echo "slurm_local: not running (DITGRADE_SLURM_DIR=$DIR)"; return 3; fi
  echo "slurm_local: running, SLURM_CONF=$CONF"
  sinfo -N -o '%N %P %T %c %m %G %E'
  squeue -o '%i %T %j %M %R' | head -n 20
  case "$(node_state)" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status || exit $? ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
