#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests (Debian's packages; installed by
# scripts/test.sh when missing) on a free loopback port, with its data in a temporary
# directory. Prints `export CP_TEST_POSTGRES=…` and `export CP_TEST_PGDIR=…`; stop it with
# `scripts/postgres.sh stop DIR`.
set -euo pipefail

if [ "${1:-}" = stop ]; then
    dir=$2
    bin=$(cat "$dir/bindir")
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    else
        "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    exit 0
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
dir=$(mktemp -d /tmp/cp-postgres.XXXXXX)
echo "$bin" >"$dir/bindir"
# initdb refuses to run as root: the server runs as Debian's `postgres` user then.
as_db() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
as_db "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
# fsync off: a test database need not survive a power cut, and it makes the tests fast.
# DURABLE=1 (the benchmarks) keeps PostgreSQL's defaults instead.
options="-c listen_addresses=127.0.0.1 -c max_connections=300"
if [ -z "${DURABLE:-}" ]; then
    options="$options -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
# A random port, tried again if taken.
for attempt in 1 2 3 4 5; do
    port=$(shuf -i 20000-60000 -n 1)
    if as_db "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir $options" \
        start >/dev/null; then
        break
    fi
    [ "$attempt" = 5 ] && { cat "$dir/log" >&2; exit 1; }
done
echo "export CP_TEST_POSTGRES=postgres://postgres@127.0.0.1:$port/postgres"
echo "export CP_TEST_PGDIR=$dir"
