#!/bin/sh
# vg_check.sh WRAPPER TOOL ERRORS EXPECT PROG [ARGS...]
#
# Runs PROG under valgrind's TOOL (memcheck, helgrind, drd) the way users
# are told to: `WRAPPER --valgrind=TOOL PROG ARGS`, WRAPPER being the build
# tree's poolmalloc-run, which preloads libpoolmalloc and passes
# --soname-synonyms=somalloc=nouserintercepts.  POOLMALLOC_STATS=1 is set.
# The test passes when
#   - poolmalloc itself served malloc: a "poolmalloc: totals:" line (printed
#     at exit, or by malloc_stats() in the program) counts allocations.  Run
#     on valgrind's own allocator, poolmalloc's malloc is never called and
#     every count is 0 -- so this test cannot pass on valgrind's allocator;
#   - valgrind reported exactly ERRORS errors (all processes together);
#   - the report matches the extended regexp EXPECT (`-`: nothing to match),
#     i.e. the planted bug was reported as the kind of error it is.
#
# WRAPPER may be the word `trap` instead: the negative control.  PROG then
# runs as `LD_PRELOAD=$POOLMALLOC_LIB valgrind PROG` -- the trap docs/VALGRIND.md
# warns about -- and the test passes only if poolmalloc served nothing
# (valgrind silently replaced it) while valgrind's own allocator still
# reports EXPECT.  POOLMALLOC_LIB names the library.
#
# VG_OPTS adds valgrind options.  Exit 77 (skip) without valgrind.
set -u
if [ $# -lt 5 ]; then
    echo "usage: $0 WRAPPER|trap TOOL ERRORS EXPECT PROG [ARGS...]" >&2
    exit 2
fi
wrapper=$1 tool=$2 errors=$3 expect=$4
shift 4

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind is not installed: skipped"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm_vg.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

opts="--log-file=$tmp/vg.%p.log --error-exitcode=99 --num-callers=24"
if [ "$tool" = memcheck ]; then
    opts="$opts --leak-check=full --errors-for-leak-kinds=definite"
fi
opts="$opts ${VG_OPTS:-}"   # last: valgrind takes the last of repeated options
unset LD_PRELOAD
POOLMALLOC_STATS=1
export POOLMALLOC_STATS
ulimit -c 0 2>/dev/null || true

if [ "$wrapper" = trap ]; then
    # shellcheck disable=SC2086
    LD_PRELOAD=${POOLMALLOC_LIB:?POOLMALLOC_LIB must name libpoolmalloc.so} \
        valgrind --tool="$tool" $opts "$@" >"$tmp/out" 2>"$tmp/err"
else
    POOLMALLOC_VALGRIND_OPTS=$opts "$wrapper" --valgrind="$tool" "$@" >"$tmp/out" 2>"$tmp/err"
fi
status=$?
cat "$tmp"/vg.*.log >"$tmp/vg.log" 2>/dev/null

fail() {
    echo "FAIL: $*"
    echo "  exit status: $status"
    echo "  --- stdout ---"
    sed 's/^/  | /' "$tmp/out"
    echo "  --- stderr ---"
    sed 's/^/  | /' "$tmp/err"
    echo "  --- valgrind ---"
    sed 's/^/  | /' "$tmp/vg.log"
    exit 1
}

# Did poolmalloc serve malloc?  Any totals line with a non-zero count.
served=$(grep '^poolmalloc: totals:' "$tmp/err" | grep -c '=[1-9]')
# Errors: the sum of every process's ERROR SUMMARY.
found=$(sed -n 's/.*ERROR SUMMARY: \([0-9][0-9]*\) errors.*/\1/p' "$tmp/vg.log" |
        awk '{ n += $1 } END { print n + 0 }')
summaries=$(grep -c 'ERROR SUMMARY' "$tmp/vg.log")

[ "$summaries" -ge 1 ] || fail "no valgrind report (did valgrind run?)"
if [ "$wrapper" = trap ]; then
    [ "$served" -eq 0 ] || fail "poolmalloc served malloc although valgrind was not told to let it"
else
    [ "$served" -ge 1 ] || fail "poolmalloc did not serve malloc (no non-zero statistics): valgrind's allocator ran instead"
fi
[ "$found" -eq "$errors" ] || fail "valgrind reported $found errors, expected $errors"
if [ "$expect" != - ]; then
    grep -Eq "$expect" "$tmp/vg.log" || fail "valgrind's report does not match /$expect/"
fi
if [ "$errors" -eq 0 ]; then
    [ "$status" -eq 0 ] || fail "expected exit status 0"
fi
echo "ok: $tool, $found error(s)${expect:+, /$expect/}, poolmalloc served: $served report(s)"
exit 0
