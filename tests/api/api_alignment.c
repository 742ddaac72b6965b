/* api_alignment.c -- alignment guarantees of malloc and of the aligned
 * allocation functions.
 *
 * poolmalloc's small size classes are 8, 16, 24, ..., 512 bytes; a block of
 * a class that is a multiple of 16 is 16-aligned, the others are 8-aligned,
 * and every request above 512 bytes is 16-aligned.  So malloc(n) must be
 * 8-aligned always, and 16-aligned when n > 8 and round_up(n, 8) is a
 * multiple of 16, or n > 512.
 *
 * Build with -DPM_TEST_SYSTEM_MALLOC to sanity-run against the system malloc. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm_test.h"

static size_t launder(size_t x)
{
    volatile size_t v = x;
    return v;
}

static int expect16(size_t n)
{
    if (n > 512)
        return 1;
    if (n <= 8)
        return 0;
    return ((n + 7) / 8 * 8) % 16 == 0;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 29u + seed);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 29u + seed))
            return 0;
    return 1;
}

/* ---- plain malloc ------------------------------------------------------- */
static void test_malloc_alignment(void)
{
    int bad8 = 0, bad16 = 0, badnull = 0;
    /* Every size 0..4200; keep a few blocks of each size alive at once so
     * that we see more than the first block of each pool. */
    enum { KEEP = 5 };
    for (size_t n = 0; n <= 4200; n++) {
        void *v[KEEP];
        for (int k = 0; k < KEEP; k++) {
            v[k] = malloc(launder(n));
            uintptr_t a = (uintptr_t)v[k];
            if (!v[k]) {
                badnull++;
                continue;
            }
            if (a % 8) {
                if (bad8++ < 5)
                    fprintf(stderr, "  malloc(%zu) = %p not 8-aligned\n", n, v[k]);
            }
            if (expect16(n) && a % 16) {
                if (bad16++ < 5)
                    fprintf(stderr, "  malloc(%zu) = %p not 16-aligned\n", n, v[k]);
            }
            if (n)
                ((unsigned char *)v[k])[n - 1] = 1;
        }
        for (int k = 0; k < KEEP; k++)
            free(v[k]);
    }
    /* A selection of sizes up to 4 MiB. */
    for (size_t n = 4201; n <= ((size_t)4 << 20); n = n * 5 / 4 + 3) {
        size_t sizes[3] = {n, n | 7, (n + 4095) & ~(size_t)4095};
        for (int j = 0; j < 3; j++) {
            void *p = malloc(launder(sizes[j]));
            if (!p) {
                badnull++;
                continue;
            }
            if ((uintptr_t)p % 16) {
                if (bad16++ < 10)
                    fprintf(stderr, "  malloc(%zu) = %p not 16-aligned\n", sizes[j], p);
            }
            ((unsigned char *)p)[sizes[j] - 1] = 1;
            ((unsigned char *)p)[0] = 1;
            free(p);
        }
    }
    /* Many blocks of one 16-multiple class alive at once (spanning pools). */
    size_t cls[] = {16, 48, 112, 256, 512, 24, 40, 8};
    for (size_t c = 0; c < sizeof cls / sizeof cls[0]; c++) {
        enum { M = 3000 };
        void **v = malloc(M * sizeof *v);
        if (!v) {
            badnull++;
            continue;
        }
        for (int i = 0; i < M; i++) {
            v[i] = malloc(launder(cls[c]));
            if (!v[i])
                badnull++;
            else if ((uintptr_t)v[i] % (expect16(cls[c]) ? 16 : 8)) {
                if (bad16++ < 10)
                    fprintf(stderr, "  malloc(%zu) = %p misaligned (#%d)\n", cls[c], v[i], i);
            }
        }
        for (int i = 0; i < M; i++)
            free(v[i]);
        free(v);
    }
    CHECK("malloc never NULL", badnull == 0);
    CHECK("malloc 8-aligned", bad8 == 0);
    CHECK("malloc 16-aligned where the class is a multiple of 16", bad16 == 0);

    /* calloc and realloc follow the same rule. */
    int badc = 0;
    for (size_t n = 1; n <= 1100; n++) {
        void *p = calloc(1, launder(n));
        if (!p || (uintptr_t)p % (expect16(n) ? 16 : 8))
            badc++;
        void *q = realloc(p, launder(n + 37));
        if (!q || (uintptr_t)q % (expect16(n + 37) ? 16 : 8))
            badc++;
        free(q ? q : p);
    }
    CHECK("calloc/realloc alignment", badc == 0);
}

/* ---- aligned allocation ------------------------------------------------- */
enum { FN_POSIX, FN_ALIGNED_ALLOC, FN_MEMALIGN, FN_COUNT };
static const char *fn_name[FN_COUNT] = {"posix_memalign", "aligned_alloc", "memalign"};

static void *do_alloc(int fn, size_t align, size_t size)
{
    void *p = NULL;
    switch (fn) {
    case FN_POSIX: {
        int r = posix_memalign(&p, launder(align), launder(size));
        if (r != 0) {
            fprintf(stderr, "  posix_memalign(%zu, %zu) = %d\n", align, size, r);
            return NULL;
        }
        return p;
    }
    case FN_ALIGNED_ALLOC:
        return aligned_alloc(launder(align), launder(size));
    default:
        return memalign(launder(align), launder(size));
    }
}

typedef struct {
    unsigned char *p;
    size_t size, align;
    unsigned seed;
} live_t;

static void test_aligned(void)
{
    static const size_t sizes[] = {0, 1, 7, 8, 15, 16, 100, 512, 513, 4096, 5000, 100000, 1 << 20};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    int bad_null = 0, bad_align = 0, bad_usable = 0, bad_content = 0;

    for (int fn = 0; fn < FN_COUNT; fn++) {
        for (size_t align = 1; align <= ((size_t)1 << 20); align *= 2) {
            if (fn == FN_POSIX && align < sizeof(void *))
                continue;
            for (int s = 0; s < NS; s++) {
                size_t size = sizes[s];
                unsigned char *p = do_alloc(fn, align, size);
                if (!p) {
                    if (bad_null++ < 10)
                        fprintf(stderr, "  %s(%zu, %zu) = NULL\n", fn_name[fn], align, size);
                    continue;
                }
                if ((uintptr_t)p % align) {
                    if (bad_align++ < 10)
                        fprintf(stderr, "  %s(%zu, %zu) = %p misaligned\n", fn_name[fn], align,
                                size, (void *)p);
                }
                size_t us = malloc_usable_size(p);
                if (us < size) {
                    if (bad_usable++ < 10)
                        fprintf(stderr, "  %s(%zu, %zu): usable %zu\n", fn_name[fn], align, size,
                                us);
                }
                fill(p, size, (unsigned)(align + s));
                if (!check(p, size, (unsigned)(align + s)))
                    bad_content++;
                free(p);
            }
        }
    }
    CHECK("aligned allocations non-NULL", bad_null == 0);
    CHECK("aligned allocations aligned", bad_align == 0);
    CHECK("aligned allocations usable size >= request", bad_usable == 0);
    CHECK("aligned allocations writable", bad_content == 0);

    /* Several alignments alive at once, freed in shuffled order; a few are
     * realloc'ed first (contents must survive, alignment need not). */
    enum { NLIVE = 600 };
    live_t *live = calloc(NLIVE, sizeof *live);
    CHECK("calloc live table", live != NULL);
    if (!live)
        return;
    unsigned long long rng = 0x1234;
    int n = 0;
    for (int i = 0; i < NLIVE; i++) {
        int fn = (int)(pm_test_rand(&rng) % FN_COUNT);
        unsigned shift = (unsigned)(pm_test_rand(&rng) % 17); /* up to 64 KiB */
        size_t align = (size_t)1 << shift;
        if (fn == FN_POSIX && align < sizeof(void *))
            align = sizeof(void *);
        size_t size = sizes[pm_test_rand(&rng) % (NS - 1)]; /* no 1 MiB here */
        if (pm_test_rand(&rng) % 4 == 0)
            size = pm_test_rand(&rng) % 3000;
        unsigned char *p = do_alloc(fn, align, size);
        if (!p) {
            bad_null++;
            continue;
        }
        if ((uintptr_t)p % align)
            bad_align++;
        live[n].p = p;
        live[n].size = size;
        live[n].align = align;
        live[n].seed = (unsigned)i * 7u;
        fill(p, size, live[n].seed);
        n++;
    }
    /* Realloc a quarter of them. */
    for (int i = 0; i < n; i += 4) {
        size_t newsize = live[i].size * 2 + 10;
        unsigned char *q = realloc(live[i].p, launder(newsize));
        if (!q) {
            bad_null++;
            continue;
        }
        if (!check(q, live[i].size, live[i].seed)) {
            bad_content++;
            fprintf(stderr, "  realloc of %zu-aligned block %zu -> %zu lost contents\n",
                    live[i].align, live[i].size, newsize);
        }
        live[i].p = q;
        fill(q, newsize, live[i].seed);
        live[i].size = newsize;
    }
    /* Shrink some. */
    for (int i = 2; i < n; i += 8) {
        size_t newsize = live[i].size / 3;
        unsigned char *q = realloc(live[i].p, launder(newsize));
        if (!q) {
            if (newsize) /* realloc(p, 0) frees and returns NULL */
                bad_null++;
            live[i].p = NULL;
            continue;
        }
        if (!check(q, newsize, live[i].seed))
            bad_content++;
        live[i].p = q;
        live[i].size = newsize;
    }
    /* Shuffle and free, checking every block on the way. */
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(pm_test_rand(&rng) % (unsigned long long)(i + 1));
        live_t t = live[i];
        live[i] = live[j];
        live[j] = t;
    }
    for (int i = 0; i < n; i++) {
        if (live[i].p && !check(live[i].p, live[i].size, live[i].seed)) {
            bad_content++;
            fprintf(stderr, "  live %zu-aligned block of %zu bytes corrupted\n", live[i].align,
                    live[i].size);
        }
        free(live[i].p);
    }
    free(live);
    CHECK("live aligned set non-NULL", bad_null == 0);
    CHECK("live aligned set aligned", bad_align == 0);
    CHECK("live aligned set contents (incl. realloc)", bad_content == 0);

    /* realloc of a large aligned block keeps contents. */
    for (size_t align = 64; align <= ((size_t)1 << 20); align *= 16) {
        unsigned char *p = aligned_alloc(launder(align), launder(200000));
        CHECK("aligned_alloc 200000", p != NULL && (uintptr_t)p % align == 0);
        if (!p)
            continue;
        fill(p, 200000, 77);
        unsigned char *q = realloc(p, launder(900000));
        CHECK("realloc aligned grow", q != NULL);
        if (!q) {
            free(p);
            continue;
        }
        CHECK("realloc aligned grow keeps contents", check(q, 200000, 77));
        p = realloc(q, launder(1000));
        CHECK("realloc aligned shrink", p != NULL);
        if (!p) {
            free(q);
            continue;
        }
        CHECK("realloc aligned shrink keeps contents", check(p, 1000, 77));
        free(p);
    }
}

/* Every size of the medium range (513..16384, by 8) at every alignment
 * from 16 to a page, each block allocated twice in a row (the second
 * comes from the thread cache the first went to): malloc's class serves
 * the request whenever its blocks are aligned enough (a 4096-byte class at
 * a page), another class or the large path when not. */
static void test_aligned_medium_sweep(void)
{
    int bad_null = 0, bad_align = 0, bad_usable = 0;
    for (size_t align = 16; align <= 4096; align *= 2) {
        for (size_t size = 513; size <= 16384; size += 8) {
            for (int round = 0; round < 2; round++) {
                unsigned char *p = aligned_alloc(align, size);
                if (!p) {
                    bad_null++;
                    continue;
                }
                if ((uintptr_t)p % align && bad_align++ < 10)
                    fprintf(stderr, "  aligned_alloc(%zu, %zu) = %p misaligned\n", align, size,
                            (void *)p);
                if (malloc_usable_size(p) < size)
                    bad_usable++;
                p[0] = 1;
                p[size - 1] = 2;
                free(p);
            }
        }
    }
    CHECK("medium aligned allocations non-NULL", bad_null == 0);
    CHECK("medium aligned allocations aligned", bad_align == 0);
    CHECK("medium aligned allocations usable size >= request", bad_usable == 0);
}

/* posix_memalign of a small or medium block that a free just cached: the
 * second call of each pair is served by the thread cache's pop
 * (pools/alloc.c), which must take a block of the class the aligned path
 * would use, aligned, as large as asked, and leave errno as it was; past a
 * page's alignment and past the medium sizes the general path does the
 * same. */
static void test_posix_cached(void)
{
    int bad_align = 0, bad_errno = 0, bad_ret = 0, bad_usable = 0;
    for (size_t align = sizeof(void *); align <= 8192; align *= 2) {
        for (size_t size = 1; size <= 17000; size += size < 600 ? 7 : 97) {
            void *p = NULL, *q = NULL;
            if (posix_memalign(&p, launder(align), launder(size)) != 0) {
                bad_ret++;
                continue;
            }
            memset(p, 0x5A, size);
            free(p);
            errno = 1234;
            if (posix_memalign(&q, launder(align), launder(size)) != 0) {
                bad_ret++;
                continue;
            }
            if (errno != 1234)
                bad_errno++;
            if (malloc_usable_size(q) < size)
                bad_usable++;
            if ((uintptr_t)q % align) {
                if (bad_align++ < 10)
                    fprintf(stderr, "  posix_memalign(%zu, %zu) = %p misaligned\n", align, size,
                            q);
            }
            memset(q, 0xA5, size);
            free(q);
        }
    }
    CHECK("posix_memalign after a free: 0", bad_ret == 0);
    CHECK("posix_memalign after a free: aligned", bad_align == 0);
    CHECK("posix_memalign after a free: errno kept", bad_errno == 0);
    CHECK("posix_memalign after a free: usable size >= request", bad_usable == 0);
}

int main(void)
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    test_malloc_alignment();
    test_aligned();
    test_aligned_medium_sweep();
    test_posix_cached();
    return pm_test_finish();
}
