#!/bin/sh
# hot-text.sh BUILD_DIR -- regenerates preload/hot.ld (tools/hot-text.py)
# from callgrind profiles of typical programs run on BUILD_DIR's
# libpoolmalloc.so (a release build): a few C library calls (with a thread
# that exits with blocks out, a fork, the memalign family, blocks freed
# with data that looks like a thread cache's mark, 850 KiB of small blocks
# made and freed), C++ new and
# delete of small and large blocks, ls, sort, python3, sqlite3, cc1, and
# pm_bench's fixed/8 (C++, google benchmark) and xmalloc_batches (threads
# that free each other's blocks).  Needs valgrind, gcc and g++; takes under
# a minute.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
lib=$build/libpoolmalloc.so
work=$(mktemp -d "${TMPDIR:-/tmp}/pm_hot.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
seq 200000 | awk '{ print ($1 * 7919) % 100003, $1 }' > lines.txt
printf 'int f(int x) { return x * 2; }\nint main(void) { return f(1) - 2; }\n' > t.c
cat > sq.sql <<'EOF'
create table t(a, b);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 100000)
insert into t select x, hex(randomblob(20)) from c;
create index i on t(b);
select count(*), max(length(b)) from t;
EOF
cat > calls.c <<'EOF'
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void *kept[200];
static void *worker(void *arg)   /* a thread that exits with blocks out */
{
    for (int i = 0; i < 200; i++)
        kept[i] = malloc(24 + (size_t)(i % 40) * 16);
    return arg;
}
int main(void)   /* the calls of a C program that ls and sort may not make */
{
    void *p = NULL, *q = calloc(10, 100);
    free(NULL);
    free(realloc(NULL, 40));
    if (posix_memalign(&p, 64, 200) == 0)
        free(p);
    free(memalign(64, 100));
    free(aligned_alloc(64, 128));
    free(valloc(100));
    free(realloc(strdup("a string shrunk and moved"), 4));
    pthread_t t;   /* its blocks freed by the main thread after its exit */
    if (pthread_create(&t, NULL, worker, NULL) == 0 && pthread_join(t, NULL) == 0)
        for (int i = 0; i < 200; i++)
            free(kept[i]);
    pid_t pid = fork();   /* a server's fork: the allocator's fork handlers */
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    for (int i = 0; i < 1000; i++)
        free(strdup("a string of some length"));
    for (int i = 0; i < 100; i++) {   /* data whose byte 7 is a cached block's mark's */
        unsigned char *b = malloc(32);
        memset(b, 0xa5, 32);
        free(b);
    }
    for (int r = 0; r < 10; r++) {   /* pools filled and emptied */
        void *b[3000];
        for (int i = 0; i < 3000; i++)
            b[i] = malloc(16 + (size_t)(i % 3) * 24);
        for (int i = 0; i < 3000; i++)
            free(b[i]);
    }
    static void *many[16384];   /* 850 KiB made and freed: whole arenas go back */
    for (int i = 0; i < 16384; i++)
        many[i] = malloc(40 + (size_t)(i % 4) * 8);
    for (int i = 0; i < 16384; i++)
        free(many[i]);
    free(realloc(q, 100000));
    for (size_t n = 100000; n < ((size_t)16 << 20); n *= 3) {   /* large blocks */
        char *b = malloc(n);
        memset(b, 1, n);
        b = realloc(b, n / 2);
        free(b);
    }
    return 0;
}
EOF
gcc -O2 -fno-builtin -pthread -o calls calls.c
cat > news.cpp <<'EOF'
#include <new>
static void *volatile sink;
int main()   /* C++: operator new and delete, small and large (alloc-test, malloc-large) */
{
    for (int i = 0; i < 200; i++) {
        char *a = new char[40 + i % 100];
        char *b = new char[100000 + (i % 20) * 40960];
        sink = a;
        sink = b;
        b[0] = 1;
        delete[] b;
        delete[] a;
    }
    return 0;
}
EOF
${CXX:-g++} -O1 -o news news.cpp
cc1=$(gcc -print-prog-name=cc1)
n=0
profile() {
    n=$((n + 1))
    LD_PRELOAD=$lib valgrind --tool=callgrind --callgrind-out-file="$work/cg.$n" "$@" \
        >/dev/null 2>&1 </dev/null
}
profile ./calls
profile ./news
profile ls -l /usr/bin
profile sort -S 4M lines.txt
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3   # not a wrapper script (pyenv)
profile "$py" -c 'import json; d = {str(i): [i] * 10 for i in range(20000)}; print(len(json.loads(json.dumps(d))))'
profile sqlite3 :memory: ".read sq.sql"
profile "$cc1" -quiet -O2 t.c -o t.s
profile "$build/bench/pm_bench" --benchmark_filter='^fixed/8$' --benchmark_min_time=0.01
profile "$build/bench/pm_bench" --benchmark_filter='^xmalloc_batches' --benchmark_min_time=0.01
# Placed with what every profile ran, for paths that typical programs take
# and only one profile (or none) does:
# - _pm_free_door: free of a pointer outside the page map's fast window
#   (pools/alloc.c), which pm_bench's frees reach;
# - the memalign family and C++'s aligned new (libraries that align their
#   structures to cache lines), small and large (aligned_large);
# - _pm_large_alloc_reused: realloc of a large block that grows into a
#   cached mapping;
# - slot_put_counted: every 1024th free of a large block (arenas/large.c),
#   fewer than any profile makes.
also=""
for f in _pm_free_door aligned_alloc pm_aligned_alloc posix_memalign pm_posix_memalign \
         memalign pm_memalign _pm_alloc_aligned aligned_large _ZnwmSt11align_val_t \
         _pm_large_alloc_reused slot_put_counted; do
    also="$also --also $f"
done
# shellcheck disable=SC2086
python3 "$here/hot-text.py" "$lib" "$here/../preload/hot.ld" $also "$work"/cg.*
echo "wrote $here/../preload/hot.ld from $n profiles"
