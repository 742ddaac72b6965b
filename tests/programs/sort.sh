#!/bin/sh
# sort.sh LIB -- GNU sort on poolmalloc: 200k generated lines (awk, fixed
# seed) sorted five ways (plain, numeric keys, unique on a field, a 1 MiB
# buffer that forces temporary files and merges, two threads), each
# output compared with sort run without the preload (LC_ALL=C for both).
# Proof that poolmalloc served sort: the stats report of every run (sort
# closes its stderr at exit, poolmalloc reports to the stderr it had at
# start-up) and the dynamic linker's binding trace of the first run.
. "$(dirname "$0")/pm_common.sh"
pm_init sort "$@"
pm_find SORT sort
pm_find AWK awk
cd "$PM_WORK" || pm_fail "cd"

"$AWK" 'BEGIN { srand(42); for (i = 0; i < 200000; i++)
    printf "%d %s %06d\n", int(rand() * 1000000),
        substr("abcdefghijklmnopqrstuvwxyz", int(rand() * 26) + 1, int(rand() * 10) + 1), i }' >in.txt ||
    pm_fail "could not generate the input"
[ "$(wc -l <in.txt)" -eq 200000 ] || pm_fail "generated input is not 200000 lines"

mkdir tmp-ref tmp-pm
for n in 1 2 3 4 5; do
    case $n in
    1) set -- ;;
    2) set -- -n -k1,1 -k3,3r ;;
    3) set -- -u -k2,2 ;;
    4) set -- -S 1M ;;
    5) set -- -t ' ' -k2,2 -k1,1n --parallel=2 ;;
    esac
    "$SORT" "$@" -T tmp-ref in.txt >ref.$n 2>ref.err || pm_fail "reference sort $* failed"
    if [ $n -eq 1 ]; then
        pm_pre_traced sort "$SORT" "$@" -T tmp-pm in.txt >out.$n 2>err.$n
    else
        pm_pre "$SORT" "$@" -T tmp-pm in.txt >out.$n 2>err.$n
    fi
    rc=$?
    [ $rc -eq 0 ] || { cat err.$n >&2; pm_fail "sort $* exited with status $rc under poolmalloc"; }
    pm_expect_no_stderr err.$n
    cmp -s ref.$n out.$n || pm_fail "sort $* under poolmalloc differs from the reference"
    echo "sort $*: $(wc -l <out.$n) lines, identical to the reference"
done
"$SORT" -c ref.1 || pm_fail "reference output not sorted?"
[ "$(wc -l <out.1)" -eq 200000 ] || pm_fail "plain sort lost lines"
[ "$(wc -l <out.3)" -lt 200000 ] || pm_fail "sort -u kept every line"
pm_check_bindings sort
# Small-allocation counts (LC_ALL=C): about 10 per plain run, about 100
# with -S 1M (temporary files).
for n in 1 2 3 5; do pm_check_stats err.$n 5; done
pm_check_stats err.4 50
exit 0
