/* api_conformance.c -- the malloc family behaves as glibc documents it, at
 * every edge: zero sizes, NULL pointers, errno, overflow, impossible sizes,
 * alignment arguments, usable sizes, realloc contents, and the glibc
 * extensions (malloc_trim, malloc_stats, mallinfo2, mallopt).
 *
 * Build with -DPM_TEST_SYSTEM_MALLOC to sanity-run the program against the
 * system malloc: that skips pm_test_require_poolmalloc() and the few checks
 * where poolmalloc is documented to be stricter than glibc 2.36. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm_test.h"

/* A failed realloc leaves the block valid, which GCC 12 cannot know. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

#ifdef PM_TEST_SYSTEM_MALLOC
#define PM_ONLY 0
#else
#define PM_ONLY 1
#endif

/* Hide constant sizes from the compiler so that it neither warns about nor
 * reasons about impossible requests. */
static size_t launder(size_t x)
{
    volatile size_t v = x;
    return v;
}

static size_t page_size;

static int is_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static unsigned char pat(size_t i, unsigned seed)
{
    return (unsigned char)(i * 131u + seed * 7u + (i >> 8) + 1u);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(i, seed);
}

static int check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(i, seed))
            return 0;
    return 1;
}

/* ---- malloc(0), free(NULL), errno ------------------------------------------ */
static void test_zero_and_null(void)
{
    void *a = malloc(launder(0));
    void *b = malloc(launder(0));
    CHECK("malloc(0) non-NULL", a != NULL);
    CHECK("malloc(0) non-NULL (2nd)", b != NULL);
    CHECK("malloc(0) pointers differ", a != b);
    free(a);
    free(b);

    /* Many malloc(0) blocks alive at once are all distinct. */
    enum { N = 256 };
    void *z[N];
    for (int i = 0; i < N; i++)
        z[i] = malloc(launder(0));
    int distinct = 1, nonnull = 1;
    for (int i = 0; i < N; i++) {
        if (!z[i])
            nonnull = 0;
        for (int j = 0; j < i; j++)
            if (z[i] == z[j])
                distinct = 0;
    }
    CHECK("256 x malloc(0) non-NULL", nonnull);
    CHECK("256 x malloc(0) distinct", distinct);
    for (int i = 0; i < N; i++)
        free(z[i]);

    errno = 4321;
    free(NULL);
    CHECK("free(NULL) keeps errno", errno == 4321);

    /* free preserves errno, for small and large blocks. */
    size_t sizes[] = {1, 24, 512, 4000, 100000, 4u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = malloc(launder(sizes[i]));
        CHECK("malloc for errno test", p != NULL);
        errno = 1234;
        free(p);
        CHECK("free preserves errno", errno == 1234);
    }

    /* realloc(NULL, n) acts as malloc. */
    unsigned char *r = realloc(NULL, launder(100));
    CHECK("realloc(NULL,100) non-NULL", r != NULL);
    if (r) {
        CHECK("realloc(NULL,100) usable", malloc_usable_size(r) >= 100);
        fill(r, 100, 1);
        CHECK("realloc(NULL,100) writable", check(r, 100, 1));
    }
    free(r);
    r = realloc(NULL, launder(0));
    CHECK("realloc(NULL,0) non-NULL (malloc(0))", r != NULL);
    free(r);
    r = realloc(NULL, launder(300000));
    CHECK("realloc(NULL,300000) non-NULL", r != NULL);
    if (r) {
        fill(r, 300000, 2);
        CHECK("realloc(NULL,300000) writable", check(r, 300000, 2));
    }
    free(r);

    /* realloc(p, 0) frees p and returns NULL (glibc). */
    size_t rs[] = {1, 64, 1000, 200000};
    for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
        void *p = malloc(launder(rs[i]));
        CHECK("malloc before realloc(p,0)", p != NULL);
        void *q = realloc(p, launder(0));
        CHECK("realloc(p,0) returns NULL", q == NULL);
        if (q)
            free(q);
    }
    /* The freed memory is still usable by the allocator afterwards. */
    void *after = malloc(64);
    CHECK("malloc after realloc(p,0)", after != NULL);
    free(after);
}

/* ---- calloc ---------------------------------------------------------------- */
static void test_calloc(void)
{
    size_t sizes[] = {0, 1, 7, 8, 24, 100, 256, 512, 513, 1000, 4096, 8192, 65536, 100000, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = calloc(1, launder(n));
        CHECK("calloc non-NULL", p != NULL);
        if (p)
            CHECK("calloc zeroed", is_zero(p, n));
        free(p);
        p = calloc(launder(n), 1);
        CHECK("calloc(n,1) non-NULL", p != NULL);
        if (p)
            CHECK("calloc(n,1) zeroed", is_zero(p, n));
        free(p);
    }

    /* Dirty memory, free it, calloc the same size: must come back zeroed,
     * even when the allocator reuses the very same block. */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int rep = 0; rep < 20; rep++) {
            unsigned char *d = malloc(launder(n));
            CHECK("malloc for dirty", d != NULL);
            if (!d)
                break;
            size_t us = malloc_usable_size(d);
            memset(d, 0xAB, us);
            free(d);
            unsigned char *c = calloc(launder(n), 1);
            CHECK("calloc after dirty non-NULL", c != NULL);
            if (!c)
                break;
            if (!is_zero(c, n)) {
                fprintf(stderr, "calloc(%zu) not zeroed after dirty free (rep %d, same=%d)\n", n,
                        rep, c == d);
                CHECK("calloc after dirty zeroed", 0);
                free(c);
                break;
            }
            free(c);
        }
    }
    /* Every size up to 160 (calloc zeroes up to 128 bytes with inline
     * stores, more with memset), each from a dirty block of its class. */
    int sweep_ok = 1;
    for (size_t n = 1; n <= 160; n++) {
        unsigned char *d = malloc(launder(n));
        if (!d) {
            sweep_ok = 0;
            break;
        }
        memset(d, 0xAB, malloc_usable_size(d));
        free(d);
        unsigned char *c = calloc(launder(n), 1);
        if (!c || !is_zero(c, n)) {
            fprintf(stderr, "calloc(%zu) not zeroed after a dirty free (same=%d)\n", n, c == d);
            sweep_ok = 0;
        }
        free(c);
    }
    CHECK("calloc of every size up to 160 after dirty zeroed", sweep_ok);

    /* Many dirty blocks of one class freed together, then calloc'ed back. */
    for (size_t n = 8; n <= 512; n += 40) {
        enum { K = 64 };
        unsigned char *v[K];
        for (int i = 0; i < K; i++) {
            v[i] = malloc(launder(n));
            if (v[i])
                memset(v[i], 0xAB, n);
        }
        for (int i = 0; i < K; i++)
            free(v[i]);
        int ok = 1;
        for (int i = 0; i < K; i++) {
            v[i] = calloc(launder(n), 1);
            if (!v[i] || !is_zero(v[i], n))
                ok = 0;
        }
        CHECK("calloc batch after dirty batch zeroed", ok);
        for (int i = 0; i < K; i++)
            free(v[i]);
    }
    /* calloc with count * size products. */
    unsigned int *arr = calloc(launder(1000), sizeof *arr);
    CHECK("calloc(1000,4) non-NULL", arr != NULL);
    if (arr)
        CHECK("calloc(1000,4) zeroed", is_zero((unsigned char *)arr, 4000));
    free(arr);

    /* Overflow of count * size: NULL + ENOMEM. */
    struct {
        size_t n, s;
    } ov[] = {
        {SIZE_MAX / 2 + 1, 4},
        {SIZE_MAX / 2 + 1, 2},
        {4, SIZE_MAX / 2 + 1},
        {SIZE_MAX, SIZE_MAX},
        {(size_t)1 << 32, (size_t)1 << 32},
        {SIZE_MAX / 3 + 1, 3},
        {65537, SIZE_MAX / 65536},
    };
    for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
        errno = 0;
        void *p = calloc(launder(ov[i].n), launder(ov[i].s));
        CHECK("calloc overflow NULL", p == NULL);
        CHECK("calloc overflow ENOMEM", errno == ENOMEM);
        free(p);
    }
}

/* ---- reallocarray ------------------------------------------------------------ */
static void test_reallocarray(void)
{
    unsigned char *p = reallocarray(NULL, launder(10), launder(10));
    CHECK("reallocarray(NULL,10,10)", p != NULL);
    if (!p)
        return;
    fill(p, 100, 3);
    unsigned char *q = reallocarray(p, launder(20), launder(10));
    CHECK("reallocarray grow", q != NULL);
    if (!q) {
        free(p);
        return;
    }
    p = q;
    CHECK("reallocarray grow keeps contents", check(p, 100, 3));
    fill(p, 200, 4);

    errno = 0;
    q = reallocarray(p, launder(SIZE_MAX / 2 + 1), launder(4));
    CHECK("reallocarray overflow NULL", q == NULL);
    CHECK("reallocarray overflow ENOMEM", errno == ENOMEM);
    CHECK("reallocarray overflow leaves block intact", check(p, 200, 4));
    errno = 0;
    q = reallocarray(p, launder((size_t)1 << 33), launder((size_t)1 << 33));
    CHECK("reallocarray overflow 2 NULL", q == NULL);
    CHECK("reallocarray overflow 2 ENOMEM", errno == ENOMEM);
    CHECK("reallocarray overflow 2 intact", check(p, 200, 4));
    CHECK("reallocarray overflow usable size kept", malloc_usable_size(p) >= 200);
    free(p);

    errno = 0;
    q = reallocarray(NULL, launder(SIZE_MAX), launder(2));
    CHECK("reallocarray(NULL) overflow NULL", q == NULL);
    CHECK("reallocarray(NULL) overflow ENOMEM", errno == ENOMEM);
}

/* ---- impossible sizes ----------------------------------------------------- */
static void expect_nomem(const char *name, void *p)
{
    int e = errno;
    if (p != NULL || e != ENOMEM)
        fprintf(stderr, "  %s: got %p errno %d\n", name, p, e);
    CHECK(name, p == NULL);
    CHECK(name, e == ENOMEM);
    if (p)
        free(p);
}

static void test_impossible(void)
{
    /* Twice: the second time with freed mappings waiting in the thread's
     * large slot, which malloc looks at first (arenas/large.c). */
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            free(malloc(launder(1 << 20)));
            free(malloc(launder(65536)));
        }
        errno = 0;
        expect_nomem("malloc(SIZE_MAX)", malloc(launder(SIZE_MAX)));
        errno = 0;
        expect_nomem("malloc(SIZE_MAX-4096)", malloc(launder(SIZE_MAX - 4096)));
        errno = 0;
        expect_nomem("malloc(SIZE_MAX-1)", malloc(launder(SIZE_MAX - 1)));
        errno = 0;
        expect_nomem("malloc(PTRDIFF_MAX+1)", malloc(launder((size_t)PTRDIFF_MAX + 1)));
        errno = 0;
        expect_nomem("malloc(PTRDIFF_MAX)", malloc(launder((size_t)PTRDIFF_MAX)));
        errno = 0;
        expect_nomem("calloc(1,SIZE_MAX)", calloc(launder(1), launder(SIZE_MAX)));
        errno = 0;
        expect_nomem("calloc(SIZE_MAX,1)", calloc(launder(SIZE_MAX), launder(1)));
        errno = 0;
        expect_nomem("calloc(1,PTRDIFF_MAX+1)", calloc(launder(1), launder((size_t)PTRDIFF_MAX + 1)));
        errno = 0;
        expect_nomem("realloc(NULL,SIZE_MAX)", realloc(NULL, launder(SIZE_MAX)));
    }

    /* realloc to an impossible size leaves the block intact. */
    size_t bs[] = {16, 300, 5000, 200000};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++) {
        unsigned char *p = malloc(launder(bs[i]));
        CHECK("malloc before failing realloc", p != NULL);
        if (!p)
            continue;
        fill(p, bs[i], 5 + (unsigned)i);
        size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1};
        for (size_t h = 0; h < 3; h++) {
            errno = 0;
            void *q = realloc(p, launder(huge[h]));
            int e = errno;
            CHECK("realloc(p,huge) NULL", q == NULL);
            CHECK("realloc(p,huge) ENOMEM", e == ENOMEM);
            CHECK("realloc(p,huge) block intact", check(p, bs[i], 5 + (unsigned)i));
            if (q) {
                p = q;
                break;
            }
        }
        CHECK("block still usable after failed realloc", malloc_usable_size(p) >= bs[i]);
        /* And it can still be reallocated and freed normally. */
        unsigned char *q = realloc(p, launder(bs[i] + 100));
        CHECK("realloc after failed realloc", q != NULL);
        if (q) {
            CHECK("realloc after failed realloc keeps contents", check(q, bs[i], 5 + (unsigned)i));
            p = q;
        }
        free(p);
    }

    void *out = (void *)0x1;
    int r = posix_memalign(&out, launder(64), launder(SIZE_MAX));
    CHECK("posix_memalign huge ENOMEM", r == ENOMEM);
    r = posix_memalign(&out, launder(4096), launder(SIZE_MAX - 4096));
    CHECK("posix_memalign huge2 ENOMEM", r == ENOMEM);
    r = posix_memalign(&out, launder(8), launder((size_t)PTRDIFF_MAX + 1));
    CHECK("posix_memalign PTRDIFF_MAX+1 ENOMEM", r == ENOMEM);
    r = posix_memalign(&out, launder((size_t)1 << 20), launder(SIZE_MAX - ((size_t)1 << 19)));
    CHECK("posix_memalign 1MiB-aligned huge ENOMEM", r == ENOMEM);

    errno = 0;
    expect_nomem("aligned_alloc(4096,SIZE_MAX)", aligned_alloc(launder(4096), launder(SIZE_MAX)));
    errno = 0;
    expect_nomem("aligned_alloc(64,SIZE_MAX-64)",
                 aligned_alloc(launder(64), launder(SIZE_MAX - 64)));
    errno = 0;
    expect_nomem("memalign(64,SIZE_MAX)", memalign(launder(64), launder(SIZE_MAX)));
    errno = 0;
    expect_nomem("memalign(4096,SIZE_MAX-8192)",
                 memalign(launder(4096), launder(SIZE_MAX - 8192)));
    errno = 0;
    expect_nomem("valloc(SIZE_MAX)", valloc(launder(SIZE_MAX)));
    errno = 0;
    expect_nomem("valloc(SIZE_MAX-4096)", valloc(launder(SIZE_MAX - 4096)));
    errno = 0;
    expect_nomem("pvalloc(SIZE_MAX)", pvalloc(launder(SIZE_MAX)));
    errno = 0;
    expect_nomem("pvalloc(SIZE_MAX-100)", pvalloc(launder(SIZE_MAX - 100)));
    errno = 0;
    expect_nomem("pvalloc(SIZE_MAX-page+1)", pvalloc(launder(SIZE_MAX - page_size + 2)));

    /* Still works afterwards. */
    void *p = malloc(100);
    CHECK("malloc after impossible sizes", p != NULL);
    free(p);
}

/* ---- alignment arguments ------------------------------------------------- */
static void test_align_args(void)
{
    size_t bad_pm[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4095, 4097};
    for (size_t i = 0; i < sizeof bad_pm / sizeof bad_pm[0]; i++) {
        void *out = (void *)0x1;
        int r = posix_memalign(&out, launder(bad_pm[i]), launder(64));
        if (r != EINVAL)
            fprintf(stderr, "  posix_memalign(align=%zu) returned %d\n", bad_pm[i], r);
        CHECK("posix_memalign bad alignment EINVAL", r == EINVAL);
        if (r == 0)
            free(out);
    }
    for (size_t a = sizeof(void *); a <= ((size_t)1 << 16); a *= 2) {
        void *out = NULL;
        errno = 777;
        int r = posix_memalign(&out, launder(a), launder(100));
        CHECK("posix_memalign good alignment 0", r == 0);
        CHECK("posix_memalign good alignment aligned", out && ((uintptr_t)out % a) == 0);
        CHECK("posix_memalign does not set errno on success", errno == 777);
        if (r == 0) {
            memset(out, 0x5A, 100);
            free(out);
        }
    }
    /* posix_memalign with size 0 succeeds with a freeable pointer. */
    void *z = NULL;
    int r = posix_memalign(&z, launder(64), launder(0));
    CHECK("posix_memalign(64,0) ok", r == 0);
    free(z);

    for (size_t a = 1; a <= ((size_t)1 << 16); a *= 2) {
        errno = 0;
        void *p = aligned_alloc(launder(a), launder(64));
        CHECK("aligned_alloc power of two", p != NULL && ((uintptr_t)p % a) == 0);
        if (p) {
            CHECK("aligned_alloc usable", malloc_usable_size(p) >= 64);
            memset(p, 1, 64);
        }
        free(p);
        p = memalign(launder(a), launder(64));
        CHECK("memalign power of two", p != NULL && ((uintptr_t)p % a) == 0);
        if (p) {
            CHECK("memalign usable", malloc_usable_size(p) >= 64);
            memset(p, 1, 64);
        }
        free(p);
    }
    if (PM_ONLY) {
        /* glibc 2.36 rounds these up; poolmalloc rejects them. */
        size_t bad[] = {0, 3, 24, 100, 4097};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            errno = 0;
            void *p = aligned_alloc(launder(bad[i]), launder(64));
            int e = errno;
            if (p || e != EINVAL)
                fprintf(stderr, "  aligned_alloc(align=%zu) gave %p errno %d\n", bad[i], p, e);
            CHECK("aligned_alloc non-power-of-two NULL", p == NULL);
            CHECK("aligned_alloc non-power-of-two EINVAL", e == EINVAL);
            free(p);
            errno = 0;
            p = memalign(launder(bad[i]), launder(64));
            e = errno;
            if (p || e != EINVAL)
                fprintf(stderr, "  memalign(align=%zu) gave %p errno %d\n", bad[i], p, e);
            CHECK("memalign non-power-of-two NULL", p == NULL);
            CHECK("memalign non-power-of-two EINVAL", e == EINVAL);
            free(p);
        }
    }

    /* valloc / pvalloc are page-aligned. */
    size_t vs[] = {0, 1, 100, 4095, 4096, 4097, 10000, 100000};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        unsigned char *p = valloc(launder(vs[i]));
        CHECK("valloc non-NULL", p != NULL);
        CHECK("valloc page-aligned", ((uintptr_t)p % page_size) == 0);
        if (p) {
            CHECK("valloc usable", malloc_usable_size(p) >= vs[i]);
            memset(p, 0x11, vs[i]);
        }
        free(p);
        p = pvalloc(launder(vs[i]));
        CHECK("pvalloc non-NULL", p != NULL);
        CHECK("pvalloc page-aligned", ((uintptr_t)p % page_size) == 0);
        if (p) {
            size_t rounded = (vs[i] + page_size - 1) / page_size * page_size;
            CHECK("pvalloc usable >= rounded size", malloc_usable_size(p) >= rounded);
            memset(p, 0x22, rounded);
        }
        free(p);
    }
    unsigned char *p0 = pvalloc(launder(0));
    CHECK("pvalloc(0) non-NULL", p0 != NULL);
    CHECK("pvalloc(0) page-aligned", ((uintptr_t)p0 % page_size) == 0);
    if (PM_ONLY && p0) /* glibc gives a minimum chunk; poolmalloc a whole page */
        CHECK("pvalloc(0) is a page", malloc_usable_size(p0) >= page_size);
    free(p0);
    unsigned char *p1 = pvalloc(launder(1));
    CHECK("pvalloc(1) non-NULL", p1 != NULL);
    if (p1) {
        CHECK("malloc_usable_size(pvalloc(1)) >= page", malloc_usable_size(p1) >= page_size);
        memset(p1, 0x33, page_size);
    }
    free(p1);
}

/* ---- malloc_usable_size ------------------------------------------------- */
static void test_usable_size(void)
{
    CHECK("malloc_usable_size(NULL)==0", malloc_usable_size(NULL) == 0);
    int bad = 0;
    for (size_t n = 0; n <= 70000;) {
        unsigned char *p = malloc(launder(n));
        if (!p) {
            CHECK("malloc for usable size", 0);
            break;
        }
        size_t us = malloc_usable_size(p);
        if (us < n) {
            if (bad++ < 5)
                fprintf(stderr, "  malloc_usable_size(malloc(%zu)) = %zu\n", n, us);
        }
        memset(p, 0xC3, us); /* all usable bytes must be writable */
        free(p);
        if (n < 1100)
            n += 1;
        else if (n < 9000)
            n += 7;
        else
            n += 61 + (n % 13);
    }
    CHECK("malloc_usable_size >= request for 0..70000", bad == 0);

    /* Usable bytes of neighbouring blocks do not overlap: fill each block
     * completely with its own byte and check none was overwritten. */
    enum { N = 400 };
    unsigned char *v[N];
    size_t us[N];
    unsigned long long rng = 42;
    for (int i = 0; i < N; i++) {
        size_t n = pm_test_rand(&rng) % 600;
        if (i % 50 == 0)
            n = 2000 + pm_test_rand(&rng) % 70000;
        v[i] = malloc(launder(n));
        us[i] = v[i] ? malloc_usable_size(v[i]) : 0;
        if (v[i])
            memset(v[i], (unsigned char)i, us[i]);
    }
    int ok = 1;
    for (int i = 0; i < N; i++) {
        for (size_t j = 0; j < us[i]; j++)
            if (v[i][j] != (unsigned char)i) {
                ok = 0;
                break;
            }
        free(v[i]);
    }
    CHECK("usable ranges of live blocks do not overlap", ok);

    /* realloc keeps every usable byte, not only the requested ones: a
     * program may fill what malloc_usable_size promised (a buffer library
     * taking it as its capacity) and then grow the block.  For each size,
     * a bigger mapping is freed first (so that a large block may move into
     * it by copy), and a block made after it keeps it from growing in place.
     * A move of a large block by copy took the requested bytes alone. */
    static const size_t sizes[] = {20, 500, 600, 5000, 16000, 20001, 33333, 100001};
    int lost = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int r = 0; r < 20; r++) {
            size_t n = sizes[k] + (size_t)r * 8, grown = 2 * n + 4096;
            free(malloc(launder(grown + 4096)));
            unsigned char *p = malloc(launder(n));
            unsigned char *after = malloc(launder(n));
            if (!p || !after) {
                CHECK("malloc for the usable-bytes realloc", 0);
                free(p);
                free(after);
                return;
            }
            size_t u = malloc_usable_size(p);
            memset(p, (unsigned char)(k * 31 + (size_t)r), u);
            unsigned char *q = realloc(p, launder(grown));
            if (!q) {
                CHECK("realloc for the usable-bytes check", 0);
                free(p);
                free(after);
                return;
            }
            for (size_t i = 0; i < u; i++)
                if (q[i] != (unsigned char)(k * 31 + (size_t)r)) {
                    if (lost++ < 3)
                        fprintf(stderr, "  realloc(malloc(%zu), %zu): byte %zu of %zu usable lost\n",
                                n, grown, i, u);
                    break;
                }
            free(q);
            free(after);
        }
    }
    CHECK("realloc keeps every usable byte", lost == 0);
}

/* ---- realloc contents ---------------------------------------------------- */
static void test_realloc_contents(void)
{
    /* Grow across all small classes 1..512 and shrink back. */
    for (size_t from = 1; from <= 512; from += 1) {
        size_t to = (from * 5) % 520 + 1;
        unsigned char *p = malloc(launder(from));
        if (!p) {
            CHECK("malloc small", 0);
            return;
        }
        fill(p, from, (unsigned)from);
        unsigned char *q = realloc(p, launder(to));
        CHECK("realloc small non-NULL", q != NULL);
        if (!q) {
            free(p);
            continue;
        }
        size_t keep = from < to ? from : to;
        if (!check(q, keep, (unsigned)from)) {
            fprintf(stderr, "  realloc %zu -> %zu lost contents\n", from, to);
            CHECK("realloc small keeps contents", 0);
        }
        CHECK("realloc small usable", malloc_usable_size(q) >= to);
        free(q);
    }
    /* Every 8-byte class to every other, starting from a full block. */
    for (size_t a = 8; a <= 512; a += 8) {
        for (size_t b = 8; b <= 512; b += 24) {
            unsigned char *p = malloc(launder(a));
            if (!p)
                continue;
            fill(p, a, (unsigned)(a + b));
            unsigned char *q = realloc(p, launder(b));
            if (!q) {
                CHECK("realloc class->class non-NULL", 0);
                free(p);
                continue;
            }
            if (!check(q, a < b ? a : b, (unsigned)(a + b))) {
                fprintf(stderr, "  realloc %zu -> %zu lost contents\n", a, b);
                CHECK("realloc class->class keeps contents", 0);
            }
            free(q);
        }
    }

    /* small -> large: 100 -> 5000 -> 2 MiB, then large -> small. */
    unsigned char *p = malloc(launder(100));
    CHECK("malloc 100", p != NULL);
    if (!p)
        return;
    fill(p, 100, 9);
    unsigned char *q = realloc(p, launder(5000));
    CHECK("realloc 100->5000", q != NULL);
    if (!q) {
        free(p);
        return;
    }
    p = q;
    CHECK("100->5000 keeps contents", check(p, 100, 9));
    fill(p, 5000, 10);
    q = realloc(p, launder(2u << 20));
    CHECK("realloc 5000->2MiB", q != NULL);
    if (!q) {
        free(p);
        return;
    }
    p = q;
    CHECK("5000->2MiB keeps contents", check(p, 5000, 10));
    fill(p, 2u << 20, 11);
    q = realloc(p, launder(300));
    CHECK("realloc 2MiB->300", q != NULL);
    if (!q) {
        free(p);
        return;
    }
    p = q;
    CHECK("2MiB->300 keeps contents", check(p, 300, 11));
    q = realloc(p, launder(16));
    CHECK("realloc 300->16", q != NULL);
    if (!q) {
        free(p);
        return;
    }
    p = q;
    CHECK("300->16 keeps contents", check(p, 16, 11));
    CHECK("300->16 usable", malloc_usable_size(p) >= 16);
    free(p);

    /* Large -> large, growing and shrinking. */
    size_t steps[] = {70000, 140000, 1 << 20, 3 << 20, 600000, 130000, 66000, 9000, 700};
    p = malloc(launder(4096));
    size_t cur = 4096;
    if (p)
        fill(p, cur, 12);
    for (size_t i = 0; p && i < sizeof steps / sizeof steps[0]; i++) {
        q = realloc(p, launder(steps[i]));
        CHECK("realloc large step", q != NULL);
        if (!q)
            break;
        p = q;
        size_t keep = cur < steps[i] ? cur : steps[i];
        if (!check(p, keep, 12 + (unsigned)i)) {
            fprintf(stderr, "  realloc %zu -> %zu lost contents\n", cur, steps[i]);
            CHECK("realloc large step keeps contents", 0);
        }
        cur = steps[i];
        fill(p, cur, 13 + (unsigned)i);
    }
    free(p);

    /* Same size class: realloc stays in place (classes are 8 bytes apart). */
    p = malloc(launder(17));
    CHECK("malloc 17", p != NULL);
    if (p) {
        fill(p, 17, 20);
        q = realloc(p, launder(20));
        CHECK("realloc 17->20 in place", q == p);
        if (q) {
            p = q;
            CHECK("realloc 17->20 contents", check(p, 17, 20));
            q = realloc(p, launder(24));
            CHECK("realloc 20->24 in place", q == p);
            if (q) {
                p = q;
                CHECK("realloc 20->24 contents", check(p, 17, 20));
                q = realloc(p, launder(18));
                CHECK("realloc 24->18 in place", q == p);
                if (q)
                    p = q;
            }
        }
        free(p);
    }
    p = malloc(launder(505));
    if (p) {
        q = realloc(p, launder(512));
        CHECK("realloc 505->512 in place", q == p);
        free(q ? q : p);
    }

    /* Failed realloc leaves the old block intact, ENOMEM. */
    p = malloc(launder(77));
    CHECK("malloc 77", p != NULL);
    if (p) {
        fill(p, 77, 30);
        errno = 0;
        q = realloc(p, launder(SIZE_MAX));
        CHECK("realloc SIZE_MAX NULL", q == NULL);
        CHECK("realloc SIZE_MAX ENOMEM", errno == ENOMEM);
        CHECK("realloc SIZE_MAX block intact", check(p, 77, 30));
        free(q ? q : p);
    }
}

/* ---- glibc extensions ---------------------------------------------------- */
/* poolmalloc's realloc policy (docs/API.md): a small or medium block that
 * grows moves to a quarter more room than asked for, and stays in place
 * while a later request fits and takes more than half of it, with the
 * alignment malloc would give; shrunk to half or less, it moves. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PM_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef PM_UNDER_VALGRIND
#define PM_UNDER_VALGRIND() 0
#endif

static void test_realloc_policy(void)
{
    if (!PM_ONLY)
        return;
    bool roomy = !PM_UNDER_VALGRIND();   /* under memcheck a moved block is exact */
    int moves = 0, bad = 0;
    unsigned char *p = malloc(launder(16));
    if (!p) {
        CHECK("malloc 16", 0);
        return;
    }
    fill(p, 16, 7);
    for (size_t size = 32; size <= 512; size += 16) {
        unsigned char *q = realloc(p, launder(size));
        if (!q) {
            bad++;
            break;
        }
        moves += q != p;
        if (((uintptr_t)q & 15) || !check(q, 16, 7) || malloc_usable_size(q) < size)
            bad++;
        p = q;
    }
    CHECK("realloc growth by 16 bytes to 512: contents, 16-aligned", bad == 0);
    CHECK("realloc growth by 16 bytes to 512 moves at most 16 times of 31", !roomy || moves <= 16);
    unsigned char *half = realloc(p, launder(300));
    CHECK("realloc 512 -> 300 stays in place", half == p);
    p = half ? half : p;
    unsigned char *small = realloc(p, launder(100));
    CHECK("realloc 512 -> 100 moves, giving the room back",
          small && small != p && malloc_usable_size(small) < 256);
    free(small ? small : p);

    moves = 0;
    bad = 0;
    p = malloc(launder(600));
    for (size_t size = 700; p && size <= 16000; size += 100) {
        unsigned char *q = realloc(p, launder(size));
        if (!q) {
            bad++;
            break;
        }
        moves += q != p;
        p = q;
    }
    CHECK("realloc growth by 100 bytes, 600 to 16000", p && bad == 0);
    CHECK("realloc medium growth moves at most 16 times of 154", !roomy || moves <= 16);
    free(p);
}

static void test_extensions(void)
{
    /* Churn some memory so that trim has something to do. */
    void *v[200];
    for (int i = 0; i < 200; i++)
        v[i] = malloc(launder((size_t)(i % 10 == 0 ? 200000 : 64 + i)));
    for (int i = 0; i < 200; i++)
        free(v[i]);
    int t = malloc_trim(0);
    CHECK("malloc_trim(0) returns 0 or 1", t == 0 || t == 1);
    t = malloc_trim(launder(1 << 20));
    CHECK("malloc_trim(1MiB) returns 0 or 1", t == 0 || t == 1);
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)(i % 10 == 0 ? 200000 : 64 + i);
        v[i] = malloc(launder(n));
        if (!v[i])
            ok = 0;
        else
            memset(v[i], i, n);
    }
    for (int i = 0; i < 200; i++)
        free(v[i]);
    CHECK("allocation works after malloc_trim", ok);

    void *small = malloc(launder(100));
    void *large = malloc(launder(8u << 20));
    CHECK("small+large for stats", small && large);
    if (large)
        memset(large, 1, 8u << 20);
    fflush(stdout);
    malloc_stats(); /* to stderr; must not crash */
    struct mallinfo2 mi = mallinfo2();
    CHECK("mallinfo2 arena+hblkhd > 0", mi.arena + mi.hblkhd > 0);
    CHECK("mallinfo2 uordblks+hblkhd > 0", mi.uordblks + mi.hblkhd > 0);
    free(small);
    free(large);
    mi = mallinfo2();
    (void)mi;

    CHECK("mallopt(M_MMAP_THRESHOLD,1MiB)==1", mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
    if (PM_ONLY) /* glibc 2.36 returns 1 for unknown parameters */
        CHECK("mallopt(unknown)==0", mallopt(12345, 1) == 0);
    void *p = malloc(launder(2u << 20));
    CHECK("malloc after mallopt", p != NULL);
    free(p);
}

int main(void)
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    test_zero_and_null();
    test_calloc();
    test_reallocarray();
    test_impossible();
    test_align_args();
    test_usable_size();
    test_realloc_contents();
    test_realloc_policy();
    test_extensions();
    return pm_test_finish();
}
