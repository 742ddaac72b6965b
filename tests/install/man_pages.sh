#!/bin/sh
# man_pages.sh SOURCE_DIR VERSION -- docs/man/poolmalloc.3 and
# poolmalloc-run.1: render without a single groff warning (-ww), carry the
# project's version, and name every option: each POOLMALLOC_* variable of
# base/options.c in poolmalloc(3) and README.md, each poolmalloc-run
# option of tools/poolmalloc-run.in in poolmalloc-run(1) and README.md.
# Exit 77 (skipped) without groff.
set -u
src=${1:?source dir} version=${2:?version}
fail() { echo "FAIL man_pages: $*" >&2; exit 1; }
man3=$src/docs/man/poolmalloc.3
man1=$src/docs/man/poolmalloc-run.1
for page in "$man3" "$man1"; do
    [ -s "$page" ] || fail "no $page"
    grep -q "^\.TH .* \"poolmalloc $version\"" "$page" || fail "$page: .TH does not say poolmalloc $version"
done
opts=$(sed -n 's/.*X(PM_OPTION_[A-Z_]*, "\(POOLMALLOC_[A-Z_]*\)", .*/\1/p' "$src/base/options.c")
opts="$opts $(sed -n 's/^#define STATS_FILE_ENV "\(POOLMALLOC_[A-Z_]*\)"/\1/p' "$src/base/options.c")"
[ "$(echo $opts | wc -w)" -ge 8 ] || fail "found only '$opts' in options.c"
for o in $opts; do
    grep -q "^\.B.* $o\b\|^\.BI* $o\|$o" "$man3" || fail "poolmalloc(3) does not document $o"
    grep -q "\`$o\`" "$src/README.md" || fail "README.md does not document $o"
done
runopts=$(sed -n 's/^    \(--[a-z0-9-]*\)[)=|].*/\1/p' "$src/tools/poolmalloc-run.in" | sort -u)
[ "$(echo $runopts | wc -w)" -ge 7 ] || fail "found only '$runopts' in poolmalloc-run.in"
for o in $runopts; do
    esc=$(echo "$o" | sed 's/-/\\\\-/g')
    grep -q -- "$esc" "$man1" || fail "poolmalloc-run(1) does not document $o"
    grep -q -- "$o" "$src/README.md" || fail "README.md does not mention poolmalloc-run $o"
done
echo "options documented: $opts; $runopts"
if ! command -v groff >/dev/null 2>&1; then
    echo "groff not installed: rendering skipped"
    exit 77
fi
for page in "$man3" "$man1"; do
    warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1)
    [ -z "$warn" ] || fail "groff warns about $page:
$warn"
    lines=$(LC_ALL=C.UTF-8 groff -man -Tutf8 "$page" 2>/dev/null | wc -l)
    [ "$lines" -ge 60 ] || fail "$page renders to only $lines lines"
done
echo "man pages ok"
