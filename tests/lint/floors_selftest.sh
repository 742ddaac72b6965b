#!/bin/sh
# floors_selftest.sh SOURCE_DIR -- proves that tools/check-floors.sh can
# fail: on a copy of the layer folders, an upward include planted in
# arenas/ and a <sys/mman.h> planted in pools/ must each be reported.
set -eu
src=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pm_floors.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for d in base arenas pools preload gc tools; do
    cp -r "$src/$d" "$tmp/$d"
done
sh "$tmp/tools/check-floors.sh" "$tmp" >/dev/null || { echo "FAIL: the clean copy does not pass"; exit 1; }
cp "$tmp/arenas/arena.c" "$tmp/arena.c.orig"
printf '#include "pools/pools.h"\n' >>"$tmp/arenas/arena.c"
if sh "$tmp/tools/check-floors.sh" "$tmp" >"$tmp/out"; then
    echo "FAIL: an arenas/ file including pools/pools.h passed"; exit 1
fi
grep -q 'arenas/arena.c includes "pools/pools.h"' "$tmp/out" || { echo "FAIL: wrong report"; cat "$tmp/out"; exit 1; }
cp "$tmp/arena.c.orig" "$tmp/arenas/arena.c"
printf '#include <sys/mman.h>\n' >>"$tmp/pools/pool.c"
if sh "$tmp/tools/check-floors.sh" "$tmp" >"$tmp/out"; then
    echo "FAIL: pools/pool.c including <sys/mman.h> passed"; exit 1
fi
echo "floors_selftest: both planted violations reported"
