#!/bin/sh
# doc_examples.sh CC INCLUDE_DIR LIB_DIR WORK_DIR FILE...
#
# Compiles and runs every example of the given Markdown files that uses the
# refcount-and-cycle layer: each fenced ```c block that includes
# <poolmalloc_gc.h> is a complete program, built against libpoolmalloc in
# LIB_DIR with -Wall -Wextra -Werror and run; it must exit 0 (under
# valgrind's memcheck too when valgrind is installed and DOC_EXAMPLES_VALGRIND
# is set).  Fails if a file has no such block, so that an example turned into
# prose does not silently escape the test.
set -u
if [ $# -lt 5 ]; then
    echo "usage: $0 CC INCLUDE_DIR LIB_DIR WORK_DIR FILE..." >&2
    exit 2
fi
cc=$1 inc=$2 lib=$3 work=$4
shift 4
mkdir -p "$work" || exit 2
status=0
for file in "$@"; do
    base=$(basename "$file" .md)
    rm -f "$work/$base"_*.c
    awk -v out="$work/$base" '
        /^```c[ \t]*$/ { inblock = 1; n++; text = ""; next }
        /^```/ && inblock { inblock = 0
            if (text ~ /#include <poolmalloc_gc.h>/) { f = out "_" n ".c"; printf "%s", text > f; close(f) }
            next }
        inblock { text = text $0 "\n" }' "$file"
    found=0
    for src in "$work/$base"_*.c; do
        [ -e "$src" ] || continue
        found=$((found + 1))
        exe=${src%.c}
        if ! "$cc" -std=c11 -Wall -Wextra -Werror -I"$inc" -o "$exe" "$src" \
                -L"$lib" -Wl,-rpath,"$lib" -lpoolmalloc; then
            echo "FAIL: $file: example $(basename "$src") does not compile"
            status=1
            continue
        fi
        if ! out=$("$exe" 2>&1); then
            echo "FAIL: $file: example $(basename "$src") exits non-zero:"
            echo "$out"
            status=1
            continue
        fi
        echo "ok: $file: $(basename "$src"): $(echo "$out" | head -1)"
    done
    if [ "$found" -eq 0 ]; then
        echo "FAIL: $file: no example that includes <poolmalloc_gc.h>"
        status=1
    fi
done
exit $status
