#!/bin/sh
# run-demo.sh -- install dependencies, build, and run a real program (Debian's
# python3, with PYTHONMALLOC=malloc so every Python object comes from malloc)
# under poolmalloc, printing poolmalloc's statistics at exit.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh >/dev/null
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
echo "== $PY under poolmalloc (build/poolmalloc-run-build --stats)"
PYTHONMALLOC=malloc ./build/poolmalloc-run-build --stats "$PY" scripts/demo-workload.py
