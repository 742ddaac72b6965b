#!/bin/sh
# stats_output.sh LIB PROG MODE
#   Runs PROG (stats_prog) with LD_PRELOAD=LIB and checks its stdout and the
#   statistics libpoolmalloc prints to stderr at exit.
#   MODE on      POOLMALLOC_STATS=1: exactly one well-formed totals line
#                ("poolmalloc: totals: small-allocs=N small-frees=N
#                large-allocs=N large-frees=N", possibly followed by more KEY=N
#                fields such as medium-allocs), with small-allocs/-frees >= 10000
#                and large-allocs/-frees >= 100 (what stats_prog is known to do),
#                other stats lines before it, every stderr line starting with
#                "poolmalloc:"
#   MODE threads the same, the small allocations made by 4 threads that have
#                exited by the time the stats are printed
#   MODE off     POOLMALLOC_STATS unset, then set to 0: no "poolmalloc:" output
set -u
lib=${1:?library path}
prog=${2:?program path}
mode=${3:?mode}
expected="stats_prog: small=10000 large=100 sum=49999950"

fail() { echo "FAIL stats_output ($mode): $*" >&2; exit 1; }

[ -f "$lib" ] || fail "no library at $lib"
[ -x "$prog" ] || fail "no program at $prog"
unset LD_PRELOAD POOLMALLOC_STATS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-stats.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

check_stdout() {
    out=$(cat "$tmp/out")
    [ "$out" = "$expected" ] || fail "stdout is '$out', want '$expected'"
    if grep -q 'poolmalloc:' "$tmp/out"; then fail "statistics printed to stdout"; fi
}

case $mode in
on|threads)
    arg=
    [ "$mode" = threads ] && arg=threads
    LD_PRELOAD=$lib POOLMALLOC_STATS=1 "$prog" $arg >"$tmp/out" 2>"$tmp/err"
    rc=$?
    echo "--- stderr:"; cat "$tmp/err"
    [ $rc -eq 0 ] || fail "program exited with status $rc"
    check_stdout
    n=$(grep -c '^poolmalloc: totals:' "$tmp/err")
    [ "$n" -eq 1 ] || fail "$n totals lines in stderr, want exactly 1"
    line=$(grep '^poolmalloc: totals:' "$tmp/err")
    echo "$line" | grep -Eq '^poolmalloc: totals: small-allocs=[0-9]+ small-frees=[0-9]+ large-allocs=[0-9]+ large-frees=[0-9]+( [a-z-]+=[0-9]+)*$' ||
        fail "malformed totals line: $line"
    field() { echo "$line" | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
    sa=$(field small-allocs); sf=$(field small-frees)
    la=$(field large-allocs); lf=$(field large-frees)
    [ "$sa" -ge 10000 ] || fail "small-allocs=$sa, but the program made 10000 malloc(40)"
    [ "$sf" -ge 10000 ] || fail "small-frees=$sf, but the program freed 10000 malloc(40) blocks"
    [ "$la" -ge 100 ] || fail "large-allocs=$la, but the program made 100 malloc(100000)"
    [ "$lf" -ge 100 ] || fail "large-frees=$lf, but the program freed 100 malloc(100000) blocks"
    # The per-class table and arena/large-path lines come before the totals.
    before=$(sed -n '/^poolmalloc: totals:/q;p' "$tmp/err" | grep -c '^poolmalloc: ')
    [ "$before" -ge 2 ] || fail "only $before statistics lines before the totals line"
    if grep -v '^poolmalloc: ' "$tmp/err" | grep -q .; then
        fail "stderr has lines that are not statistics"
    fi
    echo "ok: small-allocs=$sa small-frees=$sf large-allocs=$la large-frees=$lf"
    ;;
off)
    LD_PRELOAD=$lib "$prog" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    cat "$tmp/err"
    [ $rc -eq 0 ] || fail "program exited with status $rc (POOLMALLOC_STATS unset)"
    check_stdout
    if grep -q 'poolmalloc:' "$tmp/err"; then fail "POOLMALLOC_STATS unset, yet poolmalloc printed"; fi
    [ -s "$tmp/err" ] && fail "unexpected stderr output with POOLMALLOC_STATS unset"
    LD_PRELOAD=$lib POOLMALLOC_STATS=0 "$prog" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    cat "$tmp/err"
    [ $rc -eq 0 ] || fail "program exited with status $rc (POOLMALLOC_STATS=0)"
    check_stdout
    if grep -q 'poolmalloc:' "$tmp/err"; then fail "POOLMALLOC_STATS=0, yet poolmalloc printed"; fi
    echo "ok: no statistics output"
    ;;
*)
    fail "unknown mode"
    ;;
esac
exit 0
