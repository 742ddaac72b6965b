#!/bin/sh
# perl.sh LIB -- perl (Debian's perl uses the system malloc) runs
# perl_workload.pl on poolmalloc: a 200k-key hash, regexes, sorts, join/
# split, nested structures.  The output must equal perl_workload.expected
# and the output of the same script run without the preload; the stats
# must show perl's allocations went to poolmalloc.
. "$(dirname "$0")/pm_common.sh"
pm_init perl "$@"
pm_find PERL /usr/bin/perl perl

"$PERL" "$PM_DIR/perl_workload.pl" >"$PM_WORK/ref" 2>"$PM_WORK/ref.err" ||
    { cat "$PM_WORK/ref.err" >&2; pm_fail "reference run failed"; }
pm_pre "$PERL" "$PM_DIR/perl_workload.pl" >"$PM_WORK/out" 2>"$PM_WORK/err"
rc=$?
[ $rc -eq 0 ] || { cat "$PM_WORK/err" >&2; pm_fail "$PERL exited with status $rc"; }
pm_expect_no_stderr "$PM_WORK/err"
if ! cmp -s "$PM_WORK/out" "$PM_DIR/perl_workload.expected"; then
    diff "$PM_DIR/perl_workload.expected" "$PM_WORK/out" >&2
    pm_fail "output differs from perl_workload.expected"
fi
cmp -s "$PM_WORK/out" "$PM_WORK/ref" || pm_fail "output differs from the run without the preload"
echo "perl workload output correct"
pm_check_stats "$PM_WORK/err" 100000

# A one-liner too: word counts through a pipe-free -e script.
pm_pre "$PERL" -e 'my %c; $c{$_ % 1000}++ for 1 .. 300000; my @k = sort { $c{$b} <=> $c{$a} || $a <=> $b } keys %c;
    print join(",", @k[0 .. 4]), " ", scalar(@k), " ", $c{0}, "\n"' >"$PM_WORK/out2" 2>"$PM_WORK/err2" ||
    { cat "$PM_WORK/err2" >&2; pm_fail "one-liner failed"; }
[ "$(cat "$PM_WORK/out2")" = "0,1,2,3,4 1000 300" ] || pm_fail "one-liner printed '$(cat "$PM_WORK/out2")'"
pm_check_stats "$PM_WORK/err2" 1000
exit 0
