#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on a loopback port (the sweep tests and .ci/run use it; so can you, to
# try a study with several workers on one machine):
#   read -r url dir < <(bash scripts/postgres.sh start)   # initdb in a new temporary folder, start the
#                                                          # server on 127.0.0.1:<a free port>, print
#                                                          # its URL and the folder
#   bash scripts/postgres.sh stop "$dir"                   # stop it and remove the folder
# The cluster trusts local connections (user muscle, database studies, no password): for tests only.
# PostgreSQL's binaries come from pg_config --bindir, else /usr/lib/postgresql/<newest>/bin, else PATH
# (Debian: apt-get install postgresql). initdb refuses to run as root: as root, the cluster runs as
# the postgres user (which the Debian package makes).
set -euo pipefail
PY=${PYTHON:-python3}

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  bindir=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
fi
if [ ! -x "$bindir/initdb" ]; then
  echo "postgres: PostgreSQL's initdb not found (Debian: apt-get install postgresql)" >&2
  exit 1
fi

owner=
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  if ! id "$owner" >/dev/null 2>&1; then
    echo "postgres: running as root needs a postgres user to own the cluster (initdb refuses root)" >&2
    exit 1
  fi
fi
as_owner() { if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }

case ${1:-} in
  start)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/muscle-postgres.XXXXXX")
    chmod 755 "$dir"
    [ -z "$owner" ] || chown "$owner" "$dir"
    port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if ! as_owner "$bindir/initdb" -D "$dir/data" -U muscle --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1; then
      echo "postgres: initdb failed:" >&2; cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null; then
      echo "postgres: the server did not start:" >&2; cat "$dir/data/server.log" >&2; rm -rf "$dir"; exit 1
    fi
    as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U muscle studies
    echo "postgresql://muscle@127.0.0.1:$port/studies $dir"
    ;;
  stop)
    dir=${2:?usage: postgres.sh stop DIR}
    [ -d "$dir/data" ] || { echo "postgres: $dir holds no cluster" >&2; exit 1; }
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: bash scripts/postgres.sh start | stop DIR" >&2
    exit 2
    ;;
esac
