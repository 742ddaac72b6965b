#!/bin/sh
# install_test.sh BUILD_DIR SOURCE_DIR VERSION -- installs poolmalloc into
# a scratch prefix (`cmake --install --prefix`, a custom prefix as the
# README describes: PKG_CONFIG_PATH and LD_LIBRARY_PATH), then builds and
# runs programs against it three ways: the CMake package (shared and static
# targets), pkg-config, and the wrapper script -- called directly and
# through symlinks from elsewhere (it finds the library from its own real
# place).  The man pages must be installed too.
set -eu
build=$1
src=$2
version=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL install: $*" >&2; exit 1; }
unset LD_PRELOAD
cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log"
if grep -q 'Running .*ldconfig' "$tmp/install.log"; then fail "ldconfig run for a scratch prefix"; fi
for f in share/man/man3/poolmalloc.3 share/man/man1/poolmalloc-run.1 include/poolmalloc.h \
         lib/pkgconfig/poolmalloc.pc lib/libpoolmalloc.so bin/poolmalloc-run; do
    [ -e "$tmp/prefix/$f" ] || fail "$f not installed"
done
cmake -S "$src/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/consumer/consumer_shared"
"$tmp/consumer/consumer_static"
if command -v pkg-config >/dev/null 2>&1; then
    export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
    [ "$(pkg-config --variable=includedir poolmalloc)" = "$tmp/prefix/include" ] || fail "pkg-config includedir"
    [ "$(pkg-config --variable=libdir poolmalloc)" = "$tmp/prefix/lib" ] || fail "pkg-config libdir"
    [ "$(pkg-config --modversion poolmalloc)" = "$version" ] || fail "pkg-config version"
    # shellcheck disable=SC2046
    cc -o "$tmp/pc" "$src/consumer/main.c" $(pkg-config --cflags --libs poolmalloc)
    LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/pc"
    unset PKG_CONFIG_PATH
fi
out=$(printf 'pear\napple\n' | "$tmp/prefix/bin/poolmalloc-run" --stats sort 2>&1)
echo "$out" | head -n 2 | tr '\n' ' ' | grep -q '^apple pear $'
echo "$out" | grep -Eq '^poolmalloc: totals: small-allocs=[1-9]'
# Through symlinks (absolute, then relative, from another directory): the
# wrapper must still find $tmp/prefix/lib, not the symlink's ../lib.
mkdir -p "$tmp/elsewhere/bin" "$tmp/other"
ln -s "$tmp/prefix/bin/poolmalloc-run" "$tmp/elsewhere/bin/pmr"
ln -s ../elsewhere/bin/pmr "$tmp/other/pmr2"
for w in "$tmp/elsewhere/bin/pmr" "$tmp/other/pmr2"; do
    out=$(printf 'pear\napple\n' | (cd / && "$w" --stats sort) 2>&1) || fail "$w failed: $out"
    echo "$out" | grep -Eq '^poolmalloc: totals: small-allocs=[1-9]' || fail "$w: no statistics: $out"
    v=$("$w" --version | sed -n 2p)
    [ "$v" = "library: $tmp/prefix/lib/libpoolmalloc.so (version $version)" ] || fail "$w --version: $v"
done
echo "install ok"
