#!/bin/sh
# install_deps.sh SOURCE_DIR -- scripts/install-deps.sh without installing
# anything: it parses, rejects unknown options, and its --list says that
# the default set (build + tests) holds what the tests run -- compilers,
# clang, llvm (llc), postgresql, valgrind, groff -- and none of the
# benchmark extras, which only --bench adds.  Where apt has package lists,
# every listed package must exist in them.
set -u
src=${1:?source dir}
script=$src/scripts/install-deps.sh
fail() { echo "FAIL install_deps: $*" >&2; exit 1; }
sh -n "$script" || fail "syntax"
sh "$script" --frobnicate >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit $rc, want 2"
default=$(sh "$script" --list) || fail "--list failed"
bench=$(sh "$script" --list --bench) || fail "--list --bench failed"
echo "$default"
echo "$bench"
base=$(echo "$default" | sed -n 's/^packages: //p')
extra=$(echo "$bench" | sed -n 's/^bench packages (optional): //p')
[ "$(echo "$bench" | sed -n 's/^packages: //p')" = "$base" ] || fail "--bench changes the base set"
echo "$default" | grep -q '^bench packages' && fail "bench packages listed without --bench"
has() { echo " $1 " | grep -q " $2 "; }
for p in build-essential cmake ninja-build pkg-config python3 valgrind clang llvm postgresql groff-base libbenchmark-dev; do
    has "$base" "$p" || fail "$p missing from the default set"
done
for p in libmimalloc2.0 libtcmalloc-minimal4 redis-server redis-tools python3-matplotlib gnuplot-nox; do
    has "$base" "$p" && fail "$p (benchmark extra) in the default set"
    has "$extra" "$p" || fail "$p missing from --bench"
done
if command -v apt-cache >/dev/null 2>&1 &&
   apt-cache policy cmake 2>/dev/null | grep -q '^  Candidate: [0-9]'; then
    # One query: each package must have a candidate version.
    # shellcheck disable=SC2086
    found=$(apt-cache policy $base $extra 2>/dev/null |
            awk '/^[^ ].*:$/ { name = substr($0, 1, length($0) - 1) }
                 /^  Candidate: / && $2 != "(none)" { print name }')
    for p in $base $extra; do
        echo "$found" | grep -qx "$p" || fail "no Debian package $p (apt-cache policy)"
    done
    echo "every package exists in apt's lists"
else
    echo "no apt package lists here: package names not checked"
fi
echo "install_deps ok"
