/* fuzz_api.c -- libFuzzer harness: random sequences of every pm_* entry point
 * checked against a shadow model.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined together with the
 * allocator core (prefixed API only: ASan keeps the process's malloc), and
 * also linked into fuzz_driver.c, a plain main() that replays files and
 * random inputs (the sanitizer builds of the default suite use it with gcc).
 *
 * The model: a table of NSLOTS slots, each empty or holding one live block
 * with its requested size, the alignment asked for, how many bytes are
 * filled with the slot's pattern, and whether it came from calloc.  Checks,
 * each a crash (abort) that libFuzzer saves:
 *   - every valid request up to the size cap succeeds; the block is aligned
 *     as asked (8 always, 16 for classes that are multiples of 16 and over
 *     512 bytes, a page for valloc/pvalloc), usable size >= size, calloc
 *     memory is zero, and no two live blocks overlap;
 *   - a block's contents survive until it is freed or reallocated (checked
 *     at every free and realloc, and all of them at the CHECK op and at the
 *     end), and realloc keeps min(old, new) bytes; malloc_usable_size bytes
 *     are all writable (the slack is filled too);
 *   - impossible requests (sizes past the address space, calloc and
 *     reallocarray overflow, pvalloc(SIZE_MAX), absurd alignments) return NULL
 *     with errno ENOMEM, and a failed realloc leaves the block intact;
 *     invalid alignments give EINVAL (aligned_alloc, memalign: NULL + errno;
 *     posix_memalign: the return value, *out untouched, errno kept but ENOMEM when out of memory, as glibc);
 *   - at the end of each input everything is freed, pm_malloc_trim(0) runs,
 *     and no pool, span, arena or large mapping may be left (pm_stats_get).
 *
 * Input format (also what tests/fuzz/make_corpus.py writes): a sequence of
 * operations, each an opcode byte (taken modulo OP_COUNT) and a slot byte
 * (modulo NSLOTS), then the operation's arguments.  Reading past the end
 * gives zeros.  A size is one selector byte s, by s % 8:
 *   0,1,2: small, u16 % 513         3: tiny, s / 8 (0..31)
 *   4: medium, 513 + u16 % 15872    5: an edge size, edge_sizes[u8 % N]
 *   6: large, 16385 + u24 % (LARGE_CAP - 16384)
 *   7: near a page multiple: (s / 8 + 1) * 4096 + (u8 % 3) - 1
 * An alignment is one byte a: a < 0xd0 gives 1 << (a % 17) (1..64 KiB),
 * otherwise bad_aligns[a % N] (invalid ones, and absurdly large powers of
 * two).  Integers are little-endian.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolmalloc.h"

/* The model's bulk loops (filling, comparing, overlap tests) are left out
 * of libFuzzer's coverage and comparison tracing: they say nothing about the
 * allocator, and traced they cost most of the time. */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

#define NSLOTS 64
#define LARGE_CAP ((size_t)1 << 20) /* at most 4 x LARGE_CAP per slot (calloc) */

typedef struct {
    unsigned char *p;
    size_t size;     /* requested */
    size_t filled;   /* bytes holding the pattern (size, or usable size) */
    size_t align;    /* asked for, 0 for malloc & co */
    uint8_t seed;
} slot_t;

static slot_t slots[NSLOTS];
static uint8_t seed_next;

/* ---- input reading ---- */
typedef struct {
    const uint8_t *p;
    size_t left;
} in_t;

static unsigned u8(in_t *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

static unsigned u16(in_t *in) { return u8(in) | u8(in) << 8; }
static unsigned u24(in_t *in) { return u16(in) | u8(in) << 16; }

static const size_t edge_sizes[] = {0,    1,     7,     8,     9,     15,    16,    17,
                                    24,   63,    64,    127,   128,   129,   255,   256,
                                    511,  512,   513,   640,   641,   1024,  2047,  4095,
                                    4096, 4097,  8191,  8192,  12288, 16383, 16384, 16385,
                                    16386, 20480, 65535, 65536, 65537, 262144, LARGE_CAP};
#define N_EDGES (sizeof edge_sizes / sizeof edge_sizes[0])

static size_t take_size(in_t *in)
{
    unsigned s = u8(in);
    switch (s % 8) {
    case 0: case 1: case 2:
        return u16(in) % 513;
    case 3:
        return s / 8;
    case 4:
        return 513 + u16(in) % (16384 - 512);
    case 5:
        return edge_sizes[u8(in) % N_EDGES];
    case 6:
        return 16385 + u24(in) % (LARGE_CAP - 16384);
    default:
        return (size_t)(s / 8 + 1) * 4096 + u8(in) % 3 - 1;
    }
}

/* Alignments that must be refused (EINVAL), or that cannot be honoured
 * (ENOMEM): powers of two beyond the address space. */
static const size_t bad_aligns[] = {0,    3,    5,     6,     12,          24,
                                    48,   96,   100,   4097,  65535,       65537,
                                    SIZE_MAX, (size_t)1 << 41, (size_t)1 << 63, 3u << 12};
#define N_BAD_ALIGNS (sizeof bad_aligns / sizeof bad_aligns[0])

static size_t take_align(in_t *in)
{
    unsigned a = u8(in);
    if (a < 0xd0)
        return (size_t)1 << (a % 17);
    return bad_aligns[a % N_BAD_ALIGNS];
}

static int is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* ---- failures: one line on stderr, then abort (libFuzzer keeps the input) ---- */
__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_api: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

/* ---- contents ----
 * Byte i of a block filled with seed s is ref[i] ^ s: compared a word at a
 * time, so that checking every live block often stays cheap. */
#define REF_LEN ((size_t)8 << 20) /* > the largest usable size the model makes */
static uint8_t ref[REF_LEN];

NO_COVERAGE static void ref_init(void)
{
    if (ref[1])
        return;
    for (size_t i = 0; i < REF_LEN; i++)
        ref[i] = (uint8_t)(i * 7u + (i >> 9) + 1u);
}

NO_COVERAGE static void fill(unsigned char *p, size_t from, size_t to, uint8_t seed)
{
    if (to > REF_LEN)
        fail("model: block of %zu bytes is bigger than the reference pattern", to);
    uint64_t s8 = seed * 0x0101010101010101ull;
    size_t i = from;
    for (; i < to && (i & 7); i++)
        p[i] = ref[i] ^ seed;
    for (; i + 8 <= to; i += 8) {
        uint64_t r;
        __builtin_memcpy(&r, ref + i, 8);
        r ^= s8;
        __builtin_memcpy(p + i, &r, 8);
    }
    for (; i < to; i++)
        p[i] = ref[i] ^ seed;
}

/* Offset of the first byte of p[0..n) that is not the pattern, or n. */
NO_COVERAGE static size_t mismatch(const unsigned char *p, size_t n, uint8_t seed)
{
    uint64_t s8 = seed * 0x0101010101010101ull;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w, r;
        __builtin_memcpy(&w, p + k, 8);   /* builtin: tests build with -fno-builtin */
        __builtin_memcpy(&r, ref + k, 8);
        if ((w ^ s8) != r)
            break;
    }
    for (; k < n; k++)
        if ((uint8_t)(p[k] ^ seed) != ref[k])
            return k;
    return n;
}

static void verify(int i, const char *when)
{
    slot_t *s = &slots[i];
    size_t k = mismatch(s->p, s->filled, s->seed);
    if (k < s->filled)
        fail("%s: slot %d (%p, %zu bytes, align %zu): byte %zu is %#x, expected %#x", when, i,
             (void *)s->p, s->size, s->align, k, s->p[k], ref[k] ^ s->seed);
}

/* ---- checking and recording a fresh block ---- */

/* A live slot other than `self` whose block overlaps [p, p + n), or -1. */
NO_COVERAGE static int overlapping(const unsigned char *p, size_t n, int self)
{
    for (int j = 0; j < NSLOTS; j++) {
        const unsigned char *q = slots[j].p;
        if (j == self || !q)
            continue;
        if (p < q + pm_malloc_usable_size((void *)q) && q < p + n)
            return j;
    }
    return -1;
}

/* Offset of the first non-zero byte of p[0..n), or n. */
NO_COVERAGE static size_t first_nonzero(const unsigned char *p, size_t n)
{
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w;
        __builtin_memcpy(&w, p + k, 8);
        if (w)
            break;
    }
    for (; k < n; k++)
        if (p[k])
            return k;
    return n;
}

static void check_block(unsigned char *p, size_t size, size_t align, int self, const char *what)
{
    if ((uintptr_t)p & 7)
        fail("%s(%zu) = %p: not 8-aligned", what, size, (void *)p);
    if (align && ((uintptr_t)p & (align - 1)))
        fail("%s(%zu, align %zu) = %p: misaligned", what, size, align, (void *)p);
    int c = pm_size_class(size);
    if ((size > 512 || (c >= 0 && pm_class_block_size(c) % 16 == 0)) && ((uintptr_t)p & 15))
        fail("%s(%zu) = %p: not 16-aligned", what, size, (void *)p);
    size_t usable = pm_malloc_usable_size(p);
    if (usable < size)
        fail("%s(%zu) = %p: usable size %zu", what, size, (void *)p, usable);
    if (usable > 2 * size + 2 * align + 8192)
        fail("%s(%zu, align %zu): usable size %zu is absurd", what, size, align, usable);
    int j = overlapping(p, usable, self);
    if (j >= 0)
        fail("%s(%zu) = %p (usable %zu) overlaps slot %d = %p (usable %zu)", what, size,
             (void *)p, usable, j, (void *)slots[j].p, pm_malloc_usable_size(slots[j].p));
}

static void keep(int i, unsigned char *p, size_t size, size_t align, int zeroed,
                 const char *what)
{
    check_block(p, size, align, i, what);
    size_t k;
    if (zeroed && (k = first_nonzero(p, size)) < size)
        fail("%s(%zu) = %p: byte %zu not zero", what, size, (void *)p, k);
    slot_t *s = &slots[i];
    s->p = p;
    s->size = size;
    s->filled = size;
    s->align = align;
    s->seed = ++seed_next;
    fill(p, 0, size, s->seed);
}

static void drop(int i)
{
    if (!slots[i].p)
        return;
    verify(i, "free");
    pm_free(slots[i].p);
    slots[i].p = NULL;
}

/* A request that cannot be served: NULL with errno ENOMEM. */
static void expect_enomem(void *p, int err, const char *what, size_t a, size_t b)
{
    if (p)
        fail("%s(%zu, %zu) succeeded (%p), expected ENOMEM", what, a, b, p);
    if (err != ENOMEM)
        fail("%s(%zu, %zu) = NULL with errno %d, expected ENOMEM", what, a, b, err);
}

/* ---- operations ---- */
enum {
    OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_FREE, OP_ALIGNED_ALLOC, OP_POSIX_MEMALIGN,
    OP_MEMALIGN, OP_VALLOC, OP_PVALLOC, OP_REALLOCARRAY, OP_USABLE, OP_TRIM, OP_IMPOSSIBLE,
    OP_OPTION, OP_CHECK, OP_COUNT
};

static void op_realloc(int i, size_t size, const char *what, unsigned char *q, int err)
{
    slot_t *s = &slots[i];
    if (!q) {
        if (size == 0 && s->p) {        /* realloc(p, 0): p freed, NULL returned */
            s->p = NULL;
            return;
        }
        fail("%s(%p, %zu) failed, errno %d", what, (void *)s->p, size, err);
    }
    if (s->p) {
        size_t keep_n = s->size < size ? s->size : size;
        size_t k = mismatch(q, keep_n, s->seed);
        if (k < keep_n)
            fail("%s(%p of %zu -> %zu) = %p: byte %zu lost", what, (void *)s->p, s->size, size,
                 (void *)q, k);
    }
    s->p = NULL;                        /* the old block is gone either way */
    keep(i, q, size, 0, 0, what);
}

static void op_impossible(in_t *in, int i)
{
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 4095, SIZE_MAX / 2, (size_t)PTRDIFF_MAX,
                                  (size_t)PTRDIFF_MAX + 1, (size_t)1 << 47, (size_t)1 << 50};
    size_t h = huge[u8(in) % (sizeof huge / sizeof huge[0])];
    unsigned which = u8(in) % 9;
    void *p;
    errno = 0;
    switch (which) {
    case 0:
        p = pm_malloc(h);
        expect_enomem(p, errno, "malloc", h, 0);
        break;
    case 1: {                           /* overflowing product */
        size_t n = 2 + u8(in);
        p = pm_calloc(n, SIZE_MAX / n + 1);
        expect_enomem(p, errno, "calloc", n, SIZE_MAX / n + 1);
        break;
    }
    case 2:
        p = pm_calloc(1, h);
        expect_enomem(p, errno, "calloc", 1, h);
        break;
    case 3:                             /* realloc: fails, the block stays */
    case 4:
        if (which == 3)
            p = pm_realloc(slots[i].p, h);
        else
            p = pm_reallocarray(slots[i].p, 3, SIZE_MAX / 2);
        expect_enomem(p, errno, which == 3 ? "realloc" : "reallocarray", (size_t)slots[i].p, h);
        if (slots[i].p)
            verify(i, "failed realloc");
        break;
    case 5:
        p = pm_valloc(h);
        expect_enomem(p, errno, "valloc", h, 0);
        break;
    case 6:
        p = pm_pvalloc(h);
        expect_enomem(p, errno, "pvalloc", h, 0);
        break;
    case 7:
        p = pm_aligned_alloc(4096, h);
        expect_enomem(p, errno, "aligned_alloc", 4096, h);
        break;
    default: {
        void *out = &out;
        errno = 77;
        int r = pm_posix_memalign(&out, 64, h);
        if (r != ENOMEM || out != &out || errno != ENOMEM)
            fail("posix_memalign(64, %zu) = %d, out %s, errno %d", h, r,
                 out == &out ? "untouched" : "changed", errno);
        break;
    }
    }
}

static void op_option(in_t *in)
{
    static const long caches[] = {0, 1L << 20, 8L << 20, 64L << 20};
    unsigned v = u8(in);
    switch (v % 3) {
    case 0:
        pm_option_set(PM_OPTION_LARGE_CACHE, caches[(v / 3) % 4]);
        break;
    case 1:
        pm_option_set(PM_OPTION_LARGE_DECAY_MS, (v / 3) % 2 ? 1000 : 0);
        break;
    default:
        pm_option_set(PM_OPTION_ARENA_RESERVE, (v / 3) % 5);
        break;
    }
}

/* An aligned request through one of the three functions that take an
 * alignment; how: 0 aligned_alloc, 1 memalign, 2 posix_memalign. */
static void op_aligned(int i, int how, size_t align, size_t size)
{
    static const char *names[] = {"aligned_alloc", "memalign", "posix_memalign"};
    int valid = is_pow2(align) && (how != 2 || align % sizeof(void *) == 0);
    int possible = align <= ((size_t)1 << 30);
    void *p = NULL;
    int err;
    drop(i);
    if (how == 2) {
        void *out = &out;
        errno = 77;
        err = pm_posix_memalign(&out, align, size);
        /* glibc: errno kept, but ENOMEM when out of memory */
        if (errno != (err == ENOMEM ? ENOMEM : 77))
            fail("posix_memalign(%zu, %zu) returned %d and left errno %d", align, size, err,
                 errno);
        if (err == 0)
            p = out;
        else if (out != &out)
            fail("posix_memalign(%zu, %zu) failed (%d) but wrote *out", align, size, err);
    } else {
        errno = 0;
        p = how == 0 ? pm_aligned_alloc(align, size) : pm_memalign(align, size);
        err = p ? 0 : errno;
    }
    if (!valid) {
        if (p || err != EINVAL)
            fail("%s(%zu, %zu): invalid alignment gave %p, error %d (expected EINVAL)",
                 names[how], align, size, p, err);
        return;
    }
    if (!possible) {
        if (p || err != ENOMEM)
            fail("%s(%zu, %zu): gave %p, error %d (expected ENOMEM)", names[how], align, size,
                 p, err);
        return;
    }
    if (!p)
        fail("%s(%zu, %zu) failed, error %d", names[how], align, size, err);
    keep(i, p, size, align, 0, names[how]);
}

static void run_op(in_t *in)
{
    unsigned op = u8(in) % OP_COUNT;
    int i = (int)(u8(in) % NSLOTS);
    slot_t *s = &slots[i];
    switch (op) {
    case OP_MALLOC: {
        size_t size = take_size(in);
        drop(i);
        unsigned char *p = pm_malloc(size);
        if (!p)
            fail("malloc(%zu) failed, errno %d", size, errno);
        keep(i, p, size, 0, 0, "malloc");
        break;
    }
    case OP_CALLOC: {
        size_t size = take_size(in);
        size_t n = u8(in) % 5;
        drop(i);
        unsigned char *p = pm_calloc(n, size);
        if (!p)
            fail("calloc(%zu, %zu) failed, errno %d", n, size, errno);
        keep(i, p, n * size, 0, 1, "calloc");
        break;
    }
    case OP_REALLOC: {
        size_t size = take_size(in);
        if (s->p)
            verify(i, "realloc");
        errno = 0;
        unsigned char *q = pm_realloc(s->p, size);
        op_realloc(i, size, "realloc", q, errno);
        break;
    }
    case OP_REALLOCARRAY: {
        size_t size = take_size(in);
        size_t n = u8(in) % 5;
        if (s->p)
            verify(i, "reallocarray");
        errno = 0;
        unsigned char *q = pm_reallocarray(s->p, n, size);
        op_realloc(i, n * size, "reallocarray", q, errno);
        break;
    }
    case OP_FREE:
        drop(i);
        break;
    case OP_ALIGNED_ALLOC:
    case OP_POSIX_MEMALIGN:
    case OP_MEMALIGN: {
        size_t align = take_align(in);
        size_t size = take_size(in);
        op_aligned(i, op == OP_ALIGNED_ALLOC ? 0 : op == OP_MEMALIGN ? 1 : 2, align, size);
        break;
    }
    case OP_VALLOC:
    case OP_PVALLOC: {
        size_t size = take_size(in);
        drop(i);
        unsigned char *p = op == OP_VALLOC ? pm_valloc(size) : pm_pvalloc(size);
        if (!p)
            fail("%s(%zu) failed, errno %d", op == OP_VALLOC ? "valloc" : "pvalloc", size, errno);
        if (op == OP_PVALLOC)
            size = size ? (size + 4095) & ~(size_t)4095 : 4096;
        keep(i, p, size, 4096, 0, op == OP_VALLOC ? "valloc" : "pvalloc");
        break;
    }
    case OP_USABLE:
        if (s->p) {                     /* every usable byte may be written */
            size_t usable = pm_malloc_usable_size(s->p);
            if (usable < s->size)
                fail("usable size of slot %d shrank to %zu < %zu", i, usable, s->size);
            fill(s->p, s->filled, usable, s->seed);
            s->filled = usable;
        } else if (pm_malloc_usable_size(NULL) != 0) {
            fail("malloc_usable_size(NULL) != 0");
        }
        break;
    case OP_TRIM:
        pm_malloc_trim(u8(in));
        break;
    case OP_IMPOSSIBLE:
        op_impossible(in, i);
        break;
    case OP_OPTION:
        op_option(in);
        break;
    default:
        for (int j = 0; j < NSLOTS; j++)
            if (slots[j].p)
                verify(j, "check");
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ref_init();
    /* Each input starts from the default options and an empty table. */
    pm_option_set(PM_OPTION_LARGE_CACHE, 64L << 20);
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 1000);
    pm_option_set(PM_OPTION_ARENA_RESERVE, 4);
    in_t in = {data, size};
    while (in.left)
        run_op(&in);
    for (int i = 0; i < NSLOTS; i++)
        drop(i);
    /* Everything was freed: after a trim nothing may be left. */
    pm_malloc_trim(0);
    pm_stats_t st;
    pm_stats_get(&st);
    if (st.pools_live || st.spans_live || st.arenas_live || st.large_live_bytes ||
        st.large_cached_count || st.large_allocs != st.large_frees)
        fail("all freed and trimmed, yet pools %llu spans %llu arenas %llu large bytes %llu "
             "cached %llu, large allocs - frees %lld",
             (unsigned long long)st.pools_live, (unsigned long long)st.spans_live,
             (unsigned long long)st.arenas_live, (unsigned long long)st.large_live_bytes,
             (unsigned long long)st.large_cached_count,
             (long long)(st.large_allocs - st.large_frees));
    return 0;
}
