#!/bin/sh
# check-floors.sh [SOURCE_DIR] -- fails when a file includes a header of a
# floor above its own (README, "Layout").  Run by ctest (lint.floors), so
# by CI.
#
#   floor 0  base/      may include: base/
#   floor 1  arenas/    may include: base/ arenas/
#   floor 2  pools/     may include: base/ arenas/ pools/
#   floor 3  preload/   may include: base/ arenas/ pools/ preload/
#   floor 3  gc/        may include: gc/ and pools/gc_seam.h only (the
#                       collector uses the public API and that seam)
# Every floor may include the public headers (include/: "poolmalloc.h",
# "poolmalloc_gc.h") and system headers; only base/os_linux.c may include
# <sys/mman.h> (base/os.h is the OS contract).
set -eu
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$src"
bad=0
allowed() {   # allowed FLOOR_DIR INCLUDED_PATH
    case "$2" in
    poolmalloc.h | poolmalloc_gc.h) return 0 ;;
    esac
    top=${2%%/*}
    case "$1" in
    base) [ "$top" = base ] ;;
    arenas) [ "$top" = base ] || [ "$top" = arenas ] ;;
    pools) [ "$top" = base ] || [ "$top" = arenas ] || [ "$top" = pools ] ;;
    preload) [ "$top" = base ] || [ "$top" = arenas ] || [ "$top" = pools ] || [ "$top" = preload ] ;;
    gc) [ "$top" = gc ] || [ "$2" = pools/gc_seam.h ] ;;
    *) return 1 ;;
    esac
}
checked=0
for dir in base arenas pools preload gc; do
    [ -d "$dir" ] || continue
    for f in "$dir"/*.c "$dir"/*.h "$dir"/*.cpp; do
        [ -e "$f" ] || continue
        checked=$((checked + 1))
        # "quoted" includes: the project's own headers
        for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
            if ! allowed "$dir" "$inc"; then
                echo "check-floors: $f includes \"$inc\", above or beside its floor ($dir/)"
                bad=$((bad + 1))
            fi
        done
        if [ "$f" != base/os_linux.c ] && grep -q '^[[:space:]]*#[[:space:]]*include[[:space:]]*<sys/mman.h>' "$f"; then
            echo "check-floors: $f includes <sys/mman.h>: only base/os_linux.c talks to the kernel's memory calls"
            bad=$((bad + 1))
        fi
    done
done
[ "$checked" -gt 20 ] || { echo "check-floors: only $checked files found under $src"; exit 1; }
if [ "$bad" -ne 0 ]; then
    echo "check-floors: $bad include(s) break the floors"
    exit 1
fi
echo "check-floors: $checked files, every include on its own floor or below"
