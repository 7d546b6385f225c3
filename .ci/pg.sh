#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the pg state backend.
#
#   .ci/pg.sh start        creates and starts a cluster; prints its directory, whose `env`
#                          file exports TOKENFORM_TEST_PG_* for the tests
#   .ci/pg.sh stop DIR     stops it and removes DIR
#
# The cluster listens on 127.0.0.1 only, on a free port, with TLS (a CA and a server
# certificate made here, so sslmode=require and verify-full are both exercised) and
# password (SCRAM) authentication over TCP. As root, the server runs as the `postgres`
# user through setpriv. When pgbouncer is installed, a transaction-pooling pgbouncer is
# started in front of it too (TOKENFORM_TEST_PGBOUNCER_URL), for the test that such a
# proxy is refused. fsync is off (tests need no durability) unless TOKENFORM_PG_FSYNC=on
# (the benchmarks).
set -euo pipefail

bindir="$(pg_config --bindir)"

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=postgres --regid=postgres --init-groups "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  # Under /tmp, not a 0700 parent of ours: the postgres user must reach it.
  local d port pw
  d="$(mktemp -d /tmp/tokenform-pg.XXXXXX)"
  chmod 0755 "$d"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$d"
  port="$(free_port)"
  pw="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"

  # A CA and a server certificate for 127.0.0.1 / localhost, valid for a day.
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=tokenform test CA" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 1 -extfile "$d/san.ext" -out "$d/server.crt" 2>/dev/null
  # Another CA, which signed nothing the server presents (verify-full must refuse it).
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=unrelated CA" \
    -keyout "$d/other-ca.key" -out "$d/other-ca.crt" 2>/dev/null
  chmod 0600 "$d/server.key"
  chmod 0644 "$d"/*.crt
  printf '%s\n' "$pw" >"$d/pwfile"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$d"/server.* "$d/pwfile"

  as_pg "$bindir/initdb" -D "$d/data" -U tokenform --pwfile="$d/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$d/initdb.log" 2>&1
  as_pg "$bindir/pg_ctl" -D "$d/data" -l "$d/server.log" -w -o \
    "-p $port -k $d -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$d/server.crt -c ssl_key_file=$d/server.key -c fsync=${TOKENFORM_PG_FSYNC:-off} -c max_connections=200" \
    start >/dev/null

  # The database the tests use, and a user who may connect but not create a schema.
  as_pg "$bindir/psql" -h "$d" -p "$port" -U tokenform -d postgres -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE DATABASE tokenform;
CREATE ROLE tf_limited LOGIN PASSWORD '$pw';
REVOKE CREATE ON DATABASE tokenform FROM PUBLIC;
SQL
  as_pg "$bindir/psql" -h "$d" -p "$port" -U tokenform -d tokenform -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL

  local base="postgres://tokenform:$pw@127.0.0.1:$port"
  {
    echo "export TOKENFORM_TEST_PG_URL='$base/tokenform?sslmode=disable'"
    echo "export TOKENFORM_TEST_PG_TLS_URL='$base/tokenform?sslmode=verify-full&sslrootcert=$d/ca.crt'"
    echo "export TOKENFORM_TEST_PG_OTHER_CA='$d/other-ca.crt'"
    echo "export TOKENFORM_TEST_PG_CA='$d/ca.crt'"
    echo "export TOKENFORM_TEST_PG_LIMITED_URL='postgres://tf_limited:$pw@127.0.0.1:$port/tokenform?sslmode=disable'"
    echo "export TOKENFORM_TEST_PG_DIR='$d'"
    echo "export TOKENFORM_TEST_PG_PORT='$port'"
  } >"$d/env"

  if command -v pgbouncer >/dev/null 2>&1; then
    local bport
    bport="$(free_port)"
    # Transaction pooling with round-robin server choice: each statement may land on
    # another server session, which is what breaks session locks.
    cat >"$d/pgbouncer.ini" <<INI
[databases]
tokenform = host=127.0.0.1 port=$port dbname=tokenform
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bport
unix_socket_dir =
auth_type = plain
auth_file = $d/userlist.txt
pool_mode = transaction
default_pool_size = 4
min_pool_size = 4
server_round_robin = 1
logfile = $d/pgbouncer.log
pidfile = $d/pgbouncer.pid
INI
    printf '"tokenform" "%s"\n' "$pw" >"$d/userlist.txt"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$d/pgbouncer.ini" "$d/userlist.txt"
    as_pg pgbouncer -d "$d/pgbouncer.ini"
    echo "export TOKENFORM_TEST_PGBOUNCER_URL='postgres://tokenform:$pw@127.0.0.1:$bport/tokenform?sslmode=disable'" >>"$d/env"
  fi
  echo "$d"
}

stop() {
  local d="$1"
  case "$d" in /tmp/tokenform-pg.*) ;; *) echo "not a cluster of this script: $d" >&2; exit 1 ;; esac
  if [ -f "$d/pgbouncer.pid" ]; then
    kill "$(cat "$d/pgbouncer.pid")" 2>/dev/null || true
  fi
  if [ -d "$d/data" ]; then
    as_pg "$bindir/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$d"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:?usage: .ci/pg.sh stop DIR}" ;;
  *) echo "usage: .ci/pg.sh start | stop DIR" >&2; exit 2 ;;
esac
