#!/bin/sh
# valgrind.sh PROG [ARGS...]
#
# Runs PROG under memcheck with poolmalloc itself serving malloc (PROG is
# linked to libpoolmalloc; --soname-synonyms=somalloc=nouserintercepts keeps
# valgrind from replacing our malloc with its own).  Fails (99) on any
# memcheck error or definite leak; exits 77 (skipped) when valgrind is not
# installed.
set -u
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind not installed: skipped"
    exit 77
fi
exec valgrind --quiet --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --soname-synonyms=somalloc=nouserintercepts "$@"
