#!/bin/sh
# report.sh LIB PROG VERSION MODE -- the statistics a person or a program
# reads, checked on report_prog (report_prog.c) run with LD_PRELOAD=LIB.
#   text      POOLMALLOC_STATS=1: the report at exit: first line names the
#             pid and VERSION; in use / peak / in pages / mapped / cached /
#             resident lines in bytes with a unit that matches the bytes;
#             class table; totals line
#   off       malloc_stats() without counting: says counting is off, shows
#             mapped bytes, no class table, no totals line
#   twice     two reports in a row agree (formatting allocates nothing),
#             text and JSON
#   json      pm_stats_print_json and the JSON report at exit to
#             POOLMALLOC_STATS_FILE (%p): valid JSON with the right figures
#   file      POOLMALLOC_STATS_FILE: absolute and relative paths, %p and %%,
#             nothing on stderr; an unwritable path falls back to stderr
#   info      malloc_info: glibc's XML elements, well formed
#   mallinfo  mallinfo2().uordblks counts small, medium and large blocks,
#             with and without counting
#   exit_     a program leaving by _exit prints no report (documented)
#   closed    a program that closed stdout and stderr still gets its report
set -u
lib=${1:?library} prog=${2:?program} version=${3:?version} mode=${4:?mode}
fail() { echo "FAIL report ($mode): $*" >&2; exit 1; }
[ -f "$lib" ] || fail "no library at $lib"
unset LD_PRELOAD POOLMALLOC_STATS POOLMALLOC_STATS_FILE POOLMALLOC_STATS_JSON POOLMALLOC_VERBOSE
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm-report.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
run() { LD_PRELOAD=$lib "$prog" "$@" >"$tmp/out" 2>"$tmp/err"; }
show() { echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; }
need_python() {
    command -v python3 >/dev/null 2>&1 || { echo "python3 not found: skipped"; exit 77; }
}

# check_units FILE: every totals line "LABEL  N.D UNIT  (BYTES bytes" has a
# human figure that is BYTES in that unit, rounded down to one decimal.
check_units() {
    grep -E '^poolmalloc:   [a-z ]+ +[0-9.]+ (B|KiB|MiB|GiB|TiB)  \([0-9]+ bytes' "$1" |
        awk '{
            line = $0
            sub(/^poolmalloc:   [a-z ]+ +/, "", line)
            split(line, f, " ")
            human = f[1]; u = f[2]; b = f[3]; sub(/^\(/, "", b); bytes = b + 0
            m = 1
            if (u == "KiB") m = 1024
            if (u == "MiB") m = 1048576
            if (u == "GiB") m = 1073741824
            if (u == "TiB") m = 1099511627776
            whole = int(bytes / m)
            want = (m == 1) ? sprintf("%d", bytes) : sprintf("%d.%d", whole, int((bytes - whole * m) * 10 / m))
            if (want != human || (m > 1 && bytes < m) || bytes >= 1024 * m) {
                print "unit mismatch: " $0 " (want " want " " u ")"; bad = 1
            }
            n++
        }
        END { if (bad || n == 0) exit 1 }' || fail "totals with wrong units in $1"
}

case $mode in
text)
    POOLMALLOC_STATS=1 run version || { show; fail "program failed"; }
    show
    pid=$(sed -n 's/^version .* pid \([0-9]*\)$/\1/p' "$tmp/out")
    first=$(head -n 1 "$tmp/err")
    [ "$first" = "poolmalloc: statistics of pid $pid (poolmalloc $version; counting blocks)" ] ||
        fail "first line is '$first' (pid $pid, version $version)"
    for label in 'in use' 'peak' 'in pages' 'mapped' 'cached' 'resident'; do
        grep -Eq "^poolmalloc:   $label +[0-9.]+ (B|KiB|MiB|GiB|TiB)  \\([0-9]+ bytes" "$tmp/err" ||
            fail "no '$label' total with units"
    done
    check_units "$tmp/err"
    grep -q '^poolmalloc: class  size ' "$tmp/err" || fail "no class table"
    grep -Eq '^poolmalloc: totals: small-allocs=[1-9][0-9]* small-frees=[0-9]+ large-allocs=[0-9]+ large-frees=[0-9]+ medium-allocs=[0-9]+ medium-frees=[0-9]+$' "$tmp/err" ||
        fail "no totals line"
    if grep -v '^poolmalloc: ' "$tmp/err" | grep -q .; then fail "stderr lines without the prefix"; fi
    ;;
off)
    run twice || { show; fail "program failed"; }
    show
    n=$(grep -c '^poolmalloc: statistics of pid [0-9]* (poolmalloc [0-9.]*; counting is off: POOLMALLOC_STATS=1 counts blocks' "$tmp/err")
    [ "$n" -eq 2 ] || fail "$n reports say counting is off, want 2"
    grep -q '^poolmalloc:   in use    not counted' "$tmp/err" || fail "in use not marked as not counted"
    grep -Eq '^poolmalloc:   mapped +[0-9.]+ (KiB|MiB)  \([1-9][0-9]* bytes' "$tmp/err" || fail "no mapped bytes"
    grep -Eq '^poolmalloc:   in pages +[0-9.]+ (KiB|MiB)  \([1-9][0-9]* bytes' "$tmp/err" || fail "no bytes in pages"
    grep -Eq '^poolmalloc:   cached ' "$tmp/err" || fail "no cached line"
    grep -Eq '^poolmalloc:   resident +[0-9.]+ (KiB|MiB|GiB)' "$tmp/err" || fail "no resident line"
    check_units "$tmp/err"
    if grep -q '^poolmalloc: totals:' "$tmp/err"; then fail "a totals line of zeros without counting"; fi
    if grep -q '^poolmalloc: class ' "$tmp/err"; then fail "a class table without counting"; fi
    if grep -q '^poolmalloc:   peak' "$tmp/err"; then fail "a peak without counting"; fi
    need_python
    python3 - "$tmp/out" <<'EOF' || fail "JSON without counting is wrong"
import json, sys
text = open(sys.argv[1]).read()
dec, docs, i = json.JSONDecoder(), [], 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i < len(text):
        d, i = dec.raw_decode(text, i)
        docs.append(d)
assert len(docs) == 2, docs
for d in docs:
    assert d["counting"] is False, d
    assert d["bytes"]["in_use"] is None and d["bytes"]["peak"] is None, d["bytes"]
    assert d["totals"] is None and d["classes"] == [], d
    assert d["bytes"]["mapped"] > 0 and d["bytes"]["in_pages"] >= 1 << 20, d["bytes"]
print("ok: json without counting")
EOF
    ;;
twice)
    POOLMALLOC_STATS=1 run twice || { show; fail "program failed"; }
    show
    # The two malloc_stats() reports, without the resident line (the
    # process's RSS is not poolmalloc's to keep still), must be the same.
    grep -v '^poolmalloc:   resident' "$tmp/err" | awk -v d="$tmp" '
        /^poolmalloc: statistics of pid/ { n++ }
        n >= 1 && n <= 2 { print > (d "/report" n) }'
    [ -s "$tmp/report1" ] && [ -s "$tmp/report2" ] || fail "two reports expected"
    grep -q '^poolmalloc: totals:' "$tmp/report1" || fail "first report has no totals"
    diff "$tmp/report1" "$tmp/report2" || fail "the second report differs: printing the first allocated"
    need_python
    python3 - "$tmp/out" <<'EOF' || fail "the two JSON reports differ"
import json, sys
text = open(sys.argv[1]).read()
dec, docs, i = json.JSONDecoder(), [], 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i < len(text):
        d, i = dec.raw_decode(text, i)
        docs.append(d)
assert len(docs) == 2, len(docs)
a, b = docs
for d in (a, b):
    del d["bytes"]["resident"], d["bytes"]["resident_peak"]
assert a == b, (a, b)
print("ok: json twice")
EOF
    ;;
json)
    need_python
    POOLMALLOC_STATS=1 run json || { show; fail "program failed"; }
    POOLMALLOC_STATS_JSON=1 POOLMALLOC_STATS_FILE="$tmp/exit.%p.json" run version ||
        { show; fail "program failed"; }
    pid=$(sed -n 's/^version .* pid \([0-9]*\)$/\1/p' "$tmp/out")
    [ -s "$tmp/exit.$pid.json" ] || { ls "$tmp"; fail "no $tmp/exit.$pid.json"; }
    [ -s "$tmp/err" ] && { show; fail "stderr not empty with a statistics file"; }
    LD_PRELOAD=$lib POOLMALLOC_STATS=1 "$prog" json >"$tmp/live.json" 2>/dev/null || fail "program failed"
    python3 - "$tmp/live.json" "$tmp/exit.$pid.json" "$pid" "$version" <<'EOF' || fail "JSON wrong"
import json, sys
live = json.load(open(sys.argv[1]))
at_exit = json.load(open(sys.argv[2]))
pid, version = int(sys.argv[3]), sys.argv[4]
for d in (live, at_exit):
    assert d["poolmalloc"] == version, d["poolmalloc"]
    assert d["counting"] is True
    for section in ("bytes", "arenas", "large", "heaps", "totals"):
        assert isinstance(d[section], dict), section
    b = d["bytes"]
    assert b["in_use"] == b["in_use_small"] + b["in_use_medium"] + b["in_use_large"], b
    assert b["peak"] >= b["in_use"], b
    assert b["in_pages"] == b["in_pools"] + b["in_spans"] + d["large"]["live_bytes"], b
    assert b["mapped"] == b["mapped_arenas"] + b["mapped_large"] + b["mapped_records"], b
    assert b["cached"] == b["cached_arenas"] + b["cached_large"], b
    assert b["in_pages"] >= b["in_use"] - b["in_use_large"], b
    assert all(set(c) == {"class", "size", "allocs", "frees", "current_bytes", "peak_bytes"}
               for c in d["classes"]), d["classes"]
    assert d["totals"]["small_allocs"] == sum(c["allocs"] for c in d["classes"] if c["class"] < 64)
assert at_exit["pid"] == pid, (at_exit["pid"], pid)
b = live["bytes"]
# report_prog json: 280 x 4096 medium, 2048 x 32 small, 1 MiB large, live
assert b["in_use_medium"] >= 280 * 4096 and b["in_use_small"] >= 2048 * 32, b
assert b["in_use_large"] >= 1 << 20 and live["large"]["allocs"] >= 1, b
assert any(c["size"] == 4096 and c["current_bytes"] >= 280 * 4096 for c in live["classes"])
print("ok: json", b["in_use"], "bytes in use")
EOF
    ;;
file)
    POOLMALLOC_STATS_FILE="$tmp/abs.%p.%%.txt" run version || { show; fail "program failed"; }
    pid=$(sed -n 's/^version .* pid \([0-9]*\)$/\1/p' "$tmp/out")
    f="$tmp/abs.$pid.%.txt"
    [ -s "$f" ] || { ls "$tmp"; fail "no $f"; }
    [ -s "$tmp/err" ] && { show; fail "stderr not empty"; }
    head -n 1 "$f" | grep -q "^poolmalloc: statistics of pid $pid " || fail "first line of $f"
    grep -q '^poolmalloc: totals: small-allocs=[1-9]' "$f" ||
        fail "STATS_FILE alone did not turn counting on"
    # Relative: from the working directory at start-up.
    mkdir "$tmp/wd"
    (cd "$tmp/wd" && POOLMALLOC_STATS_FILE=rel.txt LD_PRELOAD=$lib "$prog" version >/dev/null 2>&1) ||
        fail "program failed (relative)"
    [ -s "$tmp/wd/rel.txt" ] || fail "no report in the relative file"
    # POOLMALLOC_STATS=0 wins over the file.
    POOLMALLOC_STATS=0 POOLMALLOC_STATS_FILE="$tmp/zero.txt" run version || fail "program failed"
    [ -e "$tmp/zero.txt" ] && fail "POOLMALLOC_STATS=0 still wrote a report"
    # Unwritable: a message, then the report on stderr.
    POOLMALLOC_STATS_FILE="$tmp/no/such/dir/x.txt" run version || fail "program failed"
    grep -q "^poolmalloc: cannot write the statistics to $tmp/no/such/dir/x.txt (errno [0-9]*); they follow here$" "$tmp/err" ||
        { show; fail "no message for an unwritable file"; }
    grep -q '^poolmalloc: totals:' "$tmp/err" || fail "no report after the message"
    ;;
info)
    need_python
    run info || { show; fail "program failed"; }
    python3 - "$tmp/out" "$version" <<'EOF' || { show; fail "malloc_info XML wrong"; }
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "malloc" and root.get("version") == "1", root.tag
heaps = root.findall("heap")
assert len(heaps) == 1 and heaps[0].get("nr") == "0"
assert heaps[0].find("sizes") is not None
tot = {t.get("type"): t for t in root.findall("total")}
assert set(tot) == {"fast", "rest", "mmap"}, set(tot)
assert int(tot["mmap"].get("count")) >= 1 and int(tot["mmap"].get("size")) >= 1 << 20
system = {t.get("type"): int(t.get("size")) for t in root.findall("system")}
assert system["current"] >= (1 << 20) + 280 * 4096, system
pm = root.find("poolmalloc")
assert pm is not None and pm.get("version") == sys.argv[2]
assert int(pm.get("in_pages")) >= 280 * 4096 + (1 << 20)
print("ok: malloc_info", ET.tostring(pm).decode())
EOF
    ;;
mallinfo)
    run mallinfo || { show; fail "without counting"; }
    cat "$tmp/out"
    POOLMALLOC_STATS=1 run mallinfo || { show; fail "with counting"; }
    cat "$tmp/out"
    ;;
exit_)
    POOLMALLOC_STATS=1 run exit_ || { show; fail "program failed"; }
    if grep -q '^poolmalloc:' "$tmp/err"; then show; fail "a report after _exit"; fi
    ;;
closed)
    POOLMALLOC_STATS=1 run closed || { show; fail "program failed"; }
    grep -q '^poolmalloc: totals: small-allocs=[1-9]' "$tmp/err" ||
        { show; fail "no report after the program closed stderr"; }
    ;;
*)
    fail "unknown mode" ;;
esac
echo "ok: $mode"
