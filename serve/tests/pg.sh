#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks of the PostgreSQL store.
#
#   serve/tests/pg.sh start DIR PORT   initdb in DIR/data, start on 127.0.0.1:PORT (socket in
#                                      DIR), create database cowheap; prints its URL
#   serve/tests/pg.sh stop DIR         stop it (immediate) and remove DIR
#   serve/tests/pg.sh bin              prints the binaries' folder, or exits 3 if none
#
# PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user that
# Debian's package creates. PG_BIN overrides where the binaries are.
set -euo pipefail

bin="${PG_BIN:-}"
if [ -z "$bin" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "no PostgreSQL binaries (install Debian's postgresql, or set PG_BIN)" >&2
  exit 3
fi

as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as=(runuser -u postgres --)
fi

case "${1:-}" in
bin)
  echo "$bin"
  ;;
start)
  dir="$2" port="$3"
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [ ${#as[@]} -gt 0 ]; then
    chown postgres "$dir"
    # The postgres user must reach DIR: a private temporary folder above it is opened to
    # traversal (not to listing).
    chmod o+x "$(dirname "$dir")"
  fi
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U cowheap -A trust -N -E UTF8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # max_connections: three hosts of 16 connections each, and the tests' own.
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -p $port -h 127.0.0.1 -c max_connections=200" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U cowheap cowheap
  echo "postgres://cowheap@127.0.0.1:$port/cowheap"
  ;;
stop)
  dir="$2"
  if [ -d "$dir/data" ]; then
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start DIR PORT | stop DIR | bin" >&2
  exit 2
  ;;
esac
