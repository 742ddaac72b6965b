#!/bin/sh
# install-deps.sh -- install what poolmalloc needs to build, test and
# benchmark, from Debian 12 packages.  Run as root; packages already present
# are not fetched again (no network needed then).  The optional packages are
# the other allocators and programs bench/compare compares with, and its
# plotting tools; the harness skips whatever of them is missing, so a failure
# to install them is reported and not fatal.
set -eu
# clang + libclang-rt-14-dev: the libFuzzer harness (libclang_rt.fuzzer);
# libasan8, libubsan1, libtsan2: gcc's sanitizer runtimes (tests/sanitize).
PKGS="build-essential cmake pkg-config g++ python3 perl gzip coreutils sqlite3 tar xz-utils
      valgrind libjemalloc-dev libjemalloc2 libbenchmark-dev libgc-dev
      clang libclang-rt-14-dev libasan8 libubsan1 libtsan2"
OPT_PKGS="libmimalloc2.0 libtcmalloc-minimal4 redis-server redis-tools python3-matplotlib
      gnuplot-nox"
missing=""
opt_missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
for p in $OPT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        opt_missing="$opt_missing $p"
done
if [ -z "$missing$opt_missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -q; then
    [ -z "$missing" ] || exit 1
    echo "install-deps: apt-get update failed; optional packages not installed:$opt_missing"
    exit 0
fi
if [ -n "$missing" ]; then
    echo "install-deps: installing$missing"
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi
if [ -n "$opt_missing" ]; then
    echo "install-deps: installing (optional, for bench/compare)$opt_missing"
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -q --no-install-recommends $opt_missing ||
        echo "install-deps: some optional packages could not be installed; bench/compare skips what is missing"
fi
