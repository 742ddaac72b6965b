#!/bin/sh
# install_ldconfig.sh BUILD_DIR SOURCE_DIR -- the README's plain
# `cmake --install build` to /usr/local, for real, as root, but inside a
# private mount namespace where /usr/local and /etc are overlays on scratch
# directories (nothing reaches the machine).  After it, a program linked
# with $(pkg-config --libs poolmalloc) must start without LD_LIBRARY_PATH:
# the install runs ldconfig (tools/install-ldconfig.cmake); poolmalloc-run
# is on PATH; man finds poolmalloc(3).
# Exit 77 (skipped) when not root or when mount namespaces or overlayfs
# are not allowed here.
set -u
build=$1
src=$2
[ "$(id -u)" -eq 0 ] || { echo "not root: skipped"; exit 77; }
command -v unshare >/dev/null 2>&1 || { echo "no unshare: skipped"; exit 77; }
unshare -m true 2>/dev/null || { echo "mount namespaces not allowed here: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/etc-u" "$tmp/etc-w" "$tmp/loc-u" "$tmp/loc-w"
unset LD_PRELOAD LD_LIBRARY_PATH PKG_CONFIG_PATH
export build src tmp
unshare -m sh -c '
    set -u
    mount --make-rprivate / 2>/dev/null
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$tmp/etc-u,workdir=$tmp/etc-w" /etc &&
    mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$tmp/loc-u,workdir=$tmp/loc-w" /usr/local ||
        { echo "overlay mounts not allowed: skipped"; exit 77; }
    set -e
    fail() { echo "FAIL install_ldconfig: $*" >&2; exit 1; }
    cmake --install "$build" --prefix /usr/local >"$tmp/install.log"
    grep "ldconfig" "$tmp/install.log" || fail "no ldconfig run after installing to /usr/local"
    flags=$(pkg-config --cflags --libs poolmalloc) || fail "pkg-config does not find poolmalloc in /usr/local"
    echo "pkg-config: $flags"
    cc -o "$tmp/prog" "$src/tests/install/consumer/main.c" $flags
    "$tmp/prog" || fail "the linked program does not start"
    poolmalloc-run --version | grep -q "^library: /usr/local/lib/libpoolmalloc.so (version " ||
        fail "poolmalloc-run on PATH does not find the library"
    if command -v man >/dev/null 2>&1; then
        # /usr/local/man is a symlink to share/man on Debian.
        man -w 3 poolmalloc | grep -q "^/usr/local/.*man3/poolmalloc.3$" || fail "man -w 3 poolmalloc"
        man -w 1 poolmalloc-run | grep -q "^/usr/local/.*man1/poolmalloc-run.1$" || fail "man -w 1 poolmalloc-run"
    fi
    echo "install_ldconfig ok"
'
