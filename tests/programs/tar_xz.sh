#!/bin/sh
# tar_xz.sh LIB -- GNU tar and xz on poolmalloc (tar runs xz through the
# shell; all of them are preloaded):
#  1. tar --sort=name -cf of a 200-file tree under poolmalloc is byte for
#     byte the archive tar makes without it;
#  2. tar -cf with xz -2 compression, xz -t, then tar -xf with xz -d, all
#     preloaded, restore the tree exactly;
#  3. xz -2 -T1 -c of a 5 MB file under poolmalloc equals the reference
#     stream, and xz -d -c under poolmalloc restores the file.
# Proof that poolmalloc served them: the stats reports (tar and xz close
# stderr at exit; poolmalloc reports to the stderr it had at start-up) and
# the dynamic linker's binding trace.
. "$(dirname "$0")/pm_common.sh"
pm_init tar_xz "$@"
pm_find TAR tar
pm_find XZ xz
pm_find SEQ seq
cd "$PM_WORK" || pm_fail "cd"
"$TAR" --version | head -n 1 | grep -q 'GNU tar' || pm_skip "tar is not GNU tar"

mkdir -p src/a/b src/c
i=1
while [ $i -le 200 ]; do
    case $((i % 3)) in 0) d=src ;; 1) d=src/a/b ;; *) d=src/c ;; esac
    "$SEQ" -f "entry $i, line %g" 1 $((i * 11)) >$d/file$i.txt
    touch -d '2020-01-02 03:04:05' $d/file$i.txt
    i=$((i + 1))
done
touch -d '2020-01-02 03:04:05' src src/a src/a/b src/c

# 1.
"$TAR" --sort=name --owner=0 --group=0 -cf ref.tar -C src . || pm_fail "reference tar failed"
pm_pre_traced tar "$TAR" --sort=name --owner=0 --group=0 -cf pm.tar -C src . 2>err.tar
rc=$?
[ $rc -eq 0 ] || { cat err.tar >&2; pm_fail "tar -cf exited with status $rc"; }
pm_expect_no_stderr err.tar
cmp ref.tar pm.tar || pm_fail "archive made under poolmalloc differs from the reference"
echo "tar archive identical to the reference ($(wc -c <pm.tar) bytes)"

# 2.
pm_pre "$TAR" --sort=name -I "$XZ -2 -T1" -cf pm.tar.xz -C src . 2>err.txz
rc=$?
[ $rc -eq 0 ] || { cat err.txz >&2; pm_fail "tar -cf with xz exited with status $rc"; }
pm_expect_no_stderr err.txz
pm_pre "$XZ" -t pm.tar.xz 2>err.xzt || { cat err.xzt >&2; pm_fail "xz -t rejects the archive"; }
pm_expect_no_stderr err.xzt
mkdir dst
pm_pre "$TAR" -I "$XZ -d" -xf pm.tar.xz -C dst 2>err.x
rc=$?
[ $rc -eq 0 ] || { cat err.x >&2; pm_fail "tar -xf with xz -d exited with status $rc"; }
pm_expect_no_stderr err.x
diff -r src dst >/dev/null || pm_fail "extracted tree differs from the original"
echo "tar+xz round trip of 200 files exact"

# 3.
"$SEQ" -f 'xz input line %g' 1 300000 >big.txt
"$XZ" -2 -T1 -c big.txt >ref.xz || pm_fail "reference xz failed"
pm_pre_traced xz "$XZ" -2 -T1 -c big.txt >pm.xz 2>err.xz
rc=$?
[ $rc -eq 0 ] || { cat err.xz >&2; pm_fail "xz exited with status $rc"; }
pm_expect_no_stderr err.xz
cmp ref.xz pm.xz || pm_fail "xz stream made under poolmalloc differs from the reference"
pm_pre "$XZ" -d -c pm.xz >back.txt 2>err.xzd || { cat err.xzd >&2; pm_fail "xz -d failed"; }
pm_expect_no_stderr err.xzd
cmp big.txt back.txt || pm_fail "xz -d did not restore the file"
echo "xz stream identical to the reference and decompresses exactly"

pm_check_bindings tar
pm_check_bindings xz
# tar itself makes about 1000 small allocations; xz alone fewer than 10.
for f in err.tar err.txz err.x; do pm_check_stats $f 100; done
# with -I, tar runs the compressor as a second process
pm_check_stats err.txz 0 2
pm_check_stats err.x 0 2
for f in err.xzt err.xz err.xzd; do pm_check_stats $f 0; done
exit 0
