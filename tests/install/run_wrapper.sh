#!/bin/sh
# run_wrapper.sh WRAPPER LIB ALIGN_PROG VERSION -- poolmalloc-run's options
# and its LD_PRELOAD handling, on the build tree's wrapper
# (poolmalloc-run-build): --version, --help, usage errors, --align16,
# --stats-file, --stats-json, --verbose, a call through a symlink, the
# warning about another allocator already in LD_PRELOAD, no second copy of
# our own.  (The installed wrapper, found relative to itself, is checked by
# install_test.sh and install_system.sh.)
set -u
wrapper=${1:?wrapper} lib=${2:?library} align=${3:?align_prog} version=${4:?version}
fail() { echo "FAIL run_wrapper: $*" >&2; exit 1; }
for v in $(env | sed -n 's/^\(POOLMALLOC_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
unset LD_PRELOAD
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# --version: the wrapper's and the library's, which must agree.
out=$("$wrapper" --version) || fail "--version failed"
echo "$out"
[ "$(echo "$out" | sed -n 1p)" = "poolmalloc-run $version" ] || fail "--version first line"
[ "$(echo "$out" | sed -n 2p)" = "library: $(dirname "$lib")/libpoolmalloc.so (version $version)" ] ||
    fail "--version library line"

# --help names every option; usage errors exit 2.
help=$("$wrapper" --help) || fail "--help failed"
for o in --stats --stats-file --stats-json --align16 --verbose --valgrind --version --help; do
    echo "$help" | grep -q -- "$o" || fail "--help does not mention $o"
done
"$wrapper" --frobnicate true 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q '^poolmalloc-run: unknown option --frobnicate' "$tmp/err" || fail "unknown option: rc $rc"
"$wrapper" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q '^usage: poolmalloc-run' "$tmp/err" || fail "no command: rc $rc"
POOLMALLOC_LIBDIR=$tmp/nowhere "$wrapper" true 2>"$tmp/err"; rc=$?
[ $rc -eq 127 ] && grep -q "not found (set POOLMALLOC_LIBDIR)" "$tmp/err" || fail "missing library: rc $rc"

# --align16: every malloc(24) 16-aligned; without it, not all.
with=$("$wrapper" --align16 "$align") || fail "align_prog failed under --align16"
without=$("$wrapper" "$align") || fail "align_prog failed"
echo "with --align16: $with; without: $without"
[ "$with" = "aligned16 200 of 200" ] || fail "--align16: $with"
[ "$without" != "aligned16 200 of 200" ] || fail "without --align16 every block is 16-aligned: the check proves nothing"
"$wrapper" --align16 --verbose true 2>"$tmp/err" || fail "--verbose failed"
grep -q "^poolmalloc: version $version pid [0-9]*: .* MIN_ALIGN=16 VERBOSE=1 " "$tmp/err" ||
    { cat "$tmp/err"; fail "--align16 --verbose line"; }

# --stats-file with %p, --stats-json.
# (sh leaves by _exit, which prints no report: sort, exec'd, keeps the pid.)
"$wrapper" --stats-file="$tmp/st.%p.txt" sh -c 'echo $$ >"$0"; exec sort </dev/null' "$tmp/pid" 2>"$tmp/err" ||
    fail "--stats-file run"
pid=$(cat "$tmp/pid")
grep -q "^poolmalloc: statistics of pid $pid " "$tmp/st.$pid.txt" || { ls "$tmp"; fail "--stats-file: no $tmp/st.$pid.txt"; }
grep -q '^poolmalloc: totals: small-allocs=[1-9]' "$tmp/st.$pid.txt" || fail "--stats-file did not count"
"$wrapper" --stats --stats-json true 2>"$tmp/err" || fail "--stats-json run"
grep -q "^{\"poolmalloc\": \"$version\", \"pid\": [0-9]*, \"counting\": true," "$tmp/err" ||
    { cat "$tmp/err"; fail "--stats-json: no JSON report"; }

# Through a chain of symlinks, from another directory.
mkdir "$tmp/bin" "$tmp/bin2"
ln -s "$wrapper" "$tmp/bin/pmr"
ln -s ../bin/pmr "$tmp/bin2/pmr2"
out=$(printf 'pear\napple\n' | (cd / && "$tmp/bin2/pmr2" --stats sort) 2>"$tmp/err") || fail "via symlink"
[ "$(echo "$out" | tr '\n' ' ')" = "apple pear " ] || fail "via symlink: sort printed '$out'"
grep -q '^poolmalloc: totals: small-allocs=[1-9]' "$tmp/err" || fail "via symlink: no statistics"

# Another allocator in LD_PRELOAD: one warning each (the loader's own
# complaint about the missing file does not matter here).
for other in libjemalloc.so.2 libtcmalloc_minimal.so.4 libmimalloc.so.2.0; do
    LD_PRELOAD="$tmp/$other" "$wrapper" true 2>"$tmp/err"
    grep -q "^poolmalloc-run: warning: LD_PRELOAD already holds $tmp/$other; poolmalloc comes first and serves malloc, so that allocator goes unused$" "$tmp/err" ||
        { cat "$tmp/err"; fail "no warning for $other"; }
done
LD_PRELOAD="$tmp/libsomething.so" "$wrapper" true 2>"$tmp/err"
if grep -q 'poolmalloc-run: warning' "$tmp/err"; then fail "warning for an unrelated library"; fi
# Ours already there: not added a second time, no warning.
n=$(LD_PRELOAD="$lib" "$wrapper" sh -c 'echo "$LD_PRELOAD"' 2>"$tmp/err" | tr ':' '\n' | grep -c libpoolmalloc)
[ "$n" -eq 1 ] || fail "libpoolmalloc $n times in LD_PRELOAD"
[ -s "$tmp/err" ] && { cat "$tmp/err"; fail "stderr with our own library already preloaded"; }
echo "run_wrapper ok"
