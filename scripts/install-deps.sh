#!/bin/sh
# install-deps.sh -- install what poolmalloc needs to build, test and
# benchmark, from Debian 12 packages.  Run as root; packages already present
# are not fetched again (no network needed then).
set -eu
# clang + libclang-rt-14-dev: the libFuzzer harness (libclang_rt.fuzzer);
# libasan8, libubsan1, libtsan2: gcc's sanitizer runtimes (tests/sanitize).
PKGS="build-essential cmake pkg-config g++ python3 perl gzip coreutils sqlite3 tar xz-utils
      valgrind libjemalloc-dev libjemalloc2 libbenchmark-dev
      clang libclang-rt-14-dev libasan8 libubsan1 libtsan2"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
