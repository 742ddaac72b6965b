#!/bin/sh
# sqlite3.sh LIB -- the sqlite3 shell on poolmalloc runs sqlite_workload.sql
# on a file database (WAL): 100k rows inserted in one transaction, an index,
# aggregates, a join, an update, a delete, an integrity check.  The output
# must equal that of a run without the preload, and contain the known row
# counts; the stats must show sqlite's allocations went to poolmalloc.
. "$(dirname "$0")/pm_common.sh"
pm_init sqlite3 "$@"
pm_find SQLITE sqlite3
cd "$PM_WORK" || pm_fail "cd"

"$SQLITE" ref.db <"$PM_DIR/sqlite_workload.sql" >ref.out 2>ref.err ||
    { cat ref.err >&2; pm_fail "reference run failed"; }
pm_pre "$SQLITE" pm.db <"$PM_DIR/sqlite_workload.sql" >out 2>err
rc=$?
[ $rc -eq 0 ] || { cat err >&2; pm_fail "sqlite3 exited with status $rc"; }
pm_expect_no_stderr err
if ! cmp -s ref.out out; then
    diff ref.out out | head -20 >&2
    pm_fail "output differs from the run without the preload"
fi
grep -q '^100000|' out || pm_fail "the 100000 inserted rows are not all there"
grep -q '^98969|4948532992|96$' out || pm_fail "wrong result after the update and delete"
[ "$(tail -n 1 out)" = ok ] || pm_fail "integrity_check did not say ok"
echo "sqlite3 output identical to the reference ($(wc -l <out) lines)"
pm_check_stats err 100000

# The database written under poolmalloc reads back, without it, the same
# as the reference database.
q='SELECT count(*), sum(id), sum(length(name)), sum(val) FROM t; PRAGMA integrity_check;'
"$SQLITE" ref.db "$q" >check.ref 2>&1 || pm_fail "reading back the reference database failed"
"$SQLITE" pm.db "$q" >check.out 2>&1 || pm_fail "reading back the database failed"
cmp -s check.ref check.out ||
    pm_fail "database written under poolmalloc reads back as '$(cat check.out)', want '$(cat check.ref)'"
exit 0
