#!/usr/bin/env bash
# A one-node SLURM on this machine, from Debian's packages, for the cluster test.
#
#   tests/slurm/cluster.sh up      start munged, slurmctld and slurmd; wait for the node
#   tests/slurm/cluster.sh down    cancel every job, stop the three daemons, wait for them
#   tests/slurm/cluster.sh status  exit 0 when the cluster answers and its node is usable
#
# Packages: slurmctld slurmd slurm-client munge (Debian 12 ships SLURM 22.05). No systemd:
# the daemons are started directly, as root, and what they write (munge key and socket,
# state, logs, pid files) stays in one private folder, $KETAMETA_SLURM_DIR (default
# /tmp/ketameta-slurm). The configuration is written where SLURM's commands look for it,
# /etc/slurm/slurm.conf, because the executor runs `srun` inside each job with SLURM_CONF
# removed from its environment. A slurm.conf found there that this script did not write
# is never replaced (exit 77), and `down` removes the one it wrote.
#
# There is no accounting daemon, so `sacct` cannot answer; the Snakemake executor is told
# to ask `squeue` instead, which lists finished jobs for MinJobAge seconds.
#
# `up` is idempotent (a cluster that answers is left running) and starts from a clean
# state otherwise; `down` leaves no daemon behind. Exit status 77 means that SLURM cannot
# run here at all (not root, packages missing), with the reason on stderr; the test turns
# it into a skip. Any other failure prints the daemons' logs.
set -euo pipefail

dir="${KETAMETA_SLURM_DIR:-/tmp/ketameta-slurm}"
conf=/etc/slurm/slurm.conf
marker="# Written by tests/slurm/cluster.sh: a one-node cluster for the tests, nothing else."
node="$(hostname -s)"
ctld_port="${KETAMETA_SLURM_PORT:-6817}"
# Long enough that squeue still lists a finished job when the executor next asks, and
# when the test looks after the run (the executor falls back to sacct below three times
# its first status-check delay).
min_job_age=3600

say() { echo "tests/slurm/cluster.sh: $*" >&2; }

cannot() { # SLURM cannot run on this machine: exit 77 with the reason
  say "SLURM cannot run here: $*"
  exit 77
}

pid_of() { # the live pid recorded for a daemon, or nothing
  local file="$dir/run/$1.pid" pid
  [ -s "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

check_prerequisites() {
  [ "$(id -u)" -eq 0 ] || cannot "the daemons must run as root (uid $(id -u))"
  local missing=()
  for program in munged slurmctld slurmd sbatch srun squeue scontrol sinfo scancel; do
    command -v "$program" >/dev/null || missing+=("$program")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    cannot "not installed: ${missing[*]} (Debian packages slurmctld slurmd slurm-client munge)"
  fi
  if [ -e "$conf" ] && ! ours; then
    cannot "$conf belongs to another SLURM set-up; not replacing it"
  fi
}

ours() { # the slurm.conf in place was written by this script
  [ -f "$conf" ] && [ "$(head -n 1 "$conf")" = "$marker" ]
}

usable() { # the controller answers and the node accepts jobs
  ours || return 1
  [ -n "$(pid_of munged)" ] && [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of slurmd)" ] ||
    return 1
  scontrol ping >/dev/null 2>&1 || return 1
  local state
  state="$(sinfo --noheader --nodes="$node" --format=%T 2>/dev/null)" || return 1
  case "$state" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac
}

write_config() {
  # The node as slurmd sees it (CPUs, sockets, cores, threads, memory), under this name.
  local hardware
  hardware="$(slurmd -C | sed -n 's/^NodeName=[^ ]* //p')"
  [ -n "$hardware" ] || {
    say "slurmd -C did not describe this machine"
    return 1
  }
  mkdir -p "$(dirname "$conf")"
  cat >"$conf" <<CONF
$marker
ClusterName=ketameta-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state/slurmctld
SlurmdSpoolDir=$dir/state/slurmd
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups, no systemd: track a job's processes by their parent ids.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=$min_job_age
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
}

stop() { # stop one daemon by its pid file and wait for it to exit
  local name="$1" pid
  pid="$(pid_of "$name")"
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIGTERM; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$dir/run/$name.pid"
}

down() {
  if ours && [ -n "$(pid_of slurmctld)" ]; then
    # Cancel what is left and give the node a moment to end the jobs' processes.
    scancel --full --quiet --partition=debug 2>/dev/null || true
    for _ in $(seq 50); do
      [ -z "$(squeue --noheader --states=running,completing,pending 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  stop slurmd
  stop slurmctld
  stop munged
  local left=()
  for name in munged slurmctld slurmd; do
    [ -z "$(pid_of "$name")" ] || left+=("$name")
  done
  if [ "${#left[@]}" -gt 0 ]; then
    say "still running: ${left[*]}"
    return 1
  fi
  if ours; then rm -f "$conf"; fi
}

show_logs() {
  for log in "$dir"/log/*.log; do
    [ -f "$log" ] || continue
    echo "----- $log (last 30 lines)" >&2
    tail -n 30 "$log" >&2
  done
}

up() {
  check_prerequisites
  if usable; then
    say "already up ($conf)"
    return 0
  fi
  down || true
  rm -rf "$dir/state" "$dir/run" "$dir/munge"
  mkdir -p "$dir/log" "$dir/run" "$dir/state/slurmctld" "$dir/state/slurmd"
  # munged refuses a key or socket folder that others can write to.
  chmod 755 "$dir"
  install -d -m 700 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$dir/munge/munge.key"
  write_config

  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" || {
    say "munged did not start"
    show_logs
    return 1
  }
  slurmctld -c -i || {
    say "slurmctld did not start"
    show_logs
    return 1
  }
  slurmd || {
    say "slurmd did not start"
    show_logs
    return 1
  }
  local waited=0
  until usable; do
    if [ "$waited" -ge 120 ]; then
      say "the node did not become usable in 60 s"
      sinfo --long --Node >&2 || true
      show_logs
      down || true
      return 1
    fi
    # A node that registered before the controller was ready comes back this way.
    if [ $((waited % 10)) -eq 9 ]; then
      scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  say "up after $((waited / 2)) s: node $node, $(sinfo --noheader --format='%c CPUs, %m MB')"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) usable ;;
*)
  echo "usage: $0 up|down|status" >&2
  exit 2
  ;;
esac
