#!/bin/sh
# llc.sh LIB -- LLVM's static compiler (Debian llvm-14: llc) compiling
# llc_input.ll on poolmalloc (llc died with SIGSEGV in its pass set-up on
# 8-aligned operator new blocks):
#  1. llc -O2 to assembly and to an object under poolmalloc gives the very
#     same files as without it;
#  2. that object linked with llc_main.c (by cc, without the preload) gives
#     a program whose output equals llc_input.expected;
#  3. the stats show llc's allocations went to poolmalloc, and the binding
#     trace shows libLLVM's operator new bound to libpoolmalloc.
. "$(dirname "$0")/pm_common.sh"
pm_init llc "$@"
pm_find LLC llc llc-14 /usr/lib/llvm-14/bin/llc
pm_find CC cc gcc clang

cd "$PM_WORK" || pm_fail "cd"
"$LLC" --version | grep -i 'llvm version' | head -n 1 | sed 's/^ *//'

"$LLC" -O2 -relocation-model=pic "$PM_DIR/llc_input.ll" -o ref.s 2>ref.err || { cat ref.err >&2; pm_fail "reference llc failed"; }
"$LLC" -O2 -relocation-model=pic -filetype=obj "$PM_DIR/llc_input.ll" -o ref.o 2>>ref.err || { cat ref.err >&2; pm_fail "reference llc failed"; }
pm_pre_traced s "$LLC" -O2 -relocation-model=pic "$PM_DIR/llc_input.ll" -o pm.s 2>s.err
rc=$?
[ $rc -eq 0 ] || { cat s.err >&2; pm_fail "$LLC -O2 exited with status $rc under poolmalloc"; }
pm_expect_no_stderr s.err
pm_pre "$LLC" -O2 -relocation-model=pic -filetype=obj "$PM_DIR/llc_input.ll" -o pm.o 2>o.err
rc=$?
[ $rc -eq 0 ] || { cat o.err >&2; pm_fail "$LLC -O2 -filetype=obj exited with status $rc under poolmalloc"; }
pm_expect_no_stderr o.err
cmp ref.s pm.s || pm_fail "assembly produced under poolmalloc differs from the reference"
cmp ref.o pm.o || pm_fail "object file produced under poolmalloc differs from the reference"
echo "llc -O2: assembly and object identical to the reference"
pm_check_stats s.err 5000 1
pm_check_stats o.err 5000 1
pm_check_new_bindings s libLLVM

"$CC" -O2 -o prog "$PM_DIR/llc_main.c" pm.o 2>cc.err || { cat cc.err >&2; pm_fail "linking the llc object failed"; }
./prog >prog.out 2>prog.err || { cat prog.err >&2; pm_fail "the linked program failed"; }
if ! cmp -s prog.out "$PM_DIR/llc_input.expected"; then
    diff "$PM_DIR/llc_input.expected" prog.out >&2
    pm_fail "the program's output differs from llc_input.expected"
fi
echo "program built from llc's object: output correct"
exit 0
