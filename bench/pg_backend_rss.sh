#!/bin/bash
# pg_backend_rss.sh [LIB|glibc]... -- what one PostgreSQL backend keeps
# resident after a big in-memory sort (issue 13: one process per
# connection, so a cache kept per process is paid once per connection).
#
# For each allocator (a library to preload, or "glibc" for none): initdb a
# throw-away cluster in a temporary directory, start the server on a Unix
# socket there (jit=off, work_mem=256MB so that the sort stays in memory),
# and in one psql session sort 1M md5 strings; then print the backend's
# VmHWM and VmRSS (/proc/PID/status) right after the query, after 2.5 s
# idle, and after a `SELECT 1`.  As root, the cluster and the server run
# as user nobody (initdb refuses root).  Needs Debian's postgresql.
# Extra POOLMALLOC_* variables in the environment reach the server.
# Example: bench/pg_backend_rss.sh glibc build/libpoolmalloc.so
set -u
PGBIN=
for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/psql" ] && { PGBIN=$d; break; }
done
[ -n "$PGBIN" ] || { echo "pg_backend_rss.sh: PostgreSQL (Debian postgresql) is not installed" >&2; exit 77; }
AS=
[ "$(id -u)" -eq 0 ] && AS="setpriv --reuid=$(id -u nobody) --regid=$(id -g nobody) --clear-groups"

status() { awk '/VmHWM|VmRSS/ {printf "%s %.1f MB  ", $1, $2 / 1024}' "/proc/$1/status"; echo; }

one() {
    local lib=$1 dir pg backend pre=
    [ "$lib" != glibc ] && pre="LD_PRELOAD=$(readlink -f "$lib")"
    dir=$(mktemp -d /tmp/pg_backend_rss.XXXXXX) || exit 1
    [ -n "$AS" ] && chown nobody "$dir"
    if ! $AS "$PGBIN/initdb" -D "$dir/data" -A trust -U nobody >"$dir/initdb.log" 2>&1; then
        echo "initdb failed: $dir/initdb.log" >&2
        return 1
    fi
    env $pre $AS "$PGBIN/postgres" -D "$dir/data" -k "$dir" -c listen_addresses= -c jit=off \
        -c work_mem=256MB >"$dir/server.log" 2>&1 &
    pg=$!
    for _ in $(seq 100); do $AS "$PGBIN/pg_isready" -h "$dir" -q && break; sleep 0.1; done
    $AS "$PGBIN/psql" -h "$dir" -U nobody -d postgres -At -q >"$dir/out" 2>&1 <<'SQL' &
SELECT pg_backend_pid() \gset
\o /dev/null
SELECT count(*) FROM (SELECT g, md5(g::text) m FROM generate_series(1, 1000000) g ORDER BY m) s;
\o
\echo :pg_backend_pid
\! sleep 3
SELECT 1;
\! sleep 3
SQL
    local client=$!
    backend=
    for _ in $(seq 600); do backend=$(head -1 "$dir/out" 2>/dev/null); [ -n "$backend" ] && break; sleep 0.1; done
    echo "== $lib"
    if [ -n "$backend" ]; then
        echo "  after the sort:   $(status "$backend")"
        sleep 2.5
        echo "  idle 2.5 s:       $(status "$backend")"
        sleep 2
        echo "  after SELECT 1:   $(status "$backend")"
    else
        echo "  no backend pid: $(cat "$dir/out")"
    fi
    wait "$client"
    kill -INT "$pg"
    wait "$pg"
    rm -rf "$dir"
}

[ $# -gt 0 ] || set -- glibc
for lib in "$@"; do one "$lib"; done
