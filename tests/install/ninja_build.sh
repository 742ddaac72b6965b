#!/bin/sh
# ninja_build.sh SOURCE_DIR -- the project configures and builds with the
# Ninja generator as well as with Makefiles (the suite's own build): the
# whole build graph is valid (`ninja -n`: two rules for one output, or a
# phony target named like a generated file, fail here; Make accepts both),
# and the library target builds and serves a program preloaded.  Skips
# (77) where ninja is not installed (scripts/install-deps.sh installs it).
set -u
src=${1:?source dir}
fail() { echo "FAIL ninja_build: $*" >&2; exit 1; }
unset LD_PRELOAD
command -v ninja >/dev/null 2>&1 || { echo "SKIP: no ninja"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake -S "$src" -B "$tmp/b" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$tmp/configure.log" 2>&1 ||
    { cat "$tmp/configure.log" >&2; fail "configure with -G Ninja"; }
ninja -C "$tmp/b" -n >"$tmp/graph.log" 2>&1 || { tail -5 "$tmp/graph.log" >&2; fail "ninja -n: the build graph"; }
grep -q 'multiple rules generate\|names itself as an input' "$tmp/graph.log" &&
    { grep 'multiple rules\|names itself' "$tmp/graph.log" >&2; fail "ninja warns about the build graph"; }
ninja -C "$tmp/b" poolmalloc >"$tmp/build.log" 2>&1 || { tail -20 "$tmp/build.log" >&2; fail "ninja poolmalloc"; }
lib="$tmp/b/libpoolmalloc.so"
[ -f "$lib" ] || fail "no libpoolmalloc.so in the Ninja build"
out=$(printf '3\n1\n2\n' | POOLMALLOC_VERBOSE=1 LD_PRELOAD="$lib" sort 2>"$tmp/err") || fail "sort under the Ninja-built library"
[ "$(echo $out)" = "1 2 3" ] || fail "sort's output: $out"
grep -q '^poolmalloc' "$tmp/err" || { cat "$tmp/err" >&2; fail "the library did not start (no verbose line)"; }
echo "ninja_build: configured, graph checked, library built and preloaded"
