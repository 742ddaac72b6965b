#!/bin/sh
# cc.sh LIB -- the C compiler driver and everything it runs (cc1, as,
# collect2, ld inherit LD_PRELOAD) compile cc_input.c on poolmalloc:
#  1. cc -O2 -c under poolmalloc must produce the very same object file as
#     cc -O2 -c without it;
#  2. cc -O2 compiling and linking under poolmalloc must produce a program
#     whose output (run without the preload) equals cc_input.expected;
#  3. the stats of the preloaded compilers show cc1's allocations went to
#     poolmalloc (one totals line per process).
. "$(dirname "$0")/pm_common.sh"
pm_init cc "$@"
pm_find CC cc gcc

cp "$PM_DIR/cc_input.c" "$PM_WORK/cc_input.c" || pm_fail "copy"
cd "$PM_WORK" || pm_fail "cd"

"$CC" -O2 -Wall -c cc_input.c -o ref.o 2>ref.err || { cat ref.err >&2; pm_fail "reference compile failed"; }
pm_pre "$CC" -O2 -Wall -c cc_input.c -o pm.o 2>c.err
rc=$?
[ $rc -eq 0 ] || { cat c.err >&2; pm_fail "$CC -c exited with status $rc under poolmalloc"; }
pm_expect_no_stderr c.err
cmp ref.o pm.o || pm_fail "object file compiled under poolmalloc differs from the reference"
echo "object file identical to the reference ($(wc -c <pm.o) bytes)"
pm_check_stats c.err 50000 3

pm_compile_link_run "$CC"   # cc_input.c, linked, run, output checked; stderr in link.err
# gcc, cc1, as, collect2, ld: at least the driver, cc1, as and the linker.
pm_check_stats link.err 50000 4
exit 0
