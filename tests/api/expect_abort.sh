#!/bin/sh
# expect_abort.sh PROG CASE [ERE]
#
# Runs `PROG CASE` (a misuse case of api_misuse) and checks that
#   - it dies of SIGABRT (exit status 134 through sh),
#   - it wrote exactly one line on stderr,
#   - that line matches ERE (by default the message expected for CASE, see
#     below) and contains the pointer PROG printed on stdout before the misuse.
# The case "valid" is the control: it must exit 0 with an empty stderr.
#
# LD_PRELOAD (set by ctest) is passed on to PROG only, not to the helper
# commands used here.
set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 PROG CASE [ERE]" >&2
    exit 2
fi
prog=$1
tcase=$2

any='poolmalloc: (free|realloc|malloc_usable_size)\(\): (double free|invalid pointer|pointer already freed)'
case $tcase in
double_free_small | double_free_medium | double_free_full_cache | double_free_small_stack) re='poolmalloc: free\(\): double free' ;;
usable_size_freed | usable_size_freed_medium) re='poolmalloc: malloc_usable_size\(\): pointer already freed' ;;
usable_size_interior_small | usable_size_interior_medium | usable_size_misaligned_medium)
    re='poolmalloc: malloc_usable_size\(\): invalid pointer' ;;
double_free_large) re='poolmalloc: free\(\): (double free|invalid pointer)' ;;
double_free_large_slot | double_free_large_behind_slot) re='poolmalloc: free\(\): double free' ;;
realloc_large_slot) re='poolmalloc: realloc\(\): pointer already freed' ;;
interior_small | interior_medium | misaligned_medium | interior_large | free_stack | free_static)
    re='poolmalloc: free\(\): invalid pointer' ;;
realloc_stack) re='poolmalloc: realloc\(\): invalid pointer' ;;
realloc_freed | realloc_freed_in_place | realloc_freed_medium_in_place)
    re='poolmalloc: realloc\(\): pointer already freed' ;;
realloc_interior_medium) re='poolmalloc: realloc\(\): invalid pointer' ;;
remote_double_free_small | remote_double_free_medium | remote_double_free_batched | \
remote_double_free_one_batch | abandoned_double_free_batched)
    re='poolmalloc: free\(\): double free' ;;
remote_double_free_cached)   # at the owner's drain, or at the pop of the other copy
    re='poolmalloc: (free\(\): double free|malloc\(\): corrupted thread cache of heap 0x[0-9a-f]+ \(mark in block 0x[0-9a-f]+\)$)' ;;
remote_interior_small | remote_interior_batched | remote_interior_abandoned | interior_large_page | free_mmap)
    re='poolmalloc: free\(\): invalid pointer' ;;
double_free_huge) re='poolmalloc: free\(\): (double free|invalid pointer)' ;;
uaf_write_small | overflow_small | uaf_write_medium)   # the block waits in the thread cache: its mark
    re='poolmalloc: malloc\(\): corrupted thread cache of heap 0x[0-9a-f]+ \(mark in block 0x[0-9a-f]+\)$' ;;
uaf_write_pool)
    re='poolmalloc: malloc\(\): corrupted free list in pool 0x[0-9a-f]+ \(link in block 0x[0-9a-f]+\)$' ;;
uaf_write_span)
    re='poolmalloc: malloc\(\): corrupted free list in span 0x[0-9a-f]+ \(link in block 0x[0-9a-f]+\)$' ;;
write_after_free_small | write_after_free_medium | write_after_free_remote)
    re='poolmalloc: malloc\(\): write after free to 0x[0-9a-f]+ \(block 0x[0-9a-f]+ freed earlier\)$' ;;
uaf_write_remote)
    re='poolmalloc: malloc\(\): corrupted remote free list of heap 0x[0-9a-f]+ \(link in block 0x[0-9a-f]+\)$' ;;
*) re=$any ;;
esac
# Strict mode (PM_EXPECT_STRICT=1, set by the strict tests): a freed block
# waits in the quarantine, off every free list, so a write into it is a
# write after free, found when it leaves the quarantine or at exit.
case ${PM_EXPECT_STRICT-}:$tcase in
1:uaf_write_small | 1:uaf_write_pool | 1:overflow_small | 1:uaf_write_remote)
    re='poolmalloc: malloc\(\): write after free to 0x[0-9a-f]+ \(block 0x[0-9a-f]+ freed earlier\)$' ;;
1:double_free_large_slot | 1:double_free_large_behind_slot | 1:realloc_large_slot)
    re=$any ;;   # strict mode unmaps a freed large block at once: no record is left
esac
if [ $# -ge 3 ]; then
    re=$3
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm_misuse.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

preload=${LD_PRELOAD-}
unset LD_PRELOAD
ulimit -c 0 2>/dev/null || true

# The redirections are made by an inner shell that then execs PROG, so that
# the note this shell prints about the signal ("Aborted") does not end up in
# the captured stderr (it goes to /dev/null).
sh -c 'if [ -n "$1" ]; then LD_PRELOAD=$1; export LD_PRELOAD; fi
exec "$2" "$3" >"$4" 2>"$5"' sh "$preload" "$prog" "$tcase" "$tmp/out" "$tmp/err" 2>/dev/null
status=$?

fail() {
    echo "FAIL [$tcase]: $*"
    echo "  exit status: $status"
    echo "  --- stdout ---"
    sed 's/^/  | /' "$tmp/out"
    echo "  --- stderr ---"
    sed 's/^/  | /' "$tmp/err"
    exit 1
}

ptr=$(sed -n '1p' "$tmp/out")
lines=$(grep -c '' "$tmp/err")

if [ "$tcase" = valid ]; then
    [ "$status" -eq 0 ] || fail "control case did not exit 0"
    [ "$lines" -eq 0 ] || fail "control case wrote to stderr"
    echo "ok [$tcase]"
    exit 0
fi

case $ptr in
0x[0-9a-fA-F]*) ;;
*) fail "the program did not print the pointer before the misuse" ;;
esac

sig=$(kill -l "$status" 2>/dev/null || true)
if [ "$status" -ne 134 ] && [ "$sig" != ABRT ] && [ "$sig" != SIGABRT ]; then
    fail "expected death by SIGABRT (status 134)"
fi
[ "$lines" -eq 1 ] || fail "expected exactly one line on stderr, got $lines"
grep -Eq "$re" "$tmp/err" || fail "stderr does not match /$re/"
grep -Eq "$ptr([^0-9a-fA-FxX]|\$)" "$tmp/err" || fail "stderr does not name the pointer $ptr"
echo "ok [$tcase]: $(cat "$tmp/err")"
exit 0
