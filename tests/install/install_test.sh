#!/bin/sh
# install_test.sh BUILD_DIR SOURCE_DIR -- installs poolmalloc into a scratch
# prefix, then builds and runs programs against it three ways: the CMake
# package (shared and static targets), pkg-config, and the wrapper script.
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/consumer/consumer_shared"
"$tmp/consumer/consumer_static"
if command -v pkg-config >/dev/null 2>&1; then
    # shellcheck disable=SC2046
    cc -o "$tmp/pc" "$src/consumer/main.c" $(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs poolmalloc)
    LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/pc"
fi
out=$(printf 'pear\napple\n' | "$tmp/prefix/bin/poolmalloc-run" --stats sort 2>&1)
echo "$out" | head -n 2 | tr '\n' ' ' | grep -q '^apple pear $'
echo "$out" | grep -Eq '^poolmalloc: totals: small-allocs=[1-9]'
echo "install ok"
