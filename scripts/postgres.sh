#!/usr/bin/env bash
# A private PostgreSQL server on 127.0.0.1 for the request-queue tests: Debian's server binaries, one cluster under a
# folder of its own, password (SCRAM) logins over TCP only. Tuned for tests (fsync off): not for data you keep.
# usage: postgres.sh install        install the packages that are missing (root or sudo)
#        postgres.sh up DIR         install, then start a cluster; DIR/url holds its superuser URL (with password)
# EOFORGE_PG_POSTGIS=1 adds PostGIS (Debian's postgresql-N-postgis-3), which pgstac (a STAC API's store) needs.
#        postgres.sh down DIR       stop the cluster `up DIR` started and remove its data
# EOFORGE_PG_PASSWORD sets the superuser's password (default: random).
set -euo pipefail
cmd=${1:?usage: postgres.sh install | up DIR | down DIR}

install() {
  # Debian's package starts a system cluster on port 5432; ours is separate and that one is left as it is.
  "$(dirname "$0")/apt-install.sh" postgresql postgresql-client
  if [ "${EOFORGE_PG_POSTGIS:-0}" = 1 ]; then
    # PostGIS for the server version just installed.
    local major
    major=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
    "$(dirname "$0")/apt-install.sh" "postgresql-${major:?cannot tell the PostgreSQL version}-postgis-3"
  fi
}

# The newest server binaries Debian installed.
bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$dir/pg_ctl" ] || { echo "error: no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 1; }
  echo "$dir"
}

# as_owner COMMAND...: runs COMMAND as the cluster's owner (`postgres` when we are root: the server refuses root).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

up() {
  local dir=$1 bin data port password
  install
  bin=$(bindir)
  mkdir -p "$dir"
  # The data folder must belong to the server's user and be reachable by it: a folder of its own under /tmp (DIR
  # may lie inside one only root can enter, as `mktemp -d` makes them), named in DIR/data.
  data=$(mktemp -d "${TMPDIR:-/tmp}/eoforge-pg.XXXXXX")
  chmod 700 "$data"
  [ "$(id -u)" -ne 0 ] || chown postgres:postgres "$data"
  echo "$data" > "$dir/data"
  password=${EOFORGE_PG_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
  # The password reaches initdb through a file only the owner can read, never the command line.
  as_owner bash -c "umask 077; cat > '$data/.pw'" <<< "$password"
  as_owner "$bin/initdb" -D "$data/db" -U postgres --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
    --pwfile="$data/.pw" -E UTF8 >> "$dir/initdb.log" 2>&1 || {
    echo "error: initdb failed; last lines of $dir/initdb.log:" >&2; tail -n 20 "$dir/initdb.log" >&2; exit 1; }
  rm -f "$data/.pw"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200" \
    start >> "$dir/start.log" 2>&1 || {
    echo "error: the PostgreSQL server did not come up; last lines of its log:" >&2
    tail -n 20 "$data/server.log" >&2 2>/dev/null || cat "$dir/start.log" >&2; exit 1; }
  echo "$port" > "$dir/port"
  (umask 077; echo "postgres://postgres:$password@127.0.0.1:$port/postgres" > "$dir/url")
  echo "PostgreSQL on 127.0.0.1:$port (data in $data)" >&2
}

down() {
  local dir=$1 bin data
  [ -f "$dir/data" ] || return 0
  data=$(cat "$dir/data")
  bin=$(bindir)
  [ -d "$data/db" ] && as_owner "$bin/pg_ctl" -D "$data/db" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$data" "$dir/data"
}

case $cmd in
  install) install ;;
  up) up "${2:?usage: postgres.sh up DIR}" ;;
  down) down "${2:?usage: postgres.sh down DIR}" ;;
  *) echo "usage: postgres.sh install | up DIR | down DIR" >&2; exit 2 ;;
esac
