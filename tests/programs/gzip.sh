#!/bin/sh
# gzip.sh LIB -- gzip on poolmalloc:
#  1. gzip -c | gunzip -c of a 20 MB generated file, both ends preloaded:
#     the result must equal the input (cmp and md5sum);
#  2. gzip -n -6 -c under poolmalloc must produce byte for byte the stream
#     gzip produces without it;
#  3. gzip -r / gunzip -r over a tree of 300 files (these do allocate: one
#     malloc per file at least) restores the tree exactly.
# Stats: every preloaded gzip prints a totals line; gzip -r / gunzip -r
# must show more than 250 small allocations.
. "$(dirname "$0")/pm_common.sh"
pm_init gzip "$@"
pm_find GZIP gzip
pm_find GUNZIP gunzip
pm_find SEQ seq
cd "$PM_WORK" || pm_fail "cd"

"$SEQ" -f 'line %06g of the generated gzip input, some text to compress' 1 330000 >in.txt ||
    pm_fail "could not generate the input"
size=$(wc -c <in.txt)
[ "$size" -gt 20000000 ] || pm_fail "input only $size bytes"

# 1. round trip through a pipe, each end preloaded.
{ pm_pre "$GZIP" -c in.txt 2>err.gzip; echo $? >rc.gzip; } |
    { pm_pre "$GUNZIP" -c 2>err.gunzip >out.txt; echo $? >rc.gunzip; }
[ "$(cat rc.gzip)" = 0 ] || { cat err.gzip >&2; pm_fail "gzip -c exited with status $(cat rc.gzip)"; }
[ "$(cat rc.gunzip)" = 0 ] || { cat err.gunzip >&2; pm_fail "gunzip -c exited with status $(cat rc.gunzip)"; }
pm_expect_no_stderr err.gzip
pm_expect_no_stderr err.gunzip
cmp in.txt out.txt || pm_fail "gzip | gunzip round trip changed the data"
[ "$(md5sum <in.txt)" = "$(md5sum <out.txt)" ] || pm_fail "checksums differ"
echo "round trip of $size bytes exact"
pm_check_stats err.gzip -1
pm_check_stats err.gunzip -1

# 2. the compressed stream itself is the reference one.
"$GZIP" -n -6 -c in.txt >ref.gz || pm_fail "reference gzip failed"
pm_pre "$GZIP" -n -6 -c in.txt >pm.gz 2>err.gzip2 || { cat err.gzip2 >&2; pm_fail "gzip -n -6 failed"; }
pm_expect_no_stderr err.gzip2
cmp ref.gz pm.gz || pm_fail "gzip output under poolmalloc differs from the reference"
echo "compressed stream identical to the reference ($(wc -c <pm.gz) bytes)"

# 3. recursive compression of many files.
mkdir -p tree/a tree/b
i=1
while [ $i -le 300 ]; do
    d=a
    [ $((i % 2)) -eq 0 ] && d=b
    "$SEQ" -f "file $i line %g" 1 $((i * 7)) >tree/$d/f$i.txt
    i=$((i + 1))
done
cp -R tree orig
pm_pre "$GZIP" -r tree 2>err.r || { cat err.r >&2; pm_fail "gzip -r failed"; }
pm_expect_no_stderr err.r
[ "$(find tree -name '*.gz' | wc -l)" -eq 300 ] || pm_fail "gzip -r did not compress 300 files"
pm_pre "$GUNZIP" -r tree 2>err.ur || { cat err.ur >&2; pm_fail "gunzip -r failed"; }
pm_expect_no_stderr err.ur
diff -r orig tree >/dev/null || pm_fail "gzip -r / gunzip -r did not restore the tree"
echo "gzip -r / gunzip -r of 300 files exact"
pm_check_stats err.r 250
pm_check_stats err.ur 250
exit 0
