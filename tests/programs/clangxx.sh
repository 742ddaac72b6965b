#!/bin/sh
# clangxx.sh LIB -- clang++ (Debian clang) compiling and linking a C++
# program on poolmalloc, and the program (built by clang -O2, so it stores
# with movaps/movdqa right after operator new) running on it:
#  1. clang++ -O2 -c clangxx_input.cpp under poolmalloc gives the very same
#     object file as without it;
#  2. clang++ -O2 compiling and linking under poolmalloc gives a program
#     whose output equals clangxx_input.expected, run without the preload
#     and run with it;
#  3. the stats show the compiler's and the program's allocations went to
#     poolmalloc, and the binding traces show operator new of libLLVM,
#     libclang-cpp and of the compiled program (and libstdc++'s own calls)
#     bound to libpoolmalloc.
. "$(dirname "$0")/pm_common.sh"
pm_init clangxx "$@"
pm_find CLANGXX clang++ clang++-14 /usr/lib/llvm-14/bin/clang++

cp "$PM_DIR/clangxx_input.cpp" "$PM_WORK/input.cpp" || pm_fail "copy"
cd "$PM_WORK" || pm_fail "cd"
"$CLANGXX" --version | head -n 1

"$CLANGXX" -O2 -Wall -c input.cpp -o ref.o 2>ref.err || { cat ref.err >&2; pm_fail "reference compile failed"; }
pm_pre_traced c "$CLANGXX" -O2 -Wall -c input.cpp -o pm.o 2>c.err
rc=$?
[ $rc -eq 0 ] || { cat c.err >&2; pm_fail "$CLANGXX -O2 -c exited with status $rc under poolmalloc"; }
pm_expect_no_stderr c.err
cmp ref.o pm.o || pm_fail "object file compiled under poolmalloc differs from the reference"
echo "clang++ -O2 -c: object file identical to the reference ($(wc -c <pm.o) bytes)"
pm_check_stats c.err 100000 1
pm_check_new_bindings c libLLVM libclang-cpp

pm_pre "$CLANGXX" -O2 -Wall -o prog input.cpp 2>link.err
rc=$?
[ $rc -eq 0 ] || { cat link.err >&2; pm_fail "$CLANGXX (compile and link) exited with status $rc under poolmalloc"; }
pm_expect_no_stderr link.err
pm_check_stats link.err 100000 2
[ -x prog ] || pm_fail "no program produced"

./prog >prog.out 2>prog.err
rc=$?
[ $rc -eq 0 ] || { cat prog.err >&2; pm_fail "the compiled program exited with status $rc"; }
if ! cmp -s prog.out "$PM_DIR/clangxx_input.expected"; then
    diff "$PM_DIR/clangxx_input.expected" prog.out >&2
    pm_fail "the compiled program's output differs from clangxx_input.expected"
fi
echo "compiled program output correct"

pm_pre_traced prog ./prog >prog-pm.out 2>prog-pm.err
rc=$?
[ $rc -eq 0 ] || { cat prog-pm.err >&2; pm_fail "the compiled program exited with status $rc under poolmalloc"; }
pm_expect_no_stderr prog-pm.err
if ! cmp -s prog-pm.out "$PM_DIR/clangxx_input.expected"; then
    diff "$PM_DIR/clangxx_input.expected" prog-pm.out >&2
    pm_fail "under poolmalloc, the compiled program's output differs from clangxx_input.expected"
fi
echo "compiled program output correct under poolmalloc"
pm_check_stats prog-pm.err 50000 1
pm_check_new_bindings prog /prog libstdc++
exit 0
