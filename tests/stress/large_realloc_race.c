/* large_realloc_race.c -- a large block moved by realloc while other threads
 * map and unmap large blocks of the size of the hole it leaves.
 *
 * Run with libpoolmalloc.so preloaded and POOLMALLOC_LARGE_CACHE=0, so that
 * every large malloc maps and every free unmaps.  One thread grows 64 KiB
 * blocks to 1 MiB with realloc: the mapping moves and leaves a 64 KiB hole,
 * which the kernel readily gives to the next 64 KiB mmap, made by one of the
 * two other threads allocating and freeing 64 KiB blocks.  realloc used to
 * clear the page-map entry of the old place after mremap had unmapped it, so
 * it could erase the entry another thread had just made for the same
 * address: that thread's free() then aborted with "invalid pointer" (seen
 * by the soak test after minutes; here within a second or two).
 *
 * Every block's first and last bytes are checked before it is freed.
 *
 * usage: large_realloc_race [SECONDS=4] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pm_test.h"

#define SMALL (64 * 1024)
#define BIG (1024 * 1024)

static atomic_int stop;
static atomic_long bad;

static void mark(unsigned char *p, size_t n, unsigned char v)
{
    p[0] = v;
    p[n - 1] = v;
}

static int marked(const unsigned char *p, size_t n, unsigned char v)
{
    return p[0] == v && p[n - 1] == v;
}

static void *mover(void *arg)
{
    long *moves = arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned char *p = malloc(SMALL);
        if (!p) {
            atomic_fetch_add(&bad, 1);
            continue;
        }
        mark(p, SMALL, 0x11);
        unsigned char *q = realloc(p, BIG);
        if (!q) {
            atomic_fetch_add(&bad, 1);
            free(p);
            continue;
        }
        if (q[0] != 0x11 || q[SMALL - 1] != 0x11)
            atomic_fetch_add(&bad, 1);
        mark(q, BIG, 0x22);
        *moves += q != p;
        if (!marked(q, BIG, 0x22))
            atomic_fetch_add(&bad, 1);
        free(q);
    }
    return NULL;
}

static void *grabber(void *arg)
{
    unsigned char v = (unsigned char)(uintptr_t)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned char *p = malloc(SMALL);
        if (!p) {
            atomic_fetch_add(&bad, 1);
            continue;
        }
        mark(p, SMALL, v);
        if (!marked(p, SMALL, v))
            atomic_fetch_add(&bad, 1);
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    int secs = argc > 1 ? atoi(argv[1]) : 4;
    const char *cache = getenv("POOLMALLOC_LARGE_CACHE");
    CHECK("run with POOLMALLOC_LARGE_CACHE=0", cache && strcmp(cache, "0") == 0);
    long moves = 0;
    pthread_t m, g1, g2;
    int ok = pthread_create(&m, NULL, mover, &moves) == 0 &&
             pthread_create(&g1, NULL, grabber, (void *)(uintptr_t)0x33) == 0 &&
             pthread_create(&g2, NULL, grabber, (void *)(uintptr_t)0x44) == 0;
    CHECK("threads started", ok);
    if (!ok)
        return pm_test_finish();
    struct timespec ts = {secs, 0};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    pthread_join(m, NULL);
    pthread_join(g1, NULL);
    pthread_join(g2, NULL);
    printf("%ld reallocs moved their block in %d s\n", moves, secs);
    CHECK("realloc moved blocks", moves > 100);
    CHECK("every block intact, every allocation served", atomic_load(&bad) == 0);
    return pm_test_finish();
}
