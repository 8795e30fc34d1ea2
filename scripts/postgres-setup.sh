#!/usr/bin/env bash
# Makes a PostgreSQL server answer on a unix socket for the tests and benchmarks on a fresh
# Debian 12 machine: installs Debian's postgresql (15), creates a cluster with initdb as the
# postgres user in its own directory (not the Debian-managed cluster: nothing here needs
# systemd), starts it with pg_ctl when it does not answer, and prints the DSN to use.
# Idempotent: safe to run again. Tests find it at the default socket directory or through
# SLUICE_TEST_POSTGRES (see internal/testenv/postgres.go); each test makes its own database.
set -euo pipefail

DIR="${SLUICE_PG_DIR:-/var/tmp/sluice-postgres}"
SOCKDIR="${SLUICE_PG_SOCKDIR:-/run/sluice-postgres}"
PORT="${SLUICE_PG_PORT:-5432}" # names the socket file only: the server listens on no TCP address

say() { echo "postgres-setup: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  say "must run as root (installs packages, runs the server as the postgres user)"
  exit 1
fi

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ]; then
  say "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
BIN="$(bindir)"
id postgres >/dev/null 2>&1 || { say "the postgres user is missing after installing postgresql"; exit 1; }

as_pg() { runuser -u postgres -- "$@"; }
ready() { as_pg "$BIN/pg_isready" -q -h "$SOCKDIR" -p "$PORT" 2>/dev/null; }

mkdir -p "$SOCKDIR" "$DIR"
chown postgres:postgres "$SOCKDIR" "$DIR"
chmod 0755 "$SOCKDIR"
chmod 0700 "$DIR"

if [ ! -s "$DIR/data/PG_VERSION" ]; then
  say "creating a cluster in $DIR/data"
  rm -rf "$DIR/data"
  # trust on the socket only: the server listens on no TCP address, and the socket directory
  # is on this machine. UTF8 so text is text whatever the locale.
  as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi

# Settings for a test server shared by parallel test processes of several worktrees: many
# short-lived databases and connections; durability is not what is tested against it.
conf='# Written by sluice scripts/postgres-setup.sh.
listen_addresses = '"''"'
max_connections = 400
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_locks_per_transaction = 128'
if [ "$(cat "$DIR/data/sluice.conf" 2>/dev/null)" != "$conf" ]; then
  printf '%s\n' "$conf" >"$DIR/data/sluice.conf"
  chown postgres:postgres "$DIR/data/sluice.conf"
  grep -q "^include_if_exists = 'sluice.conf'" "$DIR/data/postgresql.conf" ||
    echo "include_if_exists = 'sluice.conf'" >>"$DIR/data/postgresql.conf"
  if ready; then
    say "restarting the server for the new configuration"
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null
  fi
fi

if ready; then
  say "server already answering on $SOCKDIR"
else
  # A server killed without cleanup leaves its pid file; pg_ctl start handles a stale one.
  say "starting the server on $SOCKDIR (log: $DIR/server.log)"
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-k $SOCKDIR -p $PORT" start >/dev/null
  if ! ready; then
    say "server did not answer on $SOCKDIR; last log lines:"
    tail -n 20 "$DIR/server.log" >&2 || true
    exit 1
  fi
  say "server answering on $SOCKDIR"
fi

echo "SLUICE_TEST_POSTGRES=postgres://postgres@/postgres?host=$SOCKDIR&port=$PORT&sslmode=disable"
