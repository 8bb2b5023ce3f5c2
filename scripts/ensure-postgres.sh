#!/usr/bin/env bash
# Makes a local PostgreSQL server usable for mvm's tests, idempotently, on Debian 12 as root.
# Works in a fresh container without systemd: installs the server if missing, creates a cluster
# if there is none, starts it, waits until it accepts connections, and creates the login role
# mvm/mvm (CREATEDB) that test/support/databases.ts connects as, by password over TCP and over the
# Unix socket (/var/run/postgresql: the mvm role alone logs in there by password, every other
# role keeps the cluster's peer rule).
#
# Environment: MVM_PG_WAIT_SECONDS (default 30) bounds the readiness wait.
set -euo pipefail

readonly ROLE_NAME=mvm
readonly ROLE_PASSWORD=mvm
readonly WAIT_SECONDS="${MVM_PG_WAIT_SECONDS:-30}"

log() { printf 'ensure-postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

server_installed() {
  command -v pg_lsclusters >/dev/null 2>&1 &&
    command -v pg_ctlcluster >/dev/null 2>&1 &&
    compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

install_server() {
  log "PostgreSQL server not found; installing it with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends postgresql
}

newest_server_version() {
  find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' |
    awk -F/ '{print $5}' | sort -n | tail -n 1
}

# Prints "version cluster port status" of the cluster to use: the one on port 5432 if any,
# otherwise the first one listed.
pick_cluster() {
  pg_lsclusters --no-header 2>/dev/null | awk '
    NF >= 4 {
      line = $1 " " $2 " " $3 " " $4
      if (first == "") first = line
      if ($3 == 5432 && chosen == "") chosen = line
    }
    END { if (chosen != "") print chosen; else if (first != "") print first }'
}

ensure_cluster() {
  if [[ -z "$(pick_cluster)" ]]; then
    local version
    version="$(newest_server_version)"
    [[ -n "$version" ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
    log "no cluster found; creating ${version}/main"
    pg_createcluster "$version" main >/dev/null
  fi
}

start_cluster() {
  local version=$1 name=$2 status=$3
  # The socket directory lives on tmpfs in containers and may be missing after a restart.
  install -d -m 2775 -o postgres -g postgres /var/run/postgresql
  if [[ "$status" == online* ]]; then
    log "cluster ${version}/${name} already running"
    return
  fi
  log "starting cluster ${version}/${name}"
  pg_ctlcluster "$version" "$name" start
}

wait_ready() {
  local port=$1 deadline=$((SECONDS + WAIT_SECONDS))
  until pg_isready -q -h 127.0.0.1 -p "$port"; do
    if ((SECONDS >= deadline)); then
      die "server on port ${port} not ready after ${WAIT_SECONDS}s; see /var/log/postgresql/"
    fi
    sleep 0.5
  done
}

psql_as_postgres() {
  local port=$1
  shift
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
}

ensure_role() {
  local port=$1 exists
  exists="$(psql_as_postgres "$port" -tA -c "SELECT 1 FROM pg_roles WHERE rolname = '${ROLE_NAME}'")"
  if [[ "$exists" == 1 ]]; then
    log "role ${ROLE_NAME} already exists"
  else
    log "creating role ${ROLE_NAME}"
    psql_as_postgres "$port" -c \
      "CREATE ROLE ${ROLE_NAME} WITH LOGIN CREATEDB PASSWORD '${ROLE_PASSWORD}'"
  fi
  # Tests drop their databases WITH (FORCE): that terminates the backends still in them, an
  # autovacuum worker included, which a plain role may not signal.
  psql_as_postgres "$port" -c "GRANT pg_signal_backend TO ${ROLE_NAME}"
}

# Lets the mvm role log in by password over the Unix socket (postgres://mvm:mvm@/postgres?
# host=/var/run/postgresql): a rule for it alone ahead of the cluster's `local all all peer`,
# which would match the OS user (root) against the role. Reloads the server when it adds it.
ensure_socket_login() {
  local port=$1 hba rule
  hba="$(psql_as_postgres "$port" -tA -c 'SHOW hba_file')"
  rule="local   all             ${ROLE_NAME}                                     scram-sha-256"
  if grep -Eq "^local[[:space:]]+all[[:space:]]+${ROLE_NAME}[[:space:]]" "$hba"; then
    log "socket login for ${ROLE_NAME} already allowed"
    return
  fi
  log "allowing ${ROLE_NAME} to log in by password over the Unix socket (${hba})"
  # Above the first `local` rule: the first rule that matches decides.
  awk -v rule="$rule" '!done && /^local[[:space:]]/ { print rule; done = 1 } { print }
    END { if (!done) print rule }' "$hba" >"${hba}.mvm-tmp"
  chown --reference="$hba" "${hba}.mvm-tmp"
  chmod --reference="$hba" "${hba}.mvm-tmp"
  mv "${hba}.mvm-tmp" "$hba"
  psql_as_postgres "$port" -c 'SELECT pg_reload_conf()' >/dev/null
}

main() {
  [[ "$(id -u)" == 0 ]] || die "run as root (it installs packages and starts the server)"
  server_installed || install_server
  ensure_cluster
  local version name port status
  read -r version name port status <<<"$(pick_cluster)"
  start_cluster "$version" "$name" "$status"
  wait_ready "$port"
  ensure_role "$port"
  ensure_socket_login "$port"
  log "ready: postgres://${ROLE_NAME}:${ROLE_PASSWORD}@127.0.0.1:${port}/postgres"
  log "ready: postgres://${ROLE_NAME}:${ROLE_PASSWORD}@/postgres?host=/var/run/postgresql"
}

main "$@"
