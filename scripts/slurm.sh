#!/usr/bin/env bash
# A real single-node SLURM cluster on 127.0.0.1 for the scale-out tests: Debian's slurm-wlm daemons (slurmctld,
# slurmd), munge, and slurmdbd on a private MariaDB so that `sacct` answers. No systemd; every daemon writes a pid
# file under DIR and `down` stops them by pid.
# usage: slurm.sh install        install the packages that are missing (root or sudo)
#        slurm.sh up DIR         install, then start the cluster with its config, state, logs and pids under DIR
#        slurm.sh down DIR       stop every daemon `up DIR` started
# After `up`, SLURM_CONF=DIR/slurm.conf points the client commands (sbatch, squeue, sacct) at the cluster.
set -euo pipefail
cmd=${1:?usage: slurm.sh install | up DIR | down DIR}

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

install() {
  "$(dirname "$0")/apt-install.sh" slurmctld slurmd slurm-client slurmdbd munge mariadb-server
}

# fail WHAT LOG: says which daemon did not come up, with the last lines of its log, and exits 1.
fail() {
  echo "error: $1 did not come up; last lines of $2:" >&2
  tail -n 20 "$2" >&2 2>/dev/null || echo "  (no log written)" >&2
  exit 1
}

# start WHAT LOG COMMAND...: runs a daemon's start command; a failure names the daemon and shows its log.
start() {
  local what=$1 log=$2
  shift 2
  "$@" >> "$run/log/start.log" 2>&1 || { cat "$run/log/start.log" >> "$log" 2>/dev/null; fail "$what" "$log"; }
}

# wait_for WHAT LOG SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds, else fails naming WHAT.
wait_for() {
  local what=$1 log=$2 tries=$(($3 * 5))
  shift 3
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what" "$log"
}

# The folder the daemons' state, logs, pids and database live in: DIR itself when the daemons' own users (slurm,
# mysql) can reach it, else (DIR inside a folder only root may enter, as `mktemp -d` makes) a private folder under
# /var/lib, named in DIR/daemons and linked from DIR/log and DIR/slurm.conf.
daemon_dir() {
  if runuser -u nobody -- test -x "$base" 2>/dev/null; then
    echo "$base"
  else
    local d
    d=$(mktemp -d /var/lib/eoforge-slurm.XXXXXX)
    chmod 755 "$d"
    echo "$d"
  fi
}

up() {
  install
  [ -z "$sudo" ] || { echo "error: starting the daemons needs root" >&2; exit 1; }
  chmod 755 "$base"
  run=$(cat "$base/daemons" 2>/dev/null || daemon_dir)
  echo "$run" > "$base/daemons"
  mkdir -p "$run"/{state,spool,log,mysql/data}
  chown -R slurm:slurm "$run/state" "$run/spool" "$run/log"
  chmod 755 "$run/log"
  if [ "$run" != "$base" ] && [ ! -d "$base/log" ]; then ln -sfn "$run/log" "$base/log"; fi
  # munge: the package's postinst made /etc/munge/munge.key. Its origin is 127.0.0.1, so a host name that
  # /etc/hosts does not list ("Failed to lookup origin") does not matter.
  mkdir -p /run/munge /var/log/munge && chown munge:munge /run/munge /var/log/munge
  if ! pgrep -u munge -x munged >/dev/null; then
    local origin=()
    /usr/sbin/munged --help 2>&1 | grep -q -- '--origin' && origin=(--origin=127.0.0.1)
    start munged /var/log/munge/munged.log runuser -u munge -- /usr/sbin/munged "${origin[@]}"
    wait_for munged /var/log/munge/munged.log 10 munge -n
    cp /run/munge/munged.pid "$run/munged.pid" 2>/dev/null || pgrep -u munge -x munged > "$run/munged.pid"
  fi
  # A private MariaDB for slurmdbd.
  chown -R mysql:mysql "$run/mysql"
  if [ ! -d "$run/mysql/data/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$run/mysql/data" --auth-root-authentication-method=socket \
      --skip-test-db > "$run/log/mariadb-install.log" 2>&1 || fail "MariaDB (install)" "$run/log/mariadb-install.log"
  fi
  /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$run/mysql/data" --socket="$run/mysql/mysqld.sock" \
    --pid-file="$run/mysql/mysqld.pid" --bind-address=127.0.0.1 --port=3306 --log-error="$run/log/mariadb.err" \
    > /dev/null 2>&1 &
  wait_for MariaDB "$run/log/mariadb.err" 30 mariadb --socket="$run/mysql/mysqld.sock" -uroot -e 'select 1'
  mariadb --socket="$run/mysql/mysqld.sock" -uroot -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY \
'slurmdb'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
  local cpus
  cpus=$(nproc)
  cat > "$run/slurm.conf" <<EOF
ClusterName=eoforge
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$run/state
SlurmdSpoolDir=$run/spool
SlurmctldPidFile=$run/slurmctld.pid
SlurmdPidFile=$run/slurmd.pid
SlurmctldLogFile=$run/log/slurmctld.log
SlurmdLogFile=$run/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  cat > "$run/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
LogFile=$run/log/slurmdbd.log
PidFile=$run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurmdb
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm "$run/slurmdbd.conf"
  chmod 600 "$run/slurmdbd.conf" # slurmdbd refuses a readable one
  if [ "$run" != "$base" ]; then ln -sfn "$run/slurm.conf" "$base/slurm.conf"; fi
  export SLURM_CONF=$run/slurm.conf # slurmdbd finds slurmdbd.conf beside it
  start slurmdbd "$run/log/slurmdbd.log" /usr/sbin/slurmdbd
  wait_for slurmdbd "$run/log/slurmdbd.log" 30 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819'
  sacctmgr -i add cluster eoforge > /dev/null 2>&1 || true
  start slurmctld "$run/log/slurmctld.log" /usr/sbin/slurmctld
  start slurmd "$run/log/slurmd.log" /usr/sbin/slurmd -N localhost
  wait_for "the SLURM node (slurmctld, slurmd)" "$run/log/slurmctld.log" 60 \
    bash -c '[ "$(sinfo -h -o %T)" = idle ]'
}

# stop PIDFILE...: sends TERM to each running pid, then waits up to 30 s for them all to exit.
stop() {
  local pids=() f
  for f in "$@"; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "${pids[@]}" 2>/dev/null || return 0; sleep 0.2; done
  echo "warning: still running after 30 s: ${pids[*]}" >&2
}

down() {
  local run
  run=$(cat "$base/daemons" 2>/dev/null || echo "$base")
  stop "$run/slurmd.pid" "$run/slurmctld.pid"
  stop "$run/slurmdbd.pid"
  stop "$run/mysql/mysqld.pid"
  stop "$run/munged.pid" # only when `up` started munged
  if [ "$run" != "$base" ] && [[ "$run" == /var/lib/eoforge-slurm.* ]]; then rm -rf "$run" "$base/daemons"; fi
}

case "$cmd" in
  install) install ;;
  up) base=$(mkdir -p "${2:?usage: slurm.sh up DIR}" && cd "$2" && pwd); up ;;
  down) base=${2:?usage: slurm.sh down DIR}; down ;;
  *) echo "usage: slurm.sh install | up DIR | down DIR" >&2; exit 2 ;;
esac
