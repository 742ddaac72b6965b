#!/bin/sh
# instr_per_pair.sh LIB -- instructions per malloc+free pair, counted by
# callgrind with LIB (a libpoolmalloc.so) preloaded.
#
# Each program runs twice, with N and 2N pairs; the difference divided by N
# leaves out start-up and exit.  Callgrind does not replace malloc, and
# poolmalloc runs under it exactly as natively (it turns on its valgrind
# support only under memcheck, helgrind and drd).
#   small_loop   bench/small_loop.c: 1000 blocks of 8..512 bytes per round,
#                freed in shuffled order (fast paths and the pool slow paths)
#   pair_loop    bench/pair_loop.c: malloc(32) then free, one block kept
#                (the inline fast paths alone)
set -eu
lib=$(cd "$(dirname "${1:?usage: $0 path/to/libpoolmalloc.so}")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm_ipp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
${CC:-cc} -O2 -fno-builtin -o "$tmp/small_loop" "$here/small_loop.c"
${CC:-cc} -O2 -fno-builtin -o "$tmp/pair_loop" "$here/pair_loop.c"

ir() {   # instructions of one run: ir PROG ARG
    LD_PRELOAD=$lib valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
        sed -n 's/.*Collected : //p'
}
per_pair() {   # per_pair PROG N PAIRS_PER_UNIT
    a=$(ir "$tmp/$1" "$2")
    b=$(ir "$tmp/$1" $(($2 * 2)))
    echo "$a $b $2 $3" | awk '{ printf "%.2f", ($2 - $1) / ($3 * $4) }'
}
echo "small_loop: $(per_pair small_loop 100 1000) instructions per pair"
echo "pair_loop:  $(per_pair pair_loop 200000 1) instructions per pair"
