#!/bin/sh
# hot-text.sh BUILD_DIR > preload/hot-text.ld
#
# Writes the linker script that lays out libpoolmalloc.so's hot text
# (preload/hot-text.ld, where the reason is): the library's functions that
# real programs run, first those that every program runs.  Each program
# below runs once under callgrind (valgrind) with BUILD_DIR's library
# preloaded (children traced); a function's rank is the number of runs
# that executed it.  BUILD_DIR must hold a Release build of the library
# and, for the workload runs, bench/pm_bench; python3, sqlite3, cc and c++
# are used where installed.  Takes a few minutes.
set -eu
build=$(cd "${1:?usage: tools/hot-text.sh BUILD_DIR > preload/hot-text.ld}" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
lib=$build/libpoolmalloc.so
[ -f "$lib" ] || { echo "hot-text.sh: $lib not found" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "hot-text.sh: valgrind not found" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0

# run NAME CMD...: one program, and its children, under callgrind
run() {
    n=$((n + 1))
    name=$(printf '%s' "$1" | tr -c 'A-Za-z0-9_-' '_')
    shift
    LD_PRELOAD=$lib valgrind --tool=callgrind --trace-children=yes --demangle=no \
        --callgrind-out-file="$work/cg.$n.$name.%p" "$@" >/dev/null 2>&1 </dev/null ||
        echo "hot-text.sh: $name failed (its coverage is kept)" >&2
}

if [ -x "$build/bench/pm_bench" ]; then
    for w in 'fixed/64$' 'fixed/4096$' 'fixed/65536$' random_mix object_churn batch_lifo \
             realloc_append realloc_double request_buffers live_buffers calloc aligned \
             cxx_objects big_churn larson_server producer_consumer xmalloc_batches rptest_mix \
             thread_churn false_sharing_active locality_fresh; do
        run "bench-$w" "$build/bench/pm_bench" --benchmark_filter="$w" --benchmark_min_time=0.001
    done
fi
if command -v python3 >/dev/null; then
    PYTHONMALLOC=malloc run python3 python3 "$here/scripts/demo-workload.py"
fi
if command -v sqlite3 >/dev/null; then
    run sqlite3 sqlite3 :memory: "create table t(a, b); with recursive c(x) as (select 1 union all
        select x + 1 from c where x < 20000) insert into t select x, hex(randomblob(40)) from c;
        create index i on t(b); select count(*), sum(length(b)) from t;"
fi
printf '#include <stdio.h>\nint main(void) { puts("hot"); return 0; }\n' >"$work/t.c"
printf '#include <map>\n#include <string>\nint main() { std::map<int, std::string> m; m[1] = "x"; return (int)m.size() - 1; }\n' >"$work/t.cpp"
command -v cc >/dev/null && run cc cc -O2 -c "$work/t.c" -o "$work/t.o"
command -v c++ >/dev/null && run c++ c++ -O2 -c "$work/t.cpp" -o "$work/tcpp.o"

# One line per (run, function) executed in the library; ".cold" parts of
# functions are left where the compiler put them (.text.unlikely), and
# crtbeginS.o's functions (callgrind names them by address) are placed
# by file below.
for f in "$work"/cg.*; do
    callgrind_annotate --threshold=100 "$f" 2>/dev/null |
        sed -n 's/.*???:\([^ ]*\) \[.*libpoolmalloc.*/\1/p' | grep -v -e '\.cold$' -e '^0x' | sort -u
done | sort | uniq -c | sort -k1,1nr -k2,2 >"$work/ranked"
[ -s "$work/ranked" ] || { echo "hot-text.sh: no coverage collected" >&2; exit 1; }

cat <<EOF
/* preload/hot-text.ld -- written by tools/hot-text.sh from $(ls "$work" | grep -c '^cg\.') runs; do not edit.
 *
 * The library's hot text: the functions the programs of tools/hot-text.sh
 * ran, those that most of them ran first, ahead of the rest of .text (see
 * CMakeLists.txt, where it is linked in, and docs/DESIGN.md, "Text
 * layout").  A function missing here only lies elsewhere in .text. */
SECTIONS
{
  .text.pm_hot :
  {
    /* crtbeginS.o's frame_dummy and __do_global_dtors_aux run in every
     * process (init and fini arrays), and so does _fini (DT_FINI): its
     * two pieces, crti.o's and crtn.o's, stay in link order. */
    *crtbeginS.o(.text .text.*)
    KEEP (*(SORT_NONE(.fini)))
    /* the constructor and destructor (.text.startup, .text.exit) */
    *(.text.startup .text.startup.* .text.exit .text.exit.*)
    /* pthread_atfork's stub (libc_nonshared.a), called at the first malloc */
    *libc_nonshared.a:*(.text .text.*)
EOF
# A function's section is named after its body (-ffunction-sections), and
# callgrind may name it by an alias (_ZdaPv for _ZdlPv): each line lists
# every name the library has at that address.
nm "$lib" | awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' >"$work/names"
awk 'NR == FNR { at[$2] = $1; names[$1] = names[$1] " .text." $2; next }
     ($2 in at) && !seen[at[$2]]++ { printf "    *(%s)   /* %d */\n", substr(names[at[$2]], 2), $1 }' \
    "$work/names" "$work/ranked"
cat <<'EOF'
  }
}
INSERT BEFORE .text;
EOF
