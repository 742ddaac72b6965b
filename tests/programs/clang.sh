#!/bin/sh
# clang.sh LIB -- the clang C compiler (Debian clang: the driver runs cc1
# in-process on libclang-cpp and libLLVM, then the linker) on poolmalloc.
# LLVM's C++ code, built by clang, stores with movaps right after operator
# new and died with SIGSEGV on 8-aligned blocks.
#  1. clang -c of an empty C file under poolmalloc succeeds and gives the
#     same object file as without it;
#  2. clang -O2 -c cc_input.c under poolmalloc gives the very same object
#     file as without it;
#  3. clang -O2 compiling and linking cc_input.c under poolmalloc gives a
#     program whose output (run without the preload) equals cc_input.expected;
#  4. the stats show the compiler's allocations went to poolmalloc, and the
#     binding trace shows malloc & co and operator new of libLLVM and
#     libclang-cpp bound to libpoolmalloc.
. "$(dirname "$0")/pm_common.sh"
pm_init clang "$@"
pm_find CLANG clang clang-14 /usr/lib/llvm-14/bin/clang

cp "$PM_DIR/cc_input.c" "$PM_WORK/cc_input.c" || pm_fail "copy"
cd "$PM_WORK" || pm_fail "cd"
"$CLANG" --version | head -n 1

: >empty.c
"$CLANG" -c empty.c -o empty-ref.o 2>ref.err || { cat ref.err >&2; pm_fail "reference compile of an empty file failed"; }
pm_pre "$CLANG" -c empty.c -o empty.o 2>empty.err
rc=$?
[ $rc -eq 0 ] || { cat empty.err >&2; pm_fail "$CLANG -c of an empty file exited with status $rc under poolmalloc"; }
pm_expect_no_stderr empty.err
cmp empty-ref.o empty.o || pm_fail "object of the empty file differs from the reference"
echo "clang -c of an empty file: same object as the reference"
pm_check_stats empty.err 1000 1

"$CLANG" -O2 -Wall -c cc_input.c -o ref.o 2>ref.err || { cat ref.err >&2; pm_fail "reference compile failed"; }
pm_pre_traced c "$CLANG" -O2 -Wall -c cc_input.c -o pm.o 2>c.err
rc=$?
[ $rc -eq 0 ] || { cat c.err >&2; pm_fail "$CLANG -O2 -c exited with status $rc under poolmalloc"; }
pm_expect_no_stderr c.err
cmp ref.o pm.o || pm_fail "object file compiled under poolmalloc differs from the reference"
echo "clang -O2 -c: object file identical to the reference ($(wc -c <pm.o) bytes)"
pm_check_stats c.err 50000 1
pm_check_bindings c
pm_check_new_bindings c libLLVM libclang-cpp

pm_compile_link_run "$CLANG"   # cc_input.c, linked, run, output checked; stderr in link.err
# The driver (with cc1 in it) and the linker.
pm_check_stats link.err 50000 2
exit 0
