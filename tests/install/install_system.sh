#!/bin/sh
# install_system.sh SOURCE_DIR VERSION -- a system-style install:
# configures poolmalloc (library only) with -DCMAKE_INSTALL_PREFIX=/usr,
# where GNUInstallDirs picks Debian's multiarch libdir
# (lib/x86_64-linux-gnu), installs it with DESTDIR into a scratch root, and
# checks what a distribution package would ship: poolmalloc.pc says
# includedir=/usr/include and libdir=/usr/lib/<multiarch> (a path relative
# to the .pc file gave /usr/lib/include), a program built with pkg-config
# and one built with the CMake package link and run against the staged
# library, the wrapper finds the library in the multiarch libdir, man pages
# are in /usr/share/man, and no ldconfig runs for a DESTDIR install.
set -eu
src=$1
version=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL install_system: $*" >&2; exit 1; }
unset LD_PRELOAD
root=$tmp/root
cmake -S "$src" -B "$tmp/sys" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Release \
    -DPOOLMALLOC_BUILD_TESTS=OFF -DPOOLMALLOC_BUILD_BENCH=OFF -DPOOLMALLOC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$tmp/sys" -j2 >/dev/null
DESTDIR=$root cmake --install "$tmp/sys" >"$tmp/install.log"
if grep -q 'Running .*ldconfig' "$tmp/install.log"; then fail "ldconfig run for a DESTDIR install"; fi
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$tmp/sys/CMakeCache.txt")
arch=$(cc -print-multiarch 2>/dev/null || true)
if [ -f /etc/debian_version ] && [ -n "$arch" ]; then
    [ "$libdir" = "lib/$arch" ] || fail "libdir is $libdir, expected Debian's multiarch lib/$arch"
fi
echo "libdir: /usr/$libdir"
for f in "usr/$libdir/libpoolmalloc.so" "usr/$libdir/libpoolmalloc.a" "usr/$libdir/pkgconfig/poolmalloc.pc" \
         "usr/$libdir/cmake/poolmalloc/poolmallocConfig.cmake" usr/include/poolmalloc.h \
         usr/bin/poolmalloc-run usr/share/man/man3/poolmalloc.3 usr/share/man/man1/poolmalloc-run.1; do
    [ -e "$root/$f" ] || fail "/$f not installed"
done
pc=$root/usr/$libdir/pkgconfig/poolmalloc.pc
cat "$pc"
grep -qx 'prefix=/usr' "$pc" || fail "prefix is not /usr"
if command -v pkg-config >/dev/null 2>&1; then
    export PKG_CONFIG_LIBDIR="$root/usr/$libdir/pkgconfig"
    [ "$(pkg-config --variable=includedir poolmalloc)" = /usr/include ] ||
        fail "includedir is $(pkg-config --variable=includedir poolmalloc), want /usr/include"
    [ "$(pkg-config --variable=libdir poolmalloc)" = "/usr/$libdir" ] ||
        fail "libdir is $(pkg-config --variable=libdir poolmalloc), want /usr/$libdir"
    [ "$(pkg-config --modversion poolmalloc)" = "$version" ] || fail "version"
    # Built the way a package's user builds, with the staged root as sysroot.
    flags=$(PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1 \
            pkg-config --cflags --libs poolmalloc)
    echo "pkg-config: $flags"
    echo "$flags" | grep -q -- "-I$root/usr/include" || fail "cflags: $flags"
    echo "$flags" | grep -q -- "-L$root/usr/$libdir" || fail "libs: $flags"
    # shellcheck disable=SC2086
    cc -o "$tmp/pc" "$src/tests/install/consumer/main.c" $flags
    LD_LIBRARY_PATH="$root/usr/$libdir" "$tmp/pc"
    unset PKG_CONFIG_LIBDIR
fi
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$root/usr" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$root/usr/$libdir" "$tmp/consumer/consumer_shared"
"$tmp/consumer/consumer_static"
# The wrapper in /usr/bin finds /usr/lib/<multiarch>/libpoolmalloc.so,
# also through a symlink.
mkdir "$tmp/bin"
ln -s "$root/usr/bin/poolmalloc-run" "$tmp/bin/poolmalloc-run"
for w in "$root/usr/bin/poolmalloc-run" "$tmp/bin/poolmalloc-run"; do
    v=$("$w" --version | sed -n 2p)
    [ "$v" = "library: $root/usr/$libdir/libpoolmalloc.so (version $version)" ] || fail "$w --version: $v"
    out=$(printf 'pear\napple\n' | "$w" --stats sort 2>&1) || fail "$w: $out"
    echo "$out" | grep -Eq '^poolmalloc: totals: small-allocs=[1-9]' || fail "$w: no statistics"
done
echo "install_system ok"
