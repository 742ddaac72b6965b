#!/bin/sh
# python.sh LIB -- the Debian python3 (PYTHONMALLOC=malloc, so every object
# comes from malloc) runs python_workload.py (dicts, lists, a sort of 100k
# items, strings, a class hierarchy, a json round trip, re, 4 threads of
# dict churn) on poolmalloc.  Its output must equal python_workload.expected,
# and the stats must show the interpreter's allocations went to poolmalloc.
. "$(dirname "$0")/pm_common.sh"
pm_init python "$@"
pm_find PY /usr/bin/python3 python3

PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
    pm_pre "$PY" -s "$PM_DIR/python_workload.py" >"$PM_WORK/out" 2>"$PM_WORK/err"
rc=$?
[ $rc -eq 0 ] || { cat "$PM_WORK/err" >&2; pm_fail "$PY exited with status $rc"; }
pm_expect_no_stderr "$PM_WORK/err"
if ! cmp -s "$PM_WORK/out" "$PM_DIR/python_workload.expected"; then
    diff "$PM_DIR/python_workload.expected" "$PM_WORK/out" | head -40 >&2
    pm_fail "output differs from python_workload.expected"
fi
echo "python workload output correct ($(wc -l <"$PM_WORK/out") lines)"
pm_check_stats "$PM_WORK/err" 100000

# The standard library's own test machinery, briefly: unittest + doctest.
cat >"$PM_WORK/t_small.py" <<'PYEOF'
import collections, doctest, unittest

def mean(xs):
    """
    >>> mean([1, 2, 3, 4])
    2.5
    """
    return sum(xs) / len(xs)

class T(unittest.TestCase):
    def test_counter(self):
        c = collections.Counter("abracadabra" * 1000)
        self.assertEqual(c.most_common(2), [("a", 5000), ("b", 2000)])
    def test_deque(self):
        d = collections.deque(range(100000), maxlen=1000)
        self.assertEqual(sum(d), sum(range(99000, 100000)))
    def test_doctest(self):
        self.assertEqual(doctest.testmod(verbose=False).failed, 0)

unittest.main(verbosity=0)
PYEOF
PYTHONMALLOC=malloc pm_pre "$PY" -s "$PM_WORK/t_small.py" >"$PM_WORK/out2" 2>"$PM_WORK/err2"
rc=$?
[ $rc -eq 0 ] || { cat "$PM_WORK/err2" >&2; pm_fail "unittest run exited with status $rc"; }
grep -q '^Ran 3 tests' "$PM_WORK/err2" && grep -q '^OK$' "$PM_WORK/err2" || {
    cat "$PM_WORK/err2" >&2
    pm_fail "unittest did not report 3 tests OK"
}
pm_check_stats "$PM_WORK/err2" 10000
exit 0
