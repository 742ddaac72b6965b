#!/bin/sh
# options.sh LIB PROG VERSION MODE SOURCE_DIR -- POOLMALLOC_* options as a
# user meets them, on PROG (report_prog version) run with LD_PRELOAD=LIB.
#   values    a bad value is named, with what was expected, and ignored
#   booleans  0/1, yes/no, true/false, on/off (any case) for POOLMALLOC_STATS
#   unknown   a misspelled POOLMALLOC_* variable gets a warning naming the
#             closest option; the wrapper's and the tests' own variables none
#   verbose   POOLMALLOC_VERBOSE=1: one line, version, pid, every option
#   tree      every POOLMALLOC_* variable the scripts in SOURCE_DIR set
#             (tests/, scripts/, tools/, bench/) is known: no warning
set -u
lib=${1:?library} prog=${2:?program} version=${3:?version} mode=${4:?mode} src=${5:?source dir}
fail() { echo "FAIL options ($mode): $*" >&2; exit 1; }
[ -f "$lib" ] || fail "no library at $lib"
for v in $(env | sed -n 's/^\(POOLMALLOC_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
unset LD_PRELOAD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-options.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# run VAR=VALUE...: runs PROG with those variables; stderr in $tmp/err.
run() {
    env "$@" LD_PRELOAD="$lib" "$prog" version >"$tmp/out" 2>"$tmp/err" || {
        cat "$tmp/err"; fail "program failed with $*"; }
}
# expect_err TEXT VAR=VALUE...: stderr is exactly TEXT (one line).
expect_err() {
    want=$1
    shift
    run "$@"
    got=$(cat "$tmp/err")
    [ "$got" = "$want" ] || fail "with $*: stderr is
  '$got'
want
  '$want'"
}
verbose_field() {   # verbose_field NAME: the value of NAME= in the verbose line
    sed -n "s/^poolmalloc: version .*[ :]$1=\([^ ]*\).*/\1/p" "$tmp/err"
}

case $mode in
values)
    expect_err "poolmalloc: ignoring bad value 'abc' of POOLMALLOC_ARENA_RESERVE (expected a number from 0 to 1024)" \
        POOLMALLOC_ARENA_RESERVE=abc
    expect_err "poolmalloc: ignoring bad value '5000' of POOLMALLOC_ARENA_RESERVE (expected a number from 0 to 1024)" \
        POOLMALLOC_ARENA_RESERVE=5000
    expect_err "poolmalloc: ignoring bad value '12Q' of POOLMALLOC_LARGE_CACHE (expected a size in bytes from 0 to 1024G, with an optional K, M or G suffix)" \
        POOLMALLOC_LARGE_CACHE=12Q
    expect_err "poolmalloc: ignoring bad value '-1' of POOLMALLOC_ARENA_DECAY_MS (expected milliseconds from 0 to 3600000)" \
        POOLMALLOC_ARENA_DECAY_MS=-1
    expect_err "poolmalloc: ignoring bad value '12' of POOLMALLOC_MIN_ALIGN (expected 8 or 16)" \
        POOLMALLOC_MIN_ALIGN=12
    expect_err "poolmalloc: ignoring bad value 'maybe' of POOLMALLOC_STATS (expected 0/1, yes/no, true/false or on/off)" \
        POOLMALLOC_STATS=maybe
    expect_err "poolmalloc: ignoring bad value '' of POOLMALLOC_VERBOSE (expected 0/1, yes/no, true/false or on/off)" \
        POOLMALLOC_VERBOSE=
    # A long value is shortened; control characters do not reach the terminal.
    long=$(printf 'x%.0s' $(seq 1 100))
    run POOLMALLOC_LARGE_CACHE="$long"
    grep -q "^poolmalloc: ignoring bad value 'x\{48\}\.\.\.' of POOLMALLOC_LARGE_CACHE (expected " "$tmp/err" ||
        { cat "$tmp/err"; fail "long value not shortened"; }
    run POOLMALLOC_ARENA_CACHE="$(printf 'a\033b')"
    grep -q "^poolmalloc: ignoring bad value 'a?b' of POOLMALLOC_ARENA_CACHE" "$tmp/err" ||
        { cat "$tmp/err"; fail "control character not replaced"; }
    # The default is kept, good values are taken (sizes with suffixes).
    run POOLMALLOC_VERBOSE=1 POOLMALLOC_ARENA_RESERVE=abc POOLMALLOC_LARGE_CACHE=32M POOLMALLOC_ARENA_CACHE=1G
    [ "$(verbose_field ARENA_RESERVE)" = 4 ] || fail "bad ARENA_RESERVE did not keep the default"
    [ "$(verbose_field LARGE_CACHE)" = 32M ] || fail "LARGE_CACHE=32M not taken"
    [ "$(verbose_field ARENA_CACHE)" = 1G ] || fail "ARENA_CACHE=1G not taken"
    ;;
booleans)
    for v in 1 yes YES Yes true TRUE on ON y; do
        run POOLMALLOC_VERBOSE=1 POOLMALLOC_STATS="$v"
        [ "$(verbose_field STATS)" = 1 ] || { cat "$tmp/err"; fail "POOLMALLOC_STATS=$v is not on"; }
        grep -q '^poolmalloc: totals:' "$tmp/err" || fail "POOLMALLOC_STATS=$v printed no report"
        grep -q 'ignoring' "$tmp/err" && fail "POOLMALLOC_STATS=$v warned"
    done
    for v in 0 no NO false False off OFF n; do
        run POOLMALLOC_VERBOSE=1 POOLMALLOC_STATS="$v"
        [ "$(verbose_field STATS)" = 0 ] || { cat "$tmp/err"; fail "POOLMALLOC_STATS=$v is not off"; }
        grep -q '^poolmalloc: totals:' "$tmp/err" && fail "POOLMALLOC_STATS=$v printed a report"
        grep -q 'ignoring' "$tmp/err" && fail "POOLMALLOC_STATS=$v warned"
    done
    for v in 2 yess tru 'on ' ''; do
        run POOLMALLOC_STATS="$v"
        grep -q "^poolmalloc: ignoring bad value '$v' of POOLMALLOC_STATS (expected 0/1, yes/no, true/false or on/off)$" "$tmp/err" ||
            { cat "$tmp/err"; fail "POOLMALLOC_STATS='$v' accepted"; }
    done
    ;;
unknown)
    expect_err "poolmalloc: ignoring unknown variable POOLMALLOC_STAT (did you mean POOLMALLOC_STATS?)" \
        POOLMALLOC_STAT=1
    expect_err "poolmalloc: ignoring unknown variable POOLMALLOC_ARENA_RESERV (did you mean POOLMALLOC_ARENA_RESERVE?)" \
        POOLMALLOC_ARENA_RESERV=2
    expect_err "poolmalloc: ignoring unknown variable POOLMALLOC_STATS_FIEL (did you mean POOLMALLOC_STATS_FILE?)" \
        POOLMALLOC_STATS_FIEL=x
    expect_err "poolmalloc: ignoring unknown variable POOLMALLOC_FROBNICATE (see poolmalloc(3) for the options)" \
        POOLMALLOC_FROBNICATE=1
    # Not options of the library, but known: poolmalloc-run's and the tests'.
    expect_err "" POOLMALLOC_LIBDIR=/nowhere POOLMALLOC_VALGRIND_OPTS=-q POOLMALLOC_LIB=/x.so
    # Every option by its own name: no warning.
    expect_err "" POOLMALLOC_STATS=0 POOLMALLOC_ARENA_RESERVE=4 POOLMALLOC_LARGE_CACHE=64M \
        POOLMALLOC_LARGE_DECAY_MS=1000 POOLMALLOC_ARENA_DECAY_MS=1000 POOLMALLOC_ARENA_CACHE=16M \
        POOLMALLOC_MIN_ALIGN=8 POOLMALLOC_VERBOSE=0 POOLMALLOC_STATS_JSON=0 POOLMALLOC_LARGE_THP=1 \
        POOLMALLOC_ARENA_THP=8M POOLMALLOC_FLAT_PAGEMAP=1 POOLMALLOC_ARENA_POPULATE=15
    # Names that only start alike are not options: POOLMALLOC alone, other prefixes.
    expect_err "" POOLMALLOCX_STATS=1 XPOOLMALLOC_STATS=1
    ;;
verbose)
    run POOLMALLOC_VERBOSE=1
    pid=$(sed -n 's/^version .* pid \([0-9]*\)$/\1/p' "$tmp/out")
    want="poolmalloc: version $version pid $pid: STATS=0 ARENA_RESERVE=4 LARGE_CACHE=64M LARGE_DECAY_MS=1000 ARENA_DECAY_MS=10000 ARENA_CACHE=16M MIN_ALIGN=8 VERBOSE=1 STATS_JSON=0 LARGE_THP=1 ARENA_THP=8M FLAT_PAGEMAP=1 ARENA_POPULATE=15"
    [ "$(cat "$tmp/err")" = "$want" ] || fail "verbose line is '$(cat "$tmp/err")', want '$want'"
    run POOLMALLOC_VERBOSE=on POOLMALLOC_MIN_ALIGN=16 POOLMALLOC_ARENA_DECAY_MS=0 POOLMALLOC_STATS_FILE=/dev/null
    [ "$(grep -c '^poolmalloc: version' "$tmp/err")" -eq 1 ] || fail "not exactly one verbose line"
    [ "$(verbose_field MIN_ALIGN)" = 16 ] || fail "MIN_ALIGN=16 not shown"
    [ "$(verbose_field ARENA_DECAY_MS)" = 0 ] || fail "ARENA_DECAY_MS=0 not shown"
    [ "$(verbose_field STATS)" = 1 ] || fail "STATS_FILE did not turn STATS on"
    grep -q ' STATS_FILE=/dev/null$' "$tmp/err" || fail "STATS_FILE not shown"
    run
    [ -s "$tmp/err" ] && fail "output without POOLMALLOC_VERBOSE"
    ;;
tree)
    # Names set or read by scripts (not CMake options, not C macros).
    names=$(find "$src/tests" "$src/scripts" "$src/tools" "$src/bench" \
                \( -name '*.sh' -o -name '*.py' -o -name '*.in' -o -name compare -o -name '*.txt' \) \
                ! -path "*/tests/interface/options.sh" -type f \
                -exec grep -ho 'POOLMALLOC_[A-Z0-9_]*[A-Z0-9]' {} + 2>/dev/null | sort -u |
            grep -Ev '^POOLMALLOC_(BUILD_[A-Z_]*|DEBUG|STRICT|VALGRIND|GC|SOAK|SOAK_SECONDS|H|GC_H|VERSION[A-Z_]*)$')
    [ -n "$names" ] || fail "no POOLMALLOC_ variables found under $src"
    bad=
    for n in $names; do
        run "$n=1"
        if grep -q 'unknown variable' "$tmp/err"; then bad="$bad $n"; cat "$tmp/err"; fi
    done
    [ -z "$bad" ] || fail "variables used in the tree but unknown to the library:$bad (add them to options.c's table or not_options)"
    echo "known:" $names
    ;;
*)
    fail "unknown mode" ;;
esac
echo "ok: $mode"
