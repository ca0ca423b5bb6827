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
  local packages=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server) missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { echo "error: missing packages ${missing[*]} and no apt-get" >&2; exit 1; }
  echo "installing system packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
  local what=$1 tries=$(($2 * 5))
  shift 2
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "error: $what did not come up (logs under $base/log)" >&2
  exit 1
}

up() {
  install
  [ -z "$sudo" ] || { echo "error: starting the daemons needs root" >&2; exit 1; }
  mkdir -p "$base"/{state,spool,log,mysql/data}
  chown -R slurm:slurm "$base/state" "$base/spool" "$base/log"
  chmod 755 "$base" "$base/log"
  # munge: the package's postinst made /etc/munge/munge.key.
  mkdir -p /run/munge && chown munge:munge /run/munge
  if ! pgrep -u munge -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
    cp /run/munge/munged.pid "$base/munged.pid" 2>/dev/null || pgrep -u munge -x munged > "$base/munged.pid"
  fi
  # A private MariaDB for slurmdbd.
  chown -R mysql:mysql "$base/mysql"
  [ -d "$base/mysql/data/mysql" ] || mariadb-install-db --user=mysql --datadir="$base/mysql/data" \
    --auth-root-authentication-method=socket --skip-test-db > "$base/log/mariadb-install.log" 2>&1
  /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$base/mysql/data" --socket="$base/mysql/mysqld.sock" \
    --pid-file="$base/mysql/mysqld.pid" --bind-address=127.0.0.1 --port=3306 --log-error="$base/log/mariadb.err" \
    > /dev/null 2>&1 &
  wait_for MariaDB 30 mariadb --socket="$base/mysql/mysqld.sock" -uroot -e 'select 1'
  mariadb --socket="$base/mysql/mysqld.sock" -uroot -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY \
'slurmdb'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
  local cpus
  cpus=$(nproc)
  cat > "$base/slurm.conf" <<EOF
ClusterName=eoforge
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool
SlurmctldPidFile=$base/slurmctld.pid
SlurmdPidFile=$base/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
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
  cat > "$base/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
LogFile=$base/log/slurmdbd.log
PidFile=$base/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurmdb
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm "$base/slurmdbd.conf"
  chmod 600 "$base/slurmdbd.conf" # slurmdbd refuses a readable one
  export SLURM_CONF=$base/slurm.conf # slurmdbd finds slurmdbd.conf beside it
  /usr/sbin/slurmdbd
  wait_for slurmdbd 30 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819'
  sacctmgr -i add cluster eoforge > /dev/null 2>&1 || true
  /usr/sbin/slurmctld
  /usr/sbin/slurmd -N localhost
  wait_for "the SLURM node" 60 bash -c '[ "$(sinfo -h -o %T)" = idle ]'
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
  stop "$base/slurmd.pid" "$base/slurmctld.pid"
  stop "$base/slurmdbd.pid"
  stop "$base/mysql/mysqld.pid"
  stop "$base/munged.pid" # only when `up` started munged
}

case "$cmd" in
  install) install ;;
  up) base=$(mkdir -p "${2:?usage: slurm.sh up DIR}" && cd "$2" && pwd); up ;;
  down) base=${2:?usage: slurm.sh down DIR}; down ;;
  *) echo "usage: slurm.sh install | up DIR | down DIR" >&2; exit 2 ;;
esac
