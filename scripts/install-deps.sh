#!/bin/sh
# install-deps.sh [--bench] [--list] [--services-off] -- install, from Debian 12 packages,
# what poolmalloc needs to build and run its test suite; with --bench also
# what the benchmark harness (bench/compare) compares with and plots.
#   (default)  build + ctest: compilers, cmake, valgrind, the programs the
#              tests run under the preload, jemalloc / google benchmark /
#              Boehm GC for the smoke tests of bench/
#   --bench    + mimalloc, tcmalloc, redis, matplotlib, gnuplot (optional:
#              bench/compare skips whatever is missing, so a failure to
#              install them is reported and not fatal)
#   --list     print the packages that would be installed, install nothing
#   --services-off  only stop and disable the services named below
#              (postgresql, redis-server) where installed, e.g. after an
#              older version of this script left them enabled
# Run as root (or with sudo available); packages already present are not
# fetched again (no network needed then).
#
# No service is left running or enabled: while apt-get runs, a policy-rc.d
# that forbids starting services is in place (unless one already is), and
# the services of packages installed now (postgresql, redis-server) are then
# stopped and disabled.  Debian's postgresql creates a cluster "main" on
# install; it is stopped and set to start manually.  Services that were
# installed before this script ran are not touched.
set -eu

# Build and tests.  clang, llvm (llc) and postgresql are also programs the
# preload tests run (tests/programs); clang + libclang-rt-14-dev: the
# libFuzzer harness; libasan8, libubsan1, libtsan2: gcc's sanitizer
# runtimes (tests/sanitize); groff-base: tests/install/man_pages.sh;
# ninja-build: tests/install/ninja_build.sh (the Ninja generator).
PKGS="build-essential cmake ninja-build pkg-config g++ python3 perl gzip coreutils sqlite3 tar xz-utils
      valgrind libjemalloc-dev libjemalloc2 libbenchmark-dev libgc-dev
      clang llvm libclang-rt-14-dev libasan8 libubsan1 libtsan2 postgresql groff-base"
# The benchmark harness's other allocators, programs and plotting.
BENCH_PKGS="libmimalloc2.0 libtcmalloc-minimal4 redis-server redis-tools python3-matplotlib
      gnuplot-nox"
# Packages that install a system service: stopped and disabled afterwards.
SERVICES="postgresql redis-server"

bench=0
list=0
services_only=0
for arg in "$@"; do
    case $arg in
    --bench) bench=1 ;;
    --list) list=1 ;;
    --services-off) services_only=1 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps: unknown option $arg (--bench, --list, --services-off)" >&2; exit 2 ;;
    esac
done
[ "$bench" -eq 1 ] || BENCH_PKGS=""

if [ "$list" -eq 1 ]; then
    echo "packages:" $PKGS
    [ -z "$BENCH_PKGS" ] || echo "bench packages (optional):" $BENCH_PKGS
    exit 0
fi

# Stops and disables service $1, by every mechanism present.
service_off() {
    svc=$1
    if [ "$svc" = postgresql ] && command -v pg_lsclusters >/dev/null 2>&1; then
        pg_lsclusters -h 2>/dev/null | while read -r ver name _port status _rest; do
            [ "$status" = online ] && $SUDO pg_ctlcluster "$ver" "$name" stop || true
            conf=/etc/postgresql/$ver/$name/start.conf
            [ -f "$conf" ] && echo manual | $SUDO tee "$conf" >/dev/null || true
        done
    fi
    if [ -d /run/systemd/system ]; then
        $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
        $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl disable "$svc" >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1 && [ -x "/etc/init.d/$svc" ]; then
        $SUDO update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
    echo "install-deps: service $svc stopped and disabled"
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ "$services_only" -eq 1 ]; then
    for s in $SERVICES; do
        if installed "$s"; then service_off "$s"; fi
    done
    exit 0
fi

missing=""
opt_missing=""
for p in $PKGS; do
    installed "$p" || missing="$missing $p"
done
for p in $BENCH_PKGS; do
    installed "$p" || opt_missing="$opt_missing $p"
done
if [ -z "$missing$opt_missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive

# Services present before: left as they are.
services_before=""
for s in $SERVICES; do
    if installed "$s"; then services_before="$services_before $s"; fi
done

# No service starts while packages are installed (invoke-rc.d and
# deb-systemd-invoke ask policy-rc.d; 101 = action forbidden).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# install-deps.sh: no service starts during the install\nexit 101\n' |
        $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" -eq 1 ]; then
        $SUDO rm -f "$policy"
        own_policy=0
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 1' HUP INT TERM

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
for s in $SERVICES; do
    case " $services_before " in *" $s "*) continue ;; esac
    if installed "$s"; then service_off "$s"; fi
done
