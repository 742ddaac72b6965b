#!/bin/sh
# run_fuzz.sh -- runs the libFuzzer harness for a while (ctest fuzz_60s,
# scripts/fuzz.sh).
#
# usage: run_fuzz.sh FUZZER SECONDS SEED_CORPUS WORKDIR [libFuzzer options...]
# (absolute paths: it runs in WORKDIR)
# New inputs go to WORKDIR/corpus (the seeds are only read), findings to
# WORKDIR/artifacts/.  Exit 0: nothing found; 77: no fuzzer was built (no
# clang with a libFuzzer runtime): skipped; anything else: a finding.
set -eu
fuzzer=$1 secs=$2 seeds=$3 work=$4
shift 4
if [ ! -x "$fuzzer" ]; then
    echo "fuzz: $fuzzer was not built (no clang with a libFuzzer runtime); skipped"
    exit 77
fi
mkdir -p "$work/corpus" "$work/artifacts"
cd "$work"          # with -jobs, libFuzzer writes fuzz-N.log to the current directory
exec "$fuzzer" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds"
