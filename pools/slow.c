/* slow.c -- the hooks of slow mode (floor 2).
 *
 * The inline fast paths of malloc and free (pools.h) test no flag: while
 * anything must be done per call besides moving blocks on and off free
 * lists, every thread's fast route is off (base/base.h, "slow mode") and the
 * out-of-line paths call these hooks for each block the malloc API hands
 * out or takes back (never for allocator metadata):
 *
 *   _pm_slow_alloc   after a block was taken for the program
 *   _pm_slow_free    after a freed pointer was checked, before the block
 *                    goes back on any list (where another thread could take
 *                    it and hand it out again)
 *   _pm_slow_resize  realloc kept the block in place
 *   _pm_slow_usable  what malloc_usable_size may promise
 *
 * What they do, by bit of _pm_slow:
 *   PM_SLOW_STATS     per-class counters (stats.c)
 *   PM_SLOW_VALGRIND  memcheck's client requests (vg.h)
 *   PM_SLOW_STRICT    junk in new blocks, the free filling of freed ones
 *                     (base/base.h; checked by _pm_strict_taken when the pool
 *                     layer hands the block out again), and the quarantine
 *                     of freed blocks (below)
 */
#include "pools/pools.h"

#include <string.h>

#if defined(PM_VALGRIND) && PM_VALGRIND

/* The bytes of a block memcheck lets the program use: the size it asked
 * for, i.e. the addressable prefix of the block (_pm_slow_alloc made the
 * rest no-access, RESIZEINPLACE moves the boundary).  GET_VBITS of a
 * no-access byte fails quietly, so a binary search finds the boundary
 * without storing sizes anywhere. */
static size_t vg_requested(const char *p, size_t block)
{
    size_t lo = 0, hi = block;   /* the answer is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        unsigned char vbits;
        if (VALGRIND_GET_VBITS(p + mid - 1, &vbits, 1) == 1)
            lo = mid;            /* byte mid-1 is addressable */
        else
            hi = mid - 1;
    }
    return lo;
}
#endif


void _pm_slow_alloc(void *p, size_t size, size_t block, int counter, bool zeroed)
{
    if (_pm_slow & PM_SLOW_STATS) {
        if (counter >= 0)
            _pm_stats_count_alloc((unsigned)counter);
        else
            _pm_stats_count_large();
    }
    if (PM_STRICT && !zeroed) {
        /* The whole usable block of a small or medium one; what was asked
         * for of a large mapping. */
        size_t n = counter >= 0 ? block : size;
        PM_VG_UNDEFINED(p, n);
        memset(p, PM_ALLOC_JUNK, n);
    }
    /* The block becomes a heap block of `size` bytes; what is left of it
     * stays no-access, so that a write past the request is reported (a
     * large mapping's tail was defined memory until now). */
    PM_VG_MALLOCLIKE(p, size, zeroed);
    PM_VG_NOACCESS((char *)p + size, block - size);
    (void)p;
    (void)size;
    (void)block;
    (void)zeroed;
}

void _pm_slow_free(void *p, size_t block, int counter)
{
    (void)block;
    if ((_pm_slow & PM_SLOW_STATS) && counter >= 0)
        _pm_stats_count_free((unsigned)counter);
    if (PM_STRICT && counter >= 0)   /* large blocks are unmapped instead */
        _pm_strict_fill((char *)p + sizeof(pm_block_t), block - sizeof(pm_block_t));
    PM_VG_FREELIKE(p);
    (void)p;
}

void _pm_strict_fill(void *p, size_t n)
{
    PM_VG_UNDEFINED(p, n);
    memset(p, PM_FREE_JUNK, n);
    PM_VG_NOACCESS(p, n);
}

/* A write after free to `at` in block b: one line, then abort. */
__attribute__((noreturn, cold)) static void strict_write_after_free(const char *at, const void *b)
{
    _pm_fatal_link2("write after free to", at, "block", b, "freed earlier");
}

/* Checks that [b + from, b + block) still holds the free filling. */
static void strict_check_fill(void *b, size_t from, size_t block)
{
    const uint64_t junk = 0x0101010101010101ULL * PM_FREE_JUNK;
    const char *p = (const char *)b + from, *end = (const char *)b + block;
    PM_VG_DEFINED(p, (size_t)(end - p));
    for (; p < end; p += sizeof(uint64_t)) {   /* blocks are multiples of 8 bytes */
        uint64_t w;
        __builtin_memcpy(&w, p, sizeof w);   /* one load, even with -fno-builtin */
        if (pm_unlikely(w != junk)) {
            while ((unsigned char)*p == PM_FREE_JUNK)
                p++;
            strict_write_after_free(p, b);
        }
    }
    PM_VG_NOACCESS((char *)b + from, block - from);
}

void _pm_strict_taken(void *b, size_t block) { strict_check_fill(b, sizeof(pm_block_t), block); }

/* ---- the quarantine (strict mode) ----
 * A freed small or medium block is not reused at once: filled with
 * PM_FREE_JUNK, link word included, it waits in a FIFO of QUARANTINE_SLOTS
 * blocks, and goes back to its pool only when pushed out by later frees
 * (or by malloc_trim).  So the next malloc of its size gets another block,
 * and a write through a stale pointer lands in junk instead of in a new
 * owner's data, where it is caught when the block leaves the quarantine
 * (its filling is checked) or is handed out again.  A waiting block keeps
 * its live bit (only its owner thread may write its pool's bitmap): free,
 * realloc and malloc_usable_size look a pointer up here before trusting the
 * bit, so a second free is reported at once, as a double free.
 * One lock, a leaf: the block pushed out is freed after it is released. */
#define QUARANTINE_SLOTS 256
static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static void *quarantine[QUARANTINE_SLOTS];
static size_t quarantine_oldest;   /* the slot replaced next */

static size_t block_size_of(void *p, uintptr_t entry)
{
    if (entry & PM_PAGE_POOL)
        return ((pm_pool_t *)(entry & ~PM_PAGE_TAGS))->block_size;
    return pm_entry_span(entry)->block_size;
    (void)p;
}

void *_pm_strict_quarantine(void *p)
{
    PM_VG_UNDEFINED(p, sizeof(pm_block_t));
    memset(p, PM_FREE_JUNK, sizeof(pm_block_t));   /* the rest is filled already */
    PM_VG_NOACCESS(p, sizeof(pm_block_t));
    pm_mutex_lock(&quarantine_lock);
    void *out = quarantine[quarantine_oldest];
    quarantine[quarantine_oldest] = p;
    quarantine_oldest = (quarantine_oldest + 1) % QUARANTINE_SLOTS;
    pm_mutex_unlock(&quarantine_lock);
    if (out)
        strict_check_fill(out, 0, block_size_of(out, pm_pagemap_get(out)));
    return out;
}

void _pm_strict_check_waiting(void *p, const char *call)
{
    /* A waiting block is junk from its first byte (the link word too): a
     * block whose first word is anything else is not waiting, or was
     * written after its free, which its check on leaving reports.  So the
     * scan is only for blocks that look freed.  (Not under memcheck, where
     * reading a live block's bytes would be an access of ours.) */
    uint64_t w;
    if (!pm_vg_on()) {
        __builtin_memcpy(&w, p, sizeof w);
        if (w != 0x0101010101010101ULL * PM_FREE_JUNK)
            return;
    }
    pm_mutex_lock(&quarantine_lock);
    bool waiting = false;
    for (size_t i = 0; i < QUARANTINE_SLOTS && !waiting; i++)
        waiting = quarantine[i] == p;
    pm_mutex_unlock(&quarantine_lock);
    if (waiting)
        _pm_fatal_ptr(call, _pm_freed_word(call), p);
}

bool _pm_strict_quarantine_flush_one(void (*free_now)(void *p, uintptr_t entry, const char *call))
{
    void *out = NULL;
    pm_mutex_lock(&quarantine_lock);
    for (size_t i = 0; i < QUARANTINE_SLOTS && !out; i++) {
        size_t k = (quarantine_oldest + i) % QUARANTINE_SLOTS;
        out = quarantine[k];
        quarantine[k] = NULL;
    }
    pm_mutex_unlock(&quarantine_lock);
    if (!out)
        return false;
    uintptr_t entry = pm_pagemap_get(out);
    strict_check_fill(out, 0, block_size_of(out, entry));
    free_now(out, entry, "free");
    return true;
}

void _pm_strict_quarantine_check(void)
{
    pm_mutex_lock(&quarantine_lock);
    for (size_t i = 0; i < QUARANTINE_SLOTS; i++)
        if (quarantine[i])
            strict_check_fill(quarantine[i], 0, block_size_of(quarantine[i],
                                                              pm_pagemap_get(quarantine[i])));
    pm_mutex_unlock(&quarantine_lock);
}

void _pm_strict_fork_prepare(void) { pm_mutex_lock(&quarantine_lock); }
void _pm_strict_fork_parent(void) { pm_mutex_unlock(&quarantine_lock); }
void _pm_strict_fork_child(void) { pthread_mutex_init(&quarantine_lock, NULL); }

void _pm_slow_resize(void *p, size_t old_block, size_t new_size)
{
#if defined(PM_VALGRIND) && PM_VALGRIND
    if (pm_vg_on())
        VALGRIND_RESIZEINPLACE_BLOCK(p, vg_requested(p, old_block), new_size, 0);
#endif
    (void)p;
    (void)old_block;
    (void)new_size;
}

size_t _pm_slow_usable(void *p, size_t block)
{
#if defined(PM_VALGRIND) && PM_VALGRIND
    if (pm_vg_on())
        return vg_requested(p, block);
#endif
    (void)p;
    return block;
}
