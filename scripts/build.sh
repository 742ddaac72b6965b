#!/bin/sh
# build.sh -- configure and build poolmalloc (Release) in ./build.
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
