#!/bin/sh
# postgres.sh LIB -- a PostgreSQL server (Debian postgresql, 15 preferred)
# running on poolmalloc with its LLVM JIT compiling every query: LLVM's
# C++ code assumes 16-aligned operator new results, and the server died
# with SIGSEGV as soon as a query was JIT-compiled while poolmalloc handed
# out 8-aligned blocks.
#  1. initdb (preloaded) a cluster in a temporary directory; as root, the
#     cluster and the server run as user nobody (initdb refuses root);
#  2. start the postmaster preloaded, listening only on a Unix socket in
#     that directory, jit=on with jit_above_cost, jit_inline_above_cost and
#     jit_optimize_above_cost all 0, LD_DEBUG=bindings into the directory;
#  3. pgbench -i -s 1, then pgbench -c 2 -T 4 (JIT on, without inlining
#     and optimisation to get more transactions through): no failed
#     transaction, the history holds every processed transaction;
#  4. postgres_queries.sql (every query JIT-compiled with inlining and
#     optimisation: a sort spilling to disk, a hash join, aggregates, the
#     TPC-B balance invariant) must print postgres_queries.expected;
#  5. EXPLAIN (ANALYZE) shows a "JIT:" section with Functions > 0 and
#     inlining and optimisation on;
#  6. poolmalloc served the server: libpoolmalloc.so is mapped in the
#     postmaster (/proc/PID/maps) and, with llvmjit.so and libLLVM, in the
#     backend that ran the JIT (step 4); the binding trace shows the
#     server's malloc/free and libLLVM's operator new bound to libpoolmalloc;
#  7. the server stays up (same postmaster, no backend killed by a signal)
#     and a fast shutdown (SIGINT) ends it with status 0.
# The server is stopped by its PID from an EXIT trap, on failure too.
. "$(dirname "$0")/pm_common.sh"
pm_init postgres "$@"

PGBIN=
for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$d/postgres" ] && [ -x "$d/initdb" ] && [ -x "$d/pgbench" ] && [ -x "$d/psql" ]; then
        PGBIN=$d
        break
    fi
done
[ -n "$PGBIN" ] || pm_skip "PostgreSQL server (Debian postgresql) is not installed"
PGLIB=$("$PGBIN/pg_config" --pkglibdir 2>/dev/null) || PGLIB=$(dirname "$PGBIN")/lib
[ -f "$PGLIB/llvmjit.so" ] || pm_skip "$PGLIB/llvmjit.so is missing: this PostgreSQL has no LLVM JIT"
echo "PostgreSQL: $("$PGBIN/postgres" --version)"

PG_PID=
pg_alive() {
    # A zombie (exited, not yet reaped) counts as gone.
    [ -n "$PG_PID" ] && [ -r "/proc/$PG_PID/stat" ] &&
        [ "$(sed 's/^.*) //' "/proc/$PG_PID/stat" 2>/dev/null | cut -c1)" != Z ]
}
pg_stop() {
    # $1: seconds to wait for a fast shutdown before SIGQUIT, then SIGKILL.
    [ -n "$PG_PID" ] || return 0
    if pg_alive; then
        kill -INT "$PG_PID" 2>/dev/null
        pg_i=0
        while pg_alive && [ $pg_i -lt $((${1:-10} * 10)) ]; do
            sleep 0.1
            pg_i=$((pg_i + 1))
        done
        if pg_alive; then
            echo "postgres.sh: postmaster $PG_PID ignores SIGINT, sending SIGQUIT" >&2
            kill -QUIT "$PG_PID" 2>/dev/null
            sleep 2
        fi
        pg_alive && kill -KILL "$PG_PID" 2>/dev/null
    fi
    wait "$PG_PID" 2>/dev/null
    pg_status=$?
    PG_PID=
    return $pg_status
}
trap 'pg_stop 10; rm -rf "$PM_WORK"' EXIT

# As root: everything of the cluster belongs to nobody, and the server
# programs run as nobody (setpriv execs, so $! is the postmaster's PID).
AS=
if [ "$(id -u)" -eq 0 ]; then
    command -v setpriv >/dev/null 2>&1 || pm_skip "running as root without setpriv: initdb refuses root"
    PG_UID=$(id -u nobody 2>/dev/null) || pm_skip "running as root and there is no user nobody"
    PG_GID=$(id -g nobody)
    AS="setpriv --reuid=$PG_UID --regid=$PG_GID --clear-groups"
    chown "$PG_UID:$PG_GID" "$PM_WORK" || pm_skip "cannot chown $PM_WORK to nobody"
    $AS test -w "$PM_WORK" || pm_skip "user nobody cannot write $PM_WORK"
    if ! $AS test -r "$PM_LIB"; then
        cp "$PM_LIB" "$PM_WORK/libpoolmalloc.so" && chmod 755 "$PM_WORK/libpoolmalloc.so" ||
            pm_fail "copy the library"
        PM_LIB=$PM_WORK/libpoolmalloc.so
    fi
fi
cd "$PM_WORK" || pm_fail "cd"
HOME=$PM_WORK
export HOME
DATA=$PM_WORK/data
PORT=$((50000 + $$ % 10000))
export PGHOST="$PM_WORK" PGPORT="$PORT" PGUSER=postgres PGDATABASE=postgres
unset PGOPTIONS PGPASSWORD PGSERVICE PGSSLMODE

# A failure once the server runs: say whether a server process crashed.
pg_fail() {
    if [ -f server.log ] && grep -q 'terminated by signal' server.log; then
        grep 'terminated by signal' server.log | head -3 >&2
        pm_fail "$* (a server process crashed)"
    fi
    pm_fail "$*"
}

# Clients (psql, pgbench) run preloaded too, as the invoking user.
pg_client() {
    LD_PRELOAD=$PM_LIB "$@"
}

$AS env LD_PRELOAD="$PM_LIB" "$PGBIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 \
    --locale=C --no-sync >initdb.log 2>&1 || { tail -30 initdb.log >&2; pm_fail "initdb failed under poolmalloc"; }
echo "initdb done"

$AS env LD_PRELOAD="$PM_LIB" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$PM_WORK/ld-server" \
    "$PGBIN/postgres" -D "$DATA" -k "$PM_WORK" -p "$PORT" -c listen_addresses= \
    -c jit=on -c jit_above_cost=0 -c jit_inline_above_cost=0 -c jit_optimize_above_cost=0 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=20 \
    -c shared_buffers=32MB -c max_parallel_workers_per_gather=2 -c statement_timeout=60s \
    >server.log 2>&1 &
PG_PID=$!
i=0
until "$PGBIN/pg_isready" -q -t 1; do
    pg_alive || { tail -30 server.log >&2; pg_fail "the server exited while starting"; }
    i=$((i + 1))
    [ $i -lt 60 ] || { tail -30 server.log >&2; pg_fail "the server did not accept connections in 30 s"; }
    sleep 0.5
done
[ "$(head -n 1 "$DATA/postmaster.pid")" = "$PG_PID" ] ||
    pg_fail "postmaster.pid says $(head -n 1 "$DATA/postmaster.pid"), the started process is $PG_PID"
grep -q 'libpoolmalloc[^/]*\.so' "/proc/$PG_PID/maps" ||
    pg_fail "libpoolmalloc is not mapped in the postmaster (/proc/$PG_PID/maps)"
echo "server $PG_PID up on $PM_WORK/.s.PGSQL.$PORT, libpoolmalloc mapped in the postmaster"

pg_client "$PGBIN/psql" -X -At -c 'SHOW jit' -c 'SHOW jit_above_cost' -c 'SHOW jit_provider' >show.out 2>&1 ||
    { cat show.out >&2; pg_fail "psql failed"; }
[ "$(tr '\n' ' ' <show.out)" = "on 0 llvmjit " ] || { cat show.out >&2; pg_fail "JIT settings not in effect"; }

pg_client "$PGBIN/pgbench" -i -s 1 -q >init.out 2>&1 || { tail -20 init.out >&2; tail -20 server.log >&2; pg_fail "pgbench -i failed"; }
echo "pgbench -i -s 1 done"

PGOPTIONS='-c jit_inline_above_cost=-1 -c jit_optimize_above_cost=-1' \
    pg_client "$PGBIN/pgbench" -c 2 -j 2 -T 4 >bench.out 2>&1 || { cat bench.out >&2; tail -20 server.log >&2; pg_fail "pgbench run failed"; }
done_tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' bench.out)
failed_tx=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' bench.out)
[ -n "$done_tx" ] && [ "$done_tx" -gt 0 ] || { cat bench.out >&2; pg_fail "pgbench processed no transaction"; }
[ "${failed_tx:-0}" -eq 0 ] || { cat bench.out >&2; pg_fail "pgbench: $failed_tx failed transactions"; }
hist=$(pg_client "$PGBIN/psql" -X -At -c 'SELECT count(*) FROM pgbench_history') || pg_fail "psql failed"
[ "$hist" = "$done_tx" ] || pg_fail "pgbench processed $done_tx transactions, pgbench_history holds $hist"
echo "pgbench: $done_tx transactions, none failed, all in pgbench_history"

pg_client "$PGBIN/psql" -X -A -q -f "$PM_DIR/postgres_queries.sql" >queries.out 2>queries.err
rc=$?
if [ $rc -ne 0 ] || ! cmp -s queries.out "$PM_DIR/postgres_queries.expected"; then
    cat queries.err >&2
    diff "$PM_DIR/postgres_queries.expected" queries.out >&2
    tail -20 server.log >&2
    pg_fail "postgres_queries.sql (psql status $rc): results differ from postgres_queries.expected"
fi
echo "postgres_queries.sql: results as expected (JIT-compiled sort, join, aggregates; poolmalloc, llvmjit and libLLVM mapped in the backend)"

pg_client "$PGBIN/psql" -X -At -c \
    "EXPLAIN (ANALYZE) SELECT sum(abalance), count(*) FROM pgbench_accounts WHERE aid % 7 = 3" \
    >explain.out 2>&1 || { cat explain.out >&2; pg_fail "EXPLAIN ANALYZE failed"; }
functions=$(sed -n 's/^ *Functions: \([0-9]*\).*/\1/p' explain.out)
if ! grep -q '^JIT:' explain.out || [ -z "$functions" ] || [ "$functions" -le 0 ] ||
    ! grep -q 'Inlining true, Optimization true' explain.out; then
    cat explain.out >&2
    pg_fail "EXPLAIN ANALYZE shows no JIT compilation with inlining and optimisation"
fi
echo "EXPLAIN ANALYZE: JIT compiled $functions functions ($(grep 'Options:' explain.out | sed 's/^ *//'))"

pg_alive || { tail -30 server.log >&2; pg_fail "the postmaster $PG_PID is gone"; }
if grep -E 'terminated by signal|was terminated|server process .* exited with exit code|database system is in recovery' server.log; then
    pg_fail "a server process died (server.log)"
fi

# The binding trace (all server processes: backends are forked, not
# exec'd, and write into the postmaster's file).
cat ld-server.* >ld.all 2>/dev/null || pg_fail "no LD_DEBUG output from the server"
for sym in malloc free calloc realloc; do
    grep -q "binding file [^ ]*/postgres \[0\] to [^ ]*libpoolmalloc[^ ]* \[0\]: normal symbol \`$sym'" ld.all ||
        pg_fail "the postgres binary's $sym is not bound to libpoolmalloc (LD_DEBUG=bindings)"
done
if grep "normal symbol \`\(malloc\|free\|calloc\|realloc\)'" ld.all | grep -v 'to [^ ]*libpoolmalloc[^ ]* \[0\]' | grep -q .; then
    grep "normal symbol \`\(malloc\|free\|calloc\|realloc\)'" ld.all | grep -v 'to [^ ]*libpoolmalloc[^ ]* \[0\]' | head -5 >&2
    pg_fail "malloc/free of a server object bound to something other than libpoolmalloc"
fi
echo "bindings: the server's malloc, free, calloc and realloc go to libpoolmalloc"
pm_check_new_bindings server libLLVM llvmjit.so
rm -f ld.all ld-server.*

pg_stop 30
status=$?
[ $status -eq 0 ] || { tail -20 server.log >&2; pg_fail "the postmaster exited with status $status after SIGINT"; }
grep -q 'database system is shut down' server.log || { tail -20 server.log >&2; pg_fail "no clean shutdown in server.log"; }
echo "server shut down cleanly"
exit 0
