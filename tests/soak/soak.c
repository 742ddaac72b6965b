/* soak.c -- a steady mixed workload over many threads for minutes: RSS must
 * stop growing once warmed up.  Opt-in (ctest -L soak with
 * -DPOOLMALLOC_SOAK=ON, or scripts/soak.sh); run with libpoolmalloc.so
 * preloaded.
 *
 * THREADS threads each own SLOTS_PER_THREAD slots and share SHARED more.  In
 * a loop each thread replaces the block in one of its slots (free + malloc,
 * or realloc, calloc, aligned_alloc), or swaps a fresh block into a shared
 * slot and frees what it takes out, which another thread allocated (a
 * cross-thread free).  Sizes: 90% 16..512 bytes, 9% 513..16384, 1% up to
 * 256 KiB.  The number of live blocks is fixed, so the live bytes are
 * stationary: a leak, or fragmentation that keeps growing, shows as RSS that
 * keeps climbing.  Every block carries its size and a tag derived from its
 * address in its first 16 bytes and a fill byte in the rest, checked when it
 * is freed.
 *
 * The main thread samples VmRSS every second and prints it with the
 * operation rate and poolmalloc's own figures from mallinfo2 (MiB in arenas,
 * in live large mappings, in the cache of freed large mappings).  After the warm-up (a fifth of the run, at least 10 s) the
 * samples are split: the largest RSS of the last half must not exceed the
 * largest of the first quarter by more than 10% (plus 4 MiB, for small
 * absolute values).  Any damaged block or failed allocation fails as well.
 *
 * usage: soak [SECONDS=180] [THREADS=8] */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pm_test.h"

#define SLOTS_PER_THREAD 4096
#define SHARED 16384
#define MAX_THREADS 64
#define GROWTH_LIMIT 0.10
#define GROWTH_SLACK_MIB 4.0

static _Atomic(unsigned char *) shared[SHARED];
static atomic_int stop;
static atomic_long ops_total;
static atomic_long damaged;
static atomic_long failures;

static size_t random_size(unsigned long long *rng)
{
    unsigned long long r = pm_test_rand(rng);
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 90)
        return 16 + r % 497;
    if (pick < 99)
        return 513 + r % (16384 - 512);
    return 16385 + r % (256u << 10);
}

/* Block layout: [size][tag][fill byte ...], tag derived from the address. */
static uint64_t tag_of(const unsigned char *p, size_t size)
{
    return pm_test_mix64((uint64_t)(uintptr_t)p ^ ((uint64_t)size << 44));
}

static void fill(unsigned char *p, size_t size)
{
    uint64_t tag = tag_of(p, size);
    memcpy(p, &size, 8);
    memcpy(p + 8, &tag, 8);
    memset(p + 16, (int)(tag & 0xff), size - 16);
}

/* Checks and frees a block; NULL is fine. */
static void release(unsigned char *p)
{
    if (!p)
        return;
    size_t size;
    uint64_t tag;
    memcpy(&size, p, 8);
    memcpy(&tag, p + 8, 8);
    unsigned char byte = (unsigned char)(tag & 0xff);
    if (size < 16 || size > (1u << 20) || tag != tag_of(p, size) ||
        (size > 16 && (p[size - 1] != byte || p[16 + (size - 17) / 2] != byte))) {
        if (atomic_fetch_add(&damaged, 1) < 10)
            fprintf(stderr, "soak: block %p damaged (size word %zu)\n", (void *)p, size);
    }
    free(p);
}

static unsigned char *fresh(unsigned long long *rng)
{
    size_t size = random_size(rng);
    unsigned how = (unsigned)(pm_test_rand(rng) % 20);
    unsigned char *p;
    if (how == 0)
        p = calloc(1, size);
    else if (how == 1)
        p = aligned_alloc((size_t)64 << (pm_test_rand(rng) % 4), size);
    else
        p = malloc(size);
    if (!p) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    fill(p, size);
    return p;
}

static void *worker(void *arg)
{
    unsigned long long rng = 0x50a4 + (unsigned long long)(intptr_t)arg * 7919;
    unsigned char **mine = calloc(SLOTS_PER_THREAD, sizeof *mine);
    if (!mine) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    long ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int k = 0; k < 256; k++, ops++) {
            unsigned long long r = pm_test_rand(&rng);
            unsigned action = (unsigned)(r % 100);
            size_t i = (size_t)((r >> 8) % SLOTS_PER_THREAD);
            if (action < 70) {          /* replace one of mine */
                release(mine[i]);
                mine[i] = fresh(&rng);
            } else if (action < 90) {   /* through the shared slots */
                unsigned char *p = fresh(&rng);
                size_t s = (size_t)((r >> 24) % SHARED);
                release(atomic_exchange(&shared[s], p));
            } else if (mine[i]) {       /* realloc one of mine */
                size_t size = random_size(&rng);
                unsigned char *q = realloc(mine[i], size);
                if (!q) {
                    atomic_fetch_add(&failures, 1);
                    continue;
                }
                fill(q, size);
                mine[i] = q;
            }
        }
        atomic_fetch_add_explicit(&ops_total, 256, memory_order_relaxed);
    }
    for (size_t i = 0; i < SLOTS_PER_THREAD; i++)
        release(mine[i]);
    free(mine);
    (void)ops;
    return NULL;
}

static double max_of(const double *v, int from, int to)
{
    double m = 0;
    for (int i = from; i < to; i++)
        if (v[i] > m)
            m = v[i];
    return m;
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    int seconds = argc > 1 ? atoi(argv[1]) : 180;
    int nthreads = argc > 2 ? atoi(argv[2]) : 8;
    if (seconds < 20 || nthreads < 1 || nthreads > MAX_THREADS) {
        fprintf(stderr, "usage: %s [SECONDS>=20] [THREADS=1..%d]\n", argv[0], MAX_THREADS);
        return 2;
    }
    int warmup = seconds / 5 < 10 ? 10 : seconds / 5;
    double *rss = calloc((size_t)seconds + 1, sizeof *rss);
    pthread_t tids[MAX_THREADS];
    int started = 0;
    for (int t = 0; t < nthreads; t++) {
        if (pthread_create(&tids[t], NULL, worker, (void *)(intptr_t)t) != 0)
            break;
        started++;
    }
    CHECK("threads started", started == nthreads);
    printf("soak: %d threads, %d s (warm-up %d s); VmRSS every second\n", started, seconds,
           warmup);
    long last_ops = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int s = 1; s <= seconds; s++) {
        /* Absolute deadlines: a main thread starved by the workers does not
         * stretch the run. */
        struct timespec due = {t0.tv_sec + s, t0.tv_nsec};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) != 0)
            ;
        long ops = atomic_load(&ops_total);
        rss[s] = pm_test_rss_mib();
        struct mallinfo2 m = mallinfo2();   /* poolmalloc's view, see docs/API.md */
        printf("t=%4ds  rss=%7.1f MiB  arenas=%6.1f  large=%6.1f  cached=%5.1f  ops/s=%9ld%s\n",
               s, rss[s], (double)m.arena / 1048576, (double)m.hblkhd / 1048576,
               (double)m.keepcost / 1048576, ops - last_ops, s <= warmup ? "  (warm-up)" : "");
        fflush(stdout);
        last_ops = ops;
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    for (size_t s = 0; s < SHARED; s++)
        release(atomic_exchange(&shared[s], NULL));
    double end_freed = pm_test_rss_mib();
    struct mallinfo2 mi = mallinfo2();   /* poolmalloc's: arena and large-cache bytes */
    malloc_trim(0);
    double end_trimmed = pm_test_rss_mib();

    /* After the warm-up: first quarter against last half. */
    int n = seconds - warmup;
    int q1_end = warmup + n / 4, h2_start = warmup + n / 2 + 1;
    double q1 = max_of(rss, warmup + 1, q1_end + 1);
    double h2 = max_of(rss, h2_start, seconds + 1);
    double limit = q1 * (1.0 + GROWTH_LIMIT) + GROWTH_SLACK_MIB;
    printf("soak: %ld operations; max RSS first quarter after warm-up (t=%d..%d) %.1f MiB, "
           "last half (t=%d..%d) %.1f MiB (%+.1f%%), limit %.1f MiB\n",
           atomic_load(&ops_total), warmup + 1, q1_end, q1, h2_start, seconds, h2,
           q1 > 0 ? 100.0 * (h2 - q1) / q1 : 0.0, limit);
    printf("soak: all freed: RSS %.1f MiB (arenas %.1f MiB, cached large mappings %.1f MiB), "
           "after malloc_trim %.1f MiB\n",
           end_freed, (double)mi.arena / 1048576, (double)mi.keepcost / 1048576, end_trimmed);
    CHECK("RSS stops growing after warm-up", h2 <= limit);
    CHECK("no damaged block", atomic_load(&damaged) == 0);
    CHECK("no failed allocation", atomic_load(&failures) == 0);
    free(rss);
    return pm_test_finish();
}
