#!/bin/sh
# instr_per_pair.sh [LIB] [bench/compare options] -- instructions per
# malloc+free pair of one allocator library, for checking a change quickly.
#
# A front end to `bench/compare --instructions` (bench/pmcompare/
# instructions.py, the one instruction counter; what it counts is in
# docs/BENCHMARKS.md, "Instructions per pair"): pm_pairs in pair and batch
# mode at 16, 64, 256 and 512 bytes, under callgrind with LIB preloaded
# (default build/libpoolmalloc.so), N = 32000 and 160000 pairs.  pm_pairs
# and pm_runrss come from the build directory holding LIB (or $PM_BUILD).
# Further options go to bench/compare, e.g. --sizes 64 --filter pair.
# Results are written under $PM_OUT (default: a temporary directory, removed).
#   bench/instr_per_pair.sh build/libpoolmalloc.so
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lib=${1:-$here/../build/libpoolmalloc.so}
[ $# -gt 0 ] && shift
[ -f "$lib" ] || { echo "usage: $0 [path/to/libpoolmalloc.so] [bench/compare options]" >&2; exit 2; }
lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
build=${PM_BUILD:-$(dirname "$lib")}
name=$(basename "$lib" .so)
if [ -n "${PM_OUT:-}" ]; then
    out=$PM_OUT
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/pm_ipp.XXXXXX")
    trap 'rm -rf "$out"' EXIT
fi
status=0
python3 "$here/compare" --instructions --sizes 16,64,256,512 --build "$build" --out "$out" \
    --allocators "$name" --allocator "$name=$lib" "$@" || status=$?
exit $status
