# pm_common.sh -- helpers sourced by the program drivers in tests/programs.
#
# Each driver is run as `sh DRIVER.sh /path/to/libpoolmalloc.so` (or with no
# argument and LD_PRELOAD naming the library).  It preloads the library
# only into the program under test, runs reference runs without it, checks
# the program's output, and checks the POOLMALLOC_STATS=1 report to prove
# that poolmalloc really served the program's allocations.  Programs such as
# sort, tar and xz close stderr before they exit; poolmalloc writes its
# report to the stderr it had at start-up, so it must appear for them too.
#
#   pm_init NAME "$@"          PM_LIB, scratch directory PM_WORK (removed at exit)
#   pm_find VAR CANDIDATE...   VAR := first CANDIDATE that is executable (a path
#                              or a name on PATH); skip the test (77) if none
#   pm_pre CMD...              run CMD with LD_PRELOAD=$PM_LIB POOLMALLOC_STATS=1
#   pm_check_stats FILE FLOOR [PROCS]
#                              FILE (a stderr capture) holds at least PROCS totals
#                              lines and one of them has small-allocs > FLOOR
#   pm_pre_traced TAG CMD...   pm_pre with LD_DEBUG=bindings into $PM_WORK/ld-TAG.*
#   pm_check_bindings TAG      the traced run bound malloc/free/calloc/realloc of
#                              the program and of libc.so.6 to libpoolmalloc, and
#                              never bound malloc or free to anything else
#   pm_check_new_bindings TAG OBJ...
#                              the traced run bound operator new (_Znwm) of each
#                              OBJ (a file name part: libLLVM, ...) to
#                              libpoolmalloc, and never bound any operator
#                              new/delete form of any object to anything else
#   pm_own_stderr FILE         FILE without the poolmalloc: report lines
#   pm_expect_no_stderr FILE   fail if the program wrote anything else to stderr
#   pm_fail MESSAGE            report and exit 1

pm_fail() {
    echo "FAIL ${PM_NAME:-program}: $*" >&2
    exit 1
}

pm_skip() {
    echo "SKIP ${PM_NAME:-program}: $*" >&2
    exit 77
}

pm_init() {
    PM_NAME=$1
    shift
    PM_LIB=${1:-${LD_PRELOAD:-}}
    unset LD_PRELOAD POOLMALLOC_STATS
    [ -n "$PM_LIB" ] || pm_fail "no library given (argument 1 or LD_PRELOAD)"
    [ -f "$PM_LIB" ] || pm_fail "library $PM_LIB not found"
    case $PM_LIB in
    /*) ;;
    *) PM_LIB=$(pwd)/$PM_LIB ;;
    esac
    PM_DIR=$(cd "$(dirname "$0")" && pwd)
    PM_WORK=$(mktemp -d "${TMPDIR:-/tmp}/pm-$PM_NAME.XXXXXX") || pm_fail "mktemp"
    trap 'rm -rf "$PM_WORK"' EXIT
    trap 'exit 1' HUP INT TERM
    LC_ALL=C
    export LC_ALL
    # Keep the machine usable: stay off the scheduler's back.
    renice -n 5 $$ >/dev/null 2>&1 || :
}

pm_find() {
    pm_var=$1
    shift
    for pm_cand in "$@"; do
        case $pm_cand in
        /*) pm_path=$pm_cand ;;
        *) pm_path=$(command -v "$pm_cand" 2>/dev/null) || pm_path= ;;
        esac
        if [ -n "$pm_path" ] && [ -x "$pm_path" ]; then
            eval "$pm_var=\$pm_path"
            return 0
        fi
    done
    pm_skip "none of '$*' is installed"
}

pm_pre() {
    LD_PRELOAD=$PM_LIB POOLMALLOC_STATS=1 "$@"
}

pm_own_stderr() {
    grep -v '^poolmalloc: ' "$1"
}

pm_expect_no_stderr() {
    if pm_own_stderr "$1" | grep -q .; then
        echo "--- unexpected stderr:" >&2
        pm_own_stderr "$1" | head -20 >&2
        pm_fail "the program wrote to stderr"
    fi
}

pm_check_stats() {
    pm_file=$1
    pm_floor=$2
    pm_procs=${3:-1}
    # Further KEY=N fields (medium-allocs=N ...) may follow the four fields.
    pm_re='^poolmalloc: totals: small-allocs=[0-9]+ small-frees=[0-9]+ large-allocs=[0-9]+ large-frees=[0-9]+( [a-z-]+=[0-9]+)*$'
    pm_n=$(grep -Ec "$pm_re" "$pm_file")
    if [ "$pm_n" -lt "$pm_procs" ]; then
        echo "--- stderr of the preloaded run:" >&2
        head -40 "$pm_file" >&2
        pm_fail "$pm_n poolmalloc totals line(s) in $(basename "$pm_file"), want at least $pm_procs: was the program really running on poolmalloc with POOLMALLOC_STATS=1?"
    fi
    pm_max=$(grep -E "$pm_re" "$pm_file" | sed 's/.* small-allocs=\([0-9]*\) .*/\1/' | sort -n | tail -n 1)
    if [ "$pm_max" -le "$pm_floor" ]; then
        grep -E "$pm_re" "$pm_file" >&2
        pm_fail "largest small-allocs=$pm_max, want more than $pm_floor"
    fi
    echo "stats ($(basename "$pm_file")): $pm_n process(es); largest small-allocs=$pm_max > $pm_floor"
    grep -E "$pm_re" "$pm_file"
}

pm_pre_traced() {
    pm_tag=$1
    shift
    LD_DEBUG=bindings LD_DEBUG_OUTPUT=$PM_WORK/ld-$pm_tag pm_pre "$@"
}

pm_check_bindings() {
    pm_all=$PM_WORK/ld-$1.all
    cat "$PM_WORK/ld-$1".* >"$pm_all" 2>/dev/null || pm_fail "no LD_DEBUG output for $1"
    for pm_sym in malloc free calloc realloc; do
        if ! grep -q "binding file [^ ]* \[0\] to [^ ]*libpoolmalloc[^ ]* \[0\]: normal symbol \`$pm_sym'" "$pm_all"; then
            pm_fail "$1: no binding of $pm_sym to libpoolmalloc (LD_DEBUG=bindings)"
        fi
    done
    for pm_sym in malloc free; do
        if ! grep -q "binding file [^ ]*libc\.so\.6 \[0\] to [^ ]*libpoolmalloc[^ ]* \[0\]: normal symbol \`$pm_sym'" "$pm_all"; then
            pm_fail "$1: libc.so.6's own $pm_sym calls are not bound to libpoolmalloc"
        fi
    done
    if grep "normal symbol \`\(malloc\|free\|calloc\|realloc\)'" "$pm_all" | grep -v 'to [^ ]*libpoolmalloc[^ ]* \[0\]' | grep -q .; then
        grep "normal symbol \`\(malloc\|free\|calloc\|realloc\)'" "$pm_all" | grep -v 'to [^ ]*libpoolmalloc[^ ]* \[0\]' | head -5 >&2
        pm_fail "$1: malloc/free bound to something other than libpoolmalloc"
    fi
    echo "bindings ($1): malloc, free, calloc, realloc of the program and libc.so.6 go to libpoolmalloc"
}

pm_check_new_bindings() {
    pm_tag=$1
    shift
    pm_all=$PM_WORK/new-bindings-$pm_tag
    cat "$PM_WORK/ld-$pm_tag".[0-9]* >"$pm_all" 2>/dev/null || pm_fail "no LD_DEBUG output for $pm_tag"
    for pm_obj in "$@"; do
        if ! grep -q "binding file [^ ]*${pm_obj}[^ ]* \[0\] to [^ ]*libpoolmalloc[^ ]* \[0\]: normal symbol \`_Znwm'" "$pm_all"; then
            grep "binding file [^ ]*${pm_obj}[^ ]* \[0\] to [^ ]* \[0\]: normal symbol \`_Znwm'" "$pm_all" | head -3 >&2
            pm_fail "$pm_tag: operator new (_Znwm) of $pm_obj is not bound to libpoolmalloc (LD_DEBUG=bindings)"
        fi
    done
    # Every form: _Znwm, _Znam, _ZnwmSt11align_val_t..., _ZdlPv, _ZdaPvm, ...
    pm_re="normal symbol \`_Z\(n[wa]m\|d[la]Pv\)[^']*'"
    if grep "$pm_re" "$pm_all" | grep -v 'to [^ ]*libpoolmalloc[^ ]* \[0\]' | grep -q .; then
        grep "$pm_re" "$pm_all" | grep -v 'to [^ ]*libpoolmalloc[^ ]* \[0\]' | head -5 >&2
        pm_fail "$pm_tag: an operator new/delete form bound to something other than libpoolmalloc"
    fi
    echo "bindings ($pm_tag): operator new/delete of $* and every other object go to libpoolmalloc"
    rm -f "$pm_all"
}

# pm_compile_link_run COMPILER: compiles and links cc_input.c (copied into
# the working directory) under the
# preload (stderr in link.err, which must be empty), runs the program and
# checks its output against cc_input.expected.
pm_compile_link_run() {
    pm_pre "$1" -O2 -Wall -o prog cc_input.c 2>link.err
    rc=$?
    [ $rc -eq 0 ] || { cat link.err >&2; pm_fail "$1 (compile and link) exited with status $rc under poolmalloc"; }
    pm_expect_no_stderr link.err
    [ -x prog ] || pm_fail "no program produced"
    ./prog >prog.out 2>prog.err
    rc=$?
    [ $rc -eq 0 ] || { cat prog.err >&2; pm_fail "the compiled program exited with status $rc"; }
    if ! cmp -s prog.out "$PM_DIR/cc_input.expected"; then
        diff "$PM_DIR/cc_input.expected" prog.out >&2
        pm_fail "the compiled program's output differs from cc_input.expected"
    fi
    echo "compiled program output correct"
}
