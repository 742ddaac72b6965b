/* realloc_patterns.c -- realloc under many growth and shrink patterns; the
 * contents must always survive.
 *
 *  1. growth by one byte from 1 to 100000 bytes (new byte written each step;
 *     the whole block compared with the reference every step while small and
 *     periodically later, plus a rolling checksum kept alongside);
 *  2. doubling growth from 1 byte to 64 MiB;
 *  3. shrinking: halving from 8 MiB, and stepping down by small amounts;
 *  4. ping-pong between a small and a large size;
 *  5. 1000 blocks grown and shrunk at random, interleaved;
 *  6. realloc across threads: blocks allocated in one thread are realloc'ed
 *     in another, including after the allocating thread has exited. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_test.h"

static inline unsigned char pat(uint64_t key, size_t i)
{
    return (unsigned char)((key >> (8 * (i % 7))) + i * 0x3bu + (i >> 9));
}

static void fill_from(unsigned char *p, size_t from, size_t to, uint64_t key)
{
    for (size_t i = from; i < to; i++)
        p[i] = pat(key, i);
}

/* Returns the first mismatching offset, or (size_t)-1. */
static size_t first_bad(const unsigned char *p, size_t n, uint64_t key)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(key, i))
            return i;
    return (size_t)-1;
}

/* Word-wise pattern for the big blocks (fast to write and check). */
static void fill_words(unsigned char *p, size_t from, size_t to, uint64_t key)
{
    for (size_t off = from; off + 8 <= to; off += 8) {
        uint64_t w = key + off * 0x9E3779B97F4A7C15ULL;
        memcpy(p + off, &w, 8);
    }
}

static int check_words(const unsigned char *p, size_t n, uint64_t key)
{
    for (size_t off = 0; off + 8 <= n; off += 8) {
        uint64_t w;
        memcpy(&w, p + off, 8);
        if (w != key + off * 0x9E3779B97F4A7C15ULL)
            return 0;
    }
    return 1;
}

/* ---- 1: grow by one byte -------------------------------------------------- */
static void test_grow_by_one(void)
{
    enum { MAX = 100000 };
    unsigned char *ref = malloc(MAX);
    CHECK("reference buffer", ref != NULL);
    if (!ref)
        return;
    fill_from(ref, 0, MAX, 0x1111);

    unsigned char *p = NULL;
    uint64_t sum = 0; /* rolling checksum: sum of (byte * (i+1)) */
    size_t moves = 0, errors = 0;
    for (size_t n = 1; n <= MAX; n++) {
        unsigned char *q = realloc(p, n);
        if (!q) {
            CHECK("grow by one: realloc", 0);
            break;
        }
        if (q != p)
            moves++;
        p = q;
        p[n - 1] = ref[n - 1];
        sum += (uint64_t)ref[n - 1] * n;
        /* Cheap checks every step: both ends. */
        if (p[0] != ref[0] || (n >= 2 && p[n - 2] != ref[n - 2])) {
            if (errors++ < 3)
                fprintf(stderr, "grow by one: ends wrong at size %zu\n", n);
        }
        int full = n <= 16384 || n % 61 == 0 || n == MAX;
        if (full && memcmp(p, ref, n) != 0) {
            if (errors++ < 3)
                fprintf(stderr, "grow by one: contents wrong at size %zu (offset %zu)\n", n,
                        first_bad(p, n, 0x1111));
        }
        if (n % 4096 == 0 || n == MAX) {
            uint64_t s = 0;
            for (size_t i = 0; i < n; i++)
                s += (uint64_t)p[i] * (i + 1);
            if (s != sum && errors++ < 3)
                fprintf(stderr, "grow by one: checksum wrong at size %zu\n", n);
        }
    }
    CHECK("grow by one byte to 100000 keeps contents", errors == 0);
    CHECK("grow by one: usable size", p && malloc_usable_size(p) >= MAX);
    printf("grow by one: %zu moves\n", moves);

    /* And back down by one byte to 1 (only down to 30000 to bound time). */
    errors = 0;
    for (size_t n = MAX - 1; n >= 30000; n--) {
        unsigned char *q = realloc(p, n);
        if (!q) {
            CHECK("shrink by one: realloc", 0);
            break;
        }
        p = q;
        if ((n % 97 == 0 || n < 30100) && memcmp(p, ref, n) != 0 && errors++ < 3)
            fprintf(stderr, "shrink by one: contents wrong at size %zu\n", n);
        if (p[n - 1] != ref[n - 1] && errors++ < 3)
            fprintf(stderr, "shrink by one: last byte wrong at size %zu\n", n);
    }
    CHECK("shrink by one byte keeps contents", errors == 0);
    free(p);
    free(ref);
}

/* ---- 2: doubling growth to 64 MiB ---------------------------------------- */
static void test_doubling(void)
{
    const uint64_t key = 0x2222333344445555ULL;
    unsigned char *p = NULL;
    size_t old = 0;
    int errors = 0;
    for (size_t n = 1; n <= ((size_t)64 << 20); n *= 2) {
        unsigned char *q = realloc(p, n);
        if (!q) {
            fprintf(stderr, "doubling: realloc to %zu failed\n", n);
            CHECK("doubling: realloc", 0);
            break;
        }
        p = q;
        if (n < 64) {
            if (first_bad(p, old, key) != (size_t)-1 && errors++ < 3)
                fprintf(stderr, "doubling: contents lost at %zu\n", n);
            fill_from(p, old, n, key);
        } else {
            if (old >= 64 && !check_words(p, old, key) && errors++ < 3)
                fprintf(stderr, "doubling: contents lost at %zu\n", n);
            if (old < 64) {
                /* switch from the byte pattern to the word pattern */
                if (first_bad(p, old, key) != (size_t)-1 && errors++ < 3)
                    fprintf(stderr, "doubling: contents lost at %zu\n", n);
                fill_words(p, 0, n, key);
            } else {
                fill_words(p, old, n, key);
            }
        }
        old = n;
    }
    CHECK("doubling growth to 64 MiB keeps contents", errors == 0);
    CHECK("doubling: final size usable", p && malloc_usable_size(p) >= old);
    /* 64 MiB back down to 100 bytes in one step, then to 10. */
    if (p) {
        unsigned char *q = realloc(p, 100);
        CHECK("64 MiB -> 100", q != NULL);
        if (q) {
            p = q;
            CHECK("64 MiB -> 100 keeps contents", check_words(p, 96, key));
            q = realloc(p, 10);
            CHECK("100 -> 10", q != NULL);
            if (q) {
                p = q;
                uint64_t w = key;
                CHECK("100 -> 10 keeps contents", memcmp(p, &w, 8) == 0);
            }
        }
    }
    free(p);
}

/* ---- 3: shrinking --------------------------------------------------------- */
static void test_shrinking(void)
{
    const uint64_t key = 0x5151;
    size_t n = (size_t)8 << 20;
    unsigned char *p = malloc(n);
    CHECK("malloc 8 MiB", p != NULL);
    if (!p)
        return;
    fill_words(p, 0, n, key);
    int errors = 0;
    while (n > 8) {
        n /= 2;
        unsigned char *q = realloc(p, n);
        if (!q) {
            CHECK("halving: realloc", 0);
            break;
        }
        p = q;
        if (!check_words(p, n, key) && errors++ < 3)
            fprintf(stderr, "halving: contents lost at %zu\n", n);
    }
    CHECK("halving from 8 MiB keeps contents", errors == 0);
    free(p);

    /* Step down by small irregular amounts, across large and small sizes. */
    n = 300000;
    p = malloc(n);
    CHECK("malloc 300000", p != NULL);
    if (!p)
        return;
    fill_from(p, 0, n, key);
    errors = 0;
    unsigned long long rng = 3;
    while (n > 1) {
        size_t step = 1 + pm_test_rand(&rng) % (n > 5000 ? 3000 : 13);
        n = n > step ? n - step : 1;
        unsigned char *q = realloc(p, n);
        if (!q) {
            CHECK("step down: realloc", 0);
            break;
        }
        p = q;
        size_t bad = first_bad(p, n, key);
        if (bad != (size_t)-1 && errors++ < 3)
            fprintf(stderr, "step down: contents lost at %zu (offset %zu)\n", n, bad);
    }
    CHECK("stepping down keeps contents", errors == 0);
    free(p);
}

/* ---- 4: ping-pong ---------------------------------------------------------- */
static void test_ping_pong(void)
{
    static const size_t pairs[][2] = {
        {24, 300000}, {8, 5000}, {512, 513}, {100, 1 << 20}, {4096, 4097}, {70000, 600}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        size_t small = pairs[k][0], large = pairs[k][1];
        if (small > large) {
            size_t t = small;
            small = large;
            large = t;
        }
        uint64_t key = 0x7000 + k;
        unsigned char *p = malloc(small);
        if (!p) {
            CHECK("ping-pong malloc", 0);
            continue;
        }
        fill_from(p, 0, small, key);
        int errors = 0;
        for (int i = 0; i < 300; i++) {
            unsigned char *q = realloc(p, large);
            if (!q) {
                errors++;
                break;
            }
            p = q;
            if (first_bad(p, small, key) != (size_t)-1 && errors++ < 3)
                fprintf(stderr, "ping-pong %zu->%zu lost contents (round %d)\n", small, large, i);
            /* Scribble on the tail, which the shrink drops. */
            memset(p + small, 0xEE, large - small);
            q = realloc(p, small);
            if (!q) {
                errors++;
                break;
            }
            p = q;
            if (first_bad(p, small, key) != (size_t)-1 && errors++ < 3)
                fprintf(stderr, "ping-pong %zu->%zu lost contents (round %d)\n", large, small, i);
        }
        CHECK("realloc ping-pong keeps contents", errors == 0);
        free(p);
    }
}

/* ---- 5: many interleaved blocks ------------------------------------------- */
typedef struct {
    unsigned char *p;
    size_t size;
} rb_t;

static size_t random_size(unsigned long long *rng)
{
    unsigned long long r = pm_test_rand(rng);
    unsigned pick = (unsigned)(r % 100);
    r >>= 8;
    if (pick < 80)
        return r % 2049;
    if (pick < 97)
        return 2049 + r % 30000;
    return 32768 + r % 250000;
}

static long interleaved(rb_t *b, int nblocks, int ops, unsigned long long seed, int start)
{
    unsigned long long rng = seed;
    long errors = 0;
    for (int i = 0; i < ops; i++) {
        int k = start + (int)(pm_test_rand(&rng) % (unsigned)nblocks);
        size_t ns = random_size(&rng);
        unsigned char *q = realloc(b[k].p, ns);
        if (!q) {
            if (ns != 0 || !b[k].p) { /* realloc(p, 0) frees and returns NULL */
                if (errors++ < 3)
                    fprintf(stderr, "interleaved: realloc to %zu failed\n", ns);
                continue;
            }
            b[k].p = NULL;
            b[k].size = 0;
            continue;
        }
        size_t keep = b[k].size < ns ? b[k].size : ns;
        size_t bad = first_bad(q, keep, (uint64_t)k * 0x10001);
        if (bad != (size_t)-1 && errors++ < 3)
            fprintf(stderr, "interleaved: block %d %zu -> %zu lost contents at %zu\n", k,
                    b[k].size, ns, bad);
        fill_from(q, keep, ns, (uint64_t)k * 0x10001);
        b[k].p = q;
        b[k].size = ns;
    }
    return errors;
}

static void test_interleaved(void)
{
    enum { N = 1000 };
    rb_t *b = calloc(N, sizeof *b);
    CHECK("block table", b != NULL);
    if (!b)
        return;
    long errors = interleaved(b, N, 30000, 99, 0);
    for (int k = 0; k < N; k++) {
        if (b[k].p && first_bad(b[k].p, b[k].size, (uint64_t)k * 0x10001) != (size_t)-1)
            errors++;
        free(b[k].p);
    }
    free(b);
    CHECK("1000 interleaved blocks keep contents", errors == 0);
}

/* ---- 6: across threads ----------------------------------------------------- */
#define XT_BLOCKS 512
static rb_t xt[XT_BLOCKS];

typedef struct {
    int start, count;
    unsigned long long seed;
    long errors;
} xt_arg_t;

static void *xt_alloc(void *argp)
{
    xt_arg_t *a = argp;
    unsigned long long rng = a->seed;
    for (int k = a->start; k < a->start + a->count; k++) {
        size_t n = random_size(&rng);
        xt[k].p = malloc(n);
        xt[k].size = n;
        if (!xt[k].p) {
            a->errors++;
            continue;
        }
        fill_from(xt[k].p, 0, n, (uint64_t)k * 0x10001);
    }
    return NULL;
}

static void *xt_realloc(void *argp)
{
    xt_arg_t *a = argp;
    a->errors += interleaved(xt, a->count, a->count * 20, a->seed, a->start);
    return NULL;
}

static void test_cross_thread(void)
{
    /* Thread A allocates blocks 0..255 and exits; threads B and C realloc
     * them (B the first half, C the second) while thread D allocates
     * 256..511 which the main thread then reallocs; finally the blocks are
     * checked and freed by yet another thread. */
    pthread_t ta, tb, tc, td, te;
    xt_arg_t aa = {0, 256, 11, 0}, ad = {256, 256, 12, 0};
    int ok = pthread_create(&ta, NULL, xt_alloc, &aa) == 0;
    ok = ok && pthread_join(ta, NULL) == 0;
    CHECK("thread A", ok && aa.errors == 0);
    xt_arg_t ab = {0, 128, 21, 0}, ac = {128, 128, 22, 0};
    ok = pthread_create(&tb, NULL, xt_realloc, &ab) == 0;
    ok = ok && pthread_create(&tc, NULL, xt_realloc, &ac) == 0;
    ok = ok && pthread_create(&td, NULL, xt_alloc, &ad) == 0;
    CHECK("threads B C D started", ok);
    if (!ok)
        return;
    pthread_join(td, NULL);
    CHECK("thread D", ad.errors == 0);
    long main_errors = interleaved(xt, 256, 256 * 20, 31, 256);
    pthread_join(tb, NULL);
    pthread_join(tc, NULL);
    CHECK("realloc in another thread than malloc (B)", ab.errors == 0);
    CHECK("realloc in another thread than malloc (C)", ac.errors == 0);
    CHECK("realloc in main of blocks from exited D", main_errors == 0);

    /* Thread E reallocs (grows) every block once more, then frees them. */
    xt_arg_t ae = {0, XT_BLOCKS, 41, 0};
    ok = pthread_create(&te, NULL, xt_realloc, &ae) == 0;
    if (ok)
        pthread_join(te, NULL);
    CHECK("thread E", ok && ae.errors == 0);
    long errors = 0;
    for (int k = 0; k < XT_BLOCKS; k++) {
        if (xt[k].p && first_bad(xt[k].p, xt[k].size, (uint64_t)k * 0x10001) != (size_t)-1)
            errors++;
        free(xt[k].p);
        xt[k].p = NULL;
    }
    CHECK("cross-thread blocks intact at the end", errors == 0);
}

int main(void)
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    test_grow_by_one();
    test_doubling();
    test_shrinking();
    test_ping_pong();
    test_interleaved();
    test_cross_thread();
    return pm_test_finish();
}
