/* stress_mt.c -- multi-threaded allocation stress, after mimalloc's
 * test-stress.
 *
 * THREADS threads share an array of slots.  Each thread repeatedly picks a
 * random slot (deterministic per-thread splitmix), takes whatever block is
 * there with atomic_exchange, verifies its contents and frees it (the block
 * was usually allocated by another thread: cross-thread free), and puts a
 * freshly allocated block of random size (mostly 1..512, sometimes up to
 * 64 KiB, rarely up to 2 MiB) in its place.  Now and then it reallocs the
 * block it took instead, checking that the contents survive.  Every block is
 * filled with a pattern derived from its address, its size and a cookie
 * written by the allocating thread.
 *
 * The work runs in ROUNDS rounds; in each round a fresh set of threads is
 * started and the threads do different amounts of work, so some exit while
 * others still run, and the blocks of exited threads are freed by the
 * threads of later rounds.  At the end the main thread frees everything.
 *
 * usage: stress_mt [THREADS=4] [SCALE_PERCENT=100] [ROUNDS=6] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_test.h"

#define SLOTS 4096
#define TOTAL_ITERS 2000000L /* all threads, all rounds, at scale 100 */

static _Atomic uintptr_t slots[SLOTS];
static atomic_int corruptions;
static atomic_int alloc_failures;
static atomic_long total_ops;

/* Slot encoding: bits 0..2 hold the size when it is 1..7 (0 means the size
 * is stored in the block's first word); bits 3..47 the pointer (8-aligned,
 * user-space addresses are below 2^48 on x86-64 and arm64 Linux); bits 48..63
 * a 16-bit tag derived from the block's size and cookie, so that a block
 * whose contents were replaced wholesale by another valid-looking block
 * (the allocator handing the same memory out twice) is caught too. */
#define PTR_MASK 0x0000fffffffffff8ULL

static inline uint64_t slot_tag(size_t size, uint64_t cookie)
{
    if (size < 8)
        return 0;
    if (size < 16)
        cookie = 0;
    return (pm_test_mix64(cookie ^ ((uint64_t)size * 0x100000001ULL)) & 0xffff) | 1;
}

static inline unsigned char *slot_ptr(uintptr_t v)
{
    return (unsigned char *)(uintptr_t)(v & PTR_MASK);
}

static atomic_int high_pointers;

/* Blocks change hands through atomic exchanges on the slots.  helgrind and
 * drd do not see C11 atomics as synchronisation, so under them each
 * exchange is also marked as a happens-before edge (no-ops otherwise, and
 * without the valgrind headers). */
#if defined(__has_include)
#if __has_include(<valgrind/helgrind.h>) && __has_include(<valgrind/drd.h>)
#include <valgrind/drd.h>
#include <valgrind/helgrind.h>
#define SLOT_HB(req_hg, req_drd, obj)                                                      \
    do {                                                                                   \
        VALGRIND_DO_CLIENT_REQUEST_STMT(req_hg, (obj), 0, 0, 0, 0);                        \
        VALGRIND_DO_CLIENT_REQUEST_STMT(req_drd, (obj), 0, 0, 0, 0);                       \
    } while (0)
#define SLOT_BEFORE(obj) \
    SLOT_HB(_VG_USERREQ__HG_USERSO_SEND_PRE, VG_USERREQ__DRD_ANNOTATE_HAPPENS_BEFORE, obj)
#define SLOT_AFTER(obj) \
    SLOT_HB(_VG_USERREQ__HG_USERSO_RECV_POST, VG_USERREQ__DRD_ANNOTATE_HAPPENS_AFTER, obj)
#endif
#endif
#ifndef SLOT_BEFORE
#define SLOT_BEFORE(obj) ((void)0)
#define SLOT_AFTER(obj) ((void)0)
#endif

static inline uintptr_t slot_swap(size_t slot, uintptr_t v)
{
    SLOT_BEFORE(&slots[slot]);   /* what we wrote into v's block, for its next taker */
    uintptr_t old = atomic_exchange(&slots[slot], v);
    SLOT_AFTER(&slots[slot]);    /* what the one who put `old` there wrote */
    return old;
}

static inline uintptr_t encode(void *p, size_t size, uint64_t cookie)
{
    if ((uintptr_t)p >> 48)
        atomic_fetch_add(&high_pointers, 1); /* cannot be encoded; reported at the end */
    return ((uintptr_t)p & PTR_MASK) | (size < 8 ? size : 0) | (slot_tag(size, cookie) << 48);
}

/* Layout: size >= 16: [size][cookie][pattern...]; 8..15: [size][pattern...];
 * 1..7: [pattern...].  Pattern word at byte offset off = base + off * K,
 * base derived from the address, the size and the cookie. */
#define PAT_K 0x9E3779B97F4A7C15ULL

static inline uint64_t expected_word(size_t size, uint64_t cookie, uint64_t base, size_t off)
{
    if (off == 0 && size >= 8)
        return size;
    if (off == 8 && size >= 16)
        return cookie;
    return base + off * PAT_K;
}

static inline uint64_t pattern_base(uintptr_t addr, size_t size, uint64_t cookie)
{
    return pm_test_mix64((uint64_t)addr ^ ((uint64_t)size << 40) ^ cookie);
}

static void fill_block(unsigned char *p, size_t size, uint64_t cookie)
{
    if (size < 16)
        cookie = 0;
    uint64_t base = pattern_base((uintptr_t)p, size, cookie);
    size_t off = 0;
    for (; off + 8 <= size; off += 8)
        pm_test_put64(p + off, expected_word(size, cookie, base, off));
    if (off < size) {
        uint64_t w = expected_word(size, cookie, base, off);
        memcpy(p + off, &w, size - off);
    }
}

/* Checks the first `limit` bytes of a block that was filled by
 * fill_block(addr, size, cookie) (addr may differ from p after realloc). */
static int check_prefix(const unsigned char *p, uintptr_t addr, size_t size, uint64_t cookie,
                        size_t limit)
{
    if (limit > size)
        limit = size;
    if (size < 16)
        cookie = 0;
    uint64_t base = pattern_base(addr, size, cookie);
    size_t off = 0;
    for (; off + 8 <= limit; off += 8)
        if (pm_test_get64(p + off) != expected_word(size, cookie, base, off))
            return 0;
    if (off < limit) {
        uint64_t w = expected_word(size, cookie, base, off);
        if (memcmp(p + off, &w, limit - off))
            return 0;
    }
    return 1;
}

/* Decodes a slot, checks the whole block; returns its size (0 if corrupt). */
static size_t verify_slot(uintptr_t v)
{
    unsigned char *p = slot_ptr(v);
    size_t size = v & 7;
    uint64_t cookie = 0;
    if (size == 0) {
        size = pm_test_get64(p);
        if (size < 8 || size > (4u << 20)) {
            fprintf(stderr, "block %p: corrupt size word %zu\n", (void *)p, size);
            atomic_fetch_add(&corruptions, 1);
            return 0;
        }
        if (size >= 16)
            cookie = pm_test_get64(p + 8);
        if (slot_tag(size, cookie) != (uint64_t)(v >> 48)) {
            fprintf(stderr,
                    "block %p: header (size %zu, cookie %llx) is not the one its owner wrote "
                    "(block handed out twice?)\n",
                    (void *)p, size, (unsigned long long)cookie);
            atomic_fetch_add(&corruptions, 1);
            return 0;
        }
    }
    if (!check_prefix(p, (uintptr_t)p, size, cookie, size)) {
        fprintf(stderr, "block %p of %zu bytes: contents corrupted\n", (void *)p, size);
        atomic_fetch_add(&corruptions, 1);
        return 0;
    }
    return size;
}

static size_t random_size(unsigned long long *rng)
{
    uint64_t r = pm_test_rand(rng);
    unsigned pick = (unsigned)(r % 1000);
    r >>= 10;
    if (pick < 940)
        return 1 + r % 512;          /* small classes */
    if (pick < 998)
        return 513 + r % (65536 - 512); /* medium / large */
    return 65537 + r % (2u << 20);   /* rarely, up to ~2 MiB */
}

typedef struct {
    int id;
    int round;
    long iters;
} worker_arg_t;

static void *worker(void *argp)
{
    worker_arg_t *arg = argp;
    unsigned long long rng = 0x5eed0000ULL + (uint64_t)arg->round * 1000 + (uint64_t)arg->id;
    uint64_t cookie_base = ((uint64_t)arg->round << 48) | ((uint64_t)arg->id << 32);
    /* A few blocks kept privately for a while, to mix lifetimes. */
    enum { LOCAL = 64 };
    uintptr_t local[LOCAL] = {0};
    long ops = 0;

    for (long i = 0; i < arg->iters; i++) {
        uint64_t r = pm_test_rand(&rng);
        size_t slot = (size_t)(r % SLOTS);
        unsigned action = (unsigned)((r >> 32) % 100);
        if (action < 8) {
            /* Realloc the block in this slot and put it back. */
            uintptr_t v = slot_swap(slot, 0);
            if (!v)
                continue;
            size_t oldsize = verify_slot(v);
            if (!oldsize)
                continue; /* reported; leak it */
            unsigned char *p = slot_ptr(v);
            uint64_t oldcookie = oldsize >= 16 ? pm_test_get64(p + 8) : 0;
            size_t newsize = (action < 2) ? random_size(&rng) : 1 + pm_test_rand(&rng) % 600;
            unsigned char *q = realloc(p, newsize);
            if (!q) {
                atomic_fetch_add(&alloc_failures, 1);
                free(p);
                continue;
            }
            size_t keep = oldsize < newsize ? oldsize : newsize;
            if (!check_prefix(q, (uintptr_t)p, oldsize, oldcookie, keep)) {
                fprintf(stderr, "realloc %p(%zu) -> %p(%zu): contents lost\n", (void *)p, oldsize,
                        (void *)q, newsize);
                atomic_fetch_add(&corruptions, 1);
            }
            uint64_t cookie = cookie_base | (uint64_t)i;
            fill_block(q, newsize, cookie);
            uintptr_t old = slot_swap(slot, encode(q, newsize, cookie));
            if (old && verify_slot(old))
                free(slot_ptr(old));
            ops++;
        } else if (action < 14) {
            /* Swap with the private set. */
            size_t li = (size_t)((r >> 40) % LOCAL);
            uintptr_t mine = local[li];
            local[li] = slot_swap(slot, mine);
            ops++;
        } else {
            size_t size = random_size(&rng);
            unsigned char *p = malloc(size);
            if (!p) {
                atomic_fetch_add(&alloc_failures, 1);
                continue;
            }
            if ((uintptr_t)p & 7) {
                fprintf(stderr, "malloc(%zu) = %p is not 8-aligned\n", size, (void *)p);
                atomic_fetch_add(&corruptions, 1);
                free(p);
                continue;
            }
            uint64_t cookie = cookie_base | (uint64_t)i;
            fill_block(p, size, cookie);
            uintptr_t old = slot_swap(slot, encode(p, size, cookie));
            if (old && verify_slot(old))
                free(slot_ptr(old));
            ops++;
        }
    }
    /* On exit: free half of the private blocks, publish the rest into the
     * shared slots (so threads of later rounds free them). */
    for (int li = 0; li < LOCAL; li++) {
        uintptr_t v = local[li];
        if (!v)
            continue;
        if (li % 2 == 0) {
            if (verify_slot(v))
                free(slot_ptr(v));
        } else {
            uintptr_t old = slot_swap((size_t)(pm_test_rand(&rng) % SLOTS), v);
            if (old && verify_slot(old))
                free(slot_ptr(old));
        }
    }
    atomic_fetch_add(&total_ops, ops);
    return NULL;
}

int main(int argc, char **argv)
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    int scale = argc > 2 ? atoi(argv[2]) : 100;
    int rounds = argc > 3 ? atoi(argv[3]) : 6;
    if (threads < 1 || threads > 256 || scale < 1 || rounds < 1) {
        fprintf(stderr, "usage: %s [THREADS] [SCALE_PERCENT] [ROUNDS]\n", argv[0]);
        return 2;
    }
    long base = TOTAL_ITERS / 100 * scale / threads / rounds;
    if (base < 100)
        base = 100;

    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    worker_arg_t *args = calloc((size_t)threads, sizeof *args);
    CHECK("thread tables", tids && args);
    if (!tids || !args)
        return pm_test_finish();

    for (int round = 0; round < rounds; round++) {
        int started = 0;
        for (int t = 0; t < threads; t++) {
            args[t].id = t;
            args[t].round = round;
            /* Unequal work: threads exit at different times. */
            args[t].iters = base * (1 + (t + round) % 3) / 2;
            if (pthread_create(&tids[t], NULL, worker, &args[t]) != 0) {
                CHECK("pthread_create", 0);
                break;
            }
            started++;
        }
        for (int t = 0; t < started; t++)
            pthread_join(tids[t], NULL);
    }
    /* Free everything left in the slots. */
    long left = 0;
    for (size_t s = 0; s < SLOTS; s++) {
        uintptr_t v = slot_swap(s, 0);
        if (v) {
            left++;
            if (verify_slot(v))
                free(slot_ptr(v));
        }
    }
    free(tids);
    free(args);
    printf("threads %d, rounds %d, %ld operations, %ld blocks left at the end\n", threads, rounds,
           (long)atomic_load(&total_ops), left);
    CHECK("no corrupted blocks", atomic_load(&corruptions) == 0);
    CHECK("all pointers below 2^48 (slot encoding)", atomic_load(&high_pointers) == 0);
    CHECK("no allocation failures", atomic_load(&alloc_failures) == 0);
    CHECK("work was done", atomic_load(&total_ops) > 0);
    return pm_test_finish();
}
