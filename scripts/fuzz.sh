#!/bin/sh
# fuzz.sh -- fuzzes poolmalloc for longer than ctest's fuzz_60s (docs/TESTING.md).
# Builds the libFuzzer harness in ./build (BUILD_DIR overrides) and runs it
# with JOBS parallel jobs sharing one corpus, BUILD/tests/fuzz/fuzz-work/corpus
# (kept between runs; the seeds in tests/fuzz/corpus are only read).
# Findings go to BUILD/tests/fuzz/fuzz-work/artifacts/, job logs to
# BUILD/tests/fuzz/fuzz-work/fuzz-N.log.
#
# usage: scripts/fuzz.sh [SECONDS=3600] [JOBS=2] [more libFuzzer options...]
set -eu
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD_DIR:-build}
secs=${1:-3600}
jobs=${2:-2}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target fuzz_harness
build=$(cd "$build" && pwd)
extra=""
[ "$jobs" -gt 1 ] && extra="-jobs=$jobs -workers=$jobs"
# shellcheck disable=SC2086
exec sh "$root/tests/fuzz/run_fuzz.sh" "$build/tests/fuzz/fuzz_poolmalloc" "$secs" \
    "$root/tests/fuzz/corpus" "$build/tests/fuzz/fuzz-work" $extra "$@"
