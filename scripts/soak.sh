#!/bin/sh
# soak.sh -- runs the soak test (tests/soak/soak.c): a steady mixed workload
# over THREADS threads for SECONDS, VmRSS printed every second; fails if RSS
# keeps growing after the warm-up.  Builds ./build first if needed
# (BUILD_DIR overrides the build directory).
#
# usage: scripts/soak.sh [SECONDS=180] [THREADS=8]
set -eu
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
if [ ! -x "$build/tests/soak/soak" ] || [ ! -e "$build/libpoolmalloc.so" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
    cmake --build "$build" -j"$(nproc)" --target poolmalloc soak
fi
exec env LD_PRELOAD="$(cd "$build" && pwd)/libpoolmalloc.so" "$build/tests/soak/soak" "$@"
