/* alloc.c -- the prefixed malloc API, pm_malloc & co (floor 2).
 *
 * Dispatch: requests of at most 512 bytes go to the calling thread's pools
 * (pool.c), 513..16384 bytes to its medium spans (span.c), larger ones to
 * the large path (large.c).  The unprefixed
 * symbols in preload/override.c forward here.  Edge cases follow glibc's
 * documented behaviour; see docs/API.md.
 */
#include "pools/pools.h"

#include <errno.h>
#include <string.h>

/* ---- first allocation of a thread, and threads that are exiting ---- */

/* Allocation by a thread without a heap of its own: its first allocation
 * (gives it one), or one made after its heap was handed over at exit
 * (PM_HEAP_DEAD: the backup heap serves it, under its lock). */
static void *alloc_without_heap(void *(*alloc)(pm_heap_t *, unsigned), unsigned c)
{
    pm_heap_t *heap = _pm_tls_heap;
    if (heap == PM_HEAP_NONE) {
        if (!(heap = _pm_heap_thread_init()))
            return NULL;
        return alloc(heap, c);
    }
    pm_heap_t *backup = _pm_heap_backup();
    pm_mutex_lock(&backup->lock);
    void *p = alloc(backup, c);
    pm_mutex_unlock(&backup->lock);
    return p;
}

/* A block of small class c for the calling thread, whatever its state,
 * without the hooks of slow mode. */
static void *small_alloc_class(unsigned c)
{
    pm_heap_t *heap = _pm_tls_heap;
    if (pm_likely((uintptr_t)heap > (uintptr_t)PM_HEAP_DEAD))
        return _pm_pool_alloc_generic(heap, c);
    return alloc_without_heap(_pm_pool_alloc_generic, c);
}

/* The same for a request of `size` bytes made through the malloc API, in
 * slow mode. */
static void *small_alloc_slow(unsigned c, size_t size)
{
    void *p = small_alloc_class(c);
    if (p)
        _pm_slow_alloc(p, size, pm_class_size(c), (int)c, false);
    return p;
}

/* malloc of at most 512 bytes when the fast route is off: the thread's
 * first allocation, a thread that is exiting, or slow mode. */
void *_pm_small_alloc_generic(unsigned c, size_t size)
{
    _pm_process_init();       /* before _pm_slow is read: statistics, valgrind */
    if (pm_unlikely(_pm_slow))
        return small_alloc_slow(c, size);
    void *p = small_alloc_class(c);
    _pm_heap_route();         /* a new heap, or slow mode switched off: fast route on */
    return p;
}

void *_pm_small_alloc_miss(pm_heap_t *heap, size_t c, size_t size)
{
    if (heap == PM_ROUTE_GENERIC)
        return _pm_small_alloc_generic((unsigned)c, size);
    _pm_tc_grow(heap, c);
    return _pm_pool_alloc_generic(heap, (unsigned)c);
}

/* 513..16384 bytes: a block of a medium span (span.c), without hooks. */
static void *medium_alloc_class(unsigned m)
{
    pm_heap_t *heap = _pm_tls_heap;
    if (pm_likely((uintptr_t)heap > (uintptr_t)PM_HEAP_DEAD))
        return _pm_span_alloc(heap, m);
    return alloc_without_heap(_pm_span_alloc, m);
}

static void *medium_alloc_api(unsigned m, size_t size)
{
    void *p = medium_alloc_class(m);
    if (pm_unlikely(_pm_slow) && p)
        _pm_slow_alloc(p, size, pm_medium_size(m), PM_CLASS_COUNT + (int)m, false);
    return p;
}

void *_pm_medium_alloc(size_t size)
{
    unsigned m = pm_medium_class_fast(size);
    pm_heap_t *heap = _pm_tls_fast;
    if (heap != PM_ROUTE_GENERIC)
        _pm_tc_grow(heap, PM_CLASS_COUNT + m);   /* missed the cache and the span */
    return medium_alloc_api(m, size);
}

/* ---- the large path (arenas/large.c) with the malloc API's bookkeeping ----
 * arenas/ is mechanism only: the hooks of slow mode for large blocks, and
 * the choice to move a block by copy under valgrind, are made here. */
/* Whether the calling thread may keep a freed large mapping in its slots
 * (arenas/large.c): it flushes them at exit, and slow mode is off (its
 * hooks want every block through the cache's path, whose counters are
 * exact). */
static inline bool large_slot_ok(void)
{
    return !_pm_slow && (uintptr_t)_pm_tls_heap > (uintptr_t)PM_HEAP_DEAD;
}

void *_pm_large_malloc_miss(size_t size) { return _pm_large_alloc_api(size, 0, false); }

void *_pm_malloc_zero(void) { return pm_alloc_class(pm_tc_class_at(0), 0); }

/* malloc (pools.h, pm_malloc_large) looks at the slots first; the others (calloc,
 * aligned_alloc, realloc's moves), whose cost is the memset or the copy,
 * find it in _pm_large_alloc. */
void *_pm_large_alloc_api(size_t size, size_t align, bool zero)
{
    _pm_process_init();   /* the secret mangles the record: it may be the first call */
    size_t dirty;
    void *p = _pm_large_alloc(size, align, &dirty, large_slot_ok());
    if (!p)
        return NULL;
    if (pm_unlikely(_pm_slow))
        _pm_slow_alloc(p, size, _pm_large_usable(_pm_large_check(pm_pagemap_get(p), p, "malloc")),
                       -1, zero);
    if (zero && dirty) {   /* a reused mapping (after the hook: memcheck sees a new block) */
        if (pm_unlikely(_pm_slow))
            memset(p, 0, size);   /* memcheck's definedness: the bytes written */
        else
            _pm_large_zero(p, dirty);
    }
    return p;
}

static void large_free_api(pm_large_t *rec, void *p)
{
    if (pm_unlikely(_pm_slow))
        _pm_slow_free(p, _pm_large_usable(rec), -1);
    /* A thread with a heap flushes its large slots at exit (lifecycle.c); in
     * slow mode every block takes the cache's path, where the counters that
     * the hooks read are exact. */
    _pm_large_free(rec, large_slot_ok());
}

/* A thread that has only used the large path has no heap yet, so no slot:
 * it gets its heap now (as a thread's first remote free does), or each of
 * its pairs would take the cache's lock and read the clock.  Out of line:
 * the call would cost _pm_free_large a stack frame. */
static PM_NOINLINE void free_large_without_slot(uintptr_t entry, void *p)
{
    if (!_pm_slow && _pm_tls_heap == PM_HEAP_NONE && _pm_heap_thread_init() && large_slot_ok()) {
        _pm_large_free_slot(entry, p);
        return;
    }
    _pm_free_generic(p, entry, "free");
}

void _pm_free_large(uintptr_t entry, void *p)
{
    if (pm_likely(large_slot_ok())) {
        _pm_large_free_slot(entry, p);
        return;
    }
    free_large_without_slot(entry, p);
}

/* Large block p (record rec) moved by copy to a new large block of size
 * bytes, then freed; NULL (ENOMEM, p intact) when none could be had. */
static void *large_move(pm_large_t *rec, void *p, size_t size)
{
    void *q = _pm_large_alloc_api(size, 0, false);
    if (!q)
        return NULL;
    /* The usable bytes, not the requested ones: malloc_usable_size promised
     * them, and a program may have filled them (a string or buffer library
     * that takes the usable size as its capacity, as redis's sds does).
     * With the requested size copied, a realloc that moved the block lost
     * what it wrote past the request (20,001 bytes asked for, 20,480
     * usable); glibc, jemalloc, tcmalloc and mimalloc keep them. */
    size_t old = _pm_large_usable(rec);
    if (pm_unlikely(_pm_slow))
        old = _pm_slow_usable(p, old);   /* valgrind: only what was asked for */
    memcpy(q, p, old < size ? old : size);
    large_free_api(rec, p);
    return q;
}

/* Large block p (record rec, starting its mapping) grown past its mapping:
 * in place when the pages after it are free; else, for a block of up to
 * GROW_COPY_MAX bytes, into a mapping that waits in the thread's slots if
 * one fits (a copy, and no page to fault in), and the old mapping takes
 * its place there; else its pages move (mremap) onto a new mapping.  NULL:
 * ENOMEM, p intact.  Out of line: realloc's paths within a block need no
 * frame. */
#define GROW_COPY_MAX ((size_t)64 << 10)
static PM_NOINLINE void *large_grow_api(pm_large_t *rec, void *p, size_t size)
{
    if (_pm_large_requested(rec) <= GROW_COPY_MAX && _pm_large_slot_fits(size)) {
        void *q = _pm_large_realloc(rec, p, size, false);
        if (q || (q = large_move(rec, p, size)))
            return q;
    }
    void *q = _pm_large_realloc(rec, p, size, true);
    /* Its pages cannot move (no address space, or the large path keeps
     * the process's mappings from splitting): a copy. */
    return q ? q : large_move(rec, p, size);
}

static void *large_realloc_api(pm_large_t *rec, void *p, size_t size)
{
    size_t usable = _pm_large_usable(rec);
    /* In place; in strict mode only if the block still ends at its guard
     * page (arenas/large.c), else it moves by copy to a block that does. */
    if (size <= usable && (!PM_STRICT || ((size + 15) & ~(size_t)15) == usable)) {
        void *q;
        if (_pm_large_shrink_moves(rec, size) && (q = large_move(rec, p, size)))
            return q;   /* the mapping keeps its pages for reuse */
        if (pm_unlikely(_pm_slow))
            _pm_slow_resize(p, usable, size);
        return _pm_large_realloc(rec, p, size, true);
    }
    /* An over-aligned mapping moves by copy, and so does every block under
     * valgrind: memcheck would take the contents mremap moved for new,
     * uninitialised memory. */
    if (!_pm_large_is_plain(rec) || pm_vg_on())
        return large_move(rec, p, size);
    return large_grow_api(rec, p, size);
}

/* A medium class whose blocks are all aligned to align (a power of two,
 * <= 4096): spans start on a page, so a block size that is a multiple of
 * align will do, and none smaller than align is.  (The search started at
 * size's class with a division a class: aligned_alloc(4096, 100) took 170
 * ns a pair, mimalloc 3 86; from align's class with a mask, one step.) */
static int medium_class_aligned(size_t align, size_t size)
{
    if (align > PM_PAGE_SIZE || size > PM_MEDIUM_MAX)
        return -1;
    size_t from = size > align ? size : align;
    for (unsigned m = pm_medium_class_of(from > PM_SMALL_MAX ? from : PM_SMALL_MAX + 1);
         m < PM_MEDIUM_COUNT; m++) {
        if (pm_medium_aligned_to(m, align))
            return (int)m;
    }
    return -1;
}

/* A block whose live bit is set may still be freed: waiting in a thread
 * cache, marked (pools.h). */
static void check_not_cached(void *p, const char *call)
{
    if (pm_tc_cached(p))
        _pm_fatal_ptr(call, _pm_freed_word(call), p);
}

/* Checks that p is a live small block; returns its pool.  (In strict
 * mode a freed block keeps its live bit while it waits in the quarantine:
 * it is looked up there too.) */
static pm_pool_t *small_check(uintptr_t entry, void *p, const char *call)
{
    pm_pool_t *pool = (pm_pool_t *)(entry & ~PM_PAGE_TAGS);
    uint64_t bit = pm_live_bit(p);
    _Atomic uint64_t *w = pm_live_word(pool, p);
    if (((uintptr_t)p & 7) ||
        !(atomic_load_explicit(w, memory_order_relaxed) & bit))
        _pm_pool_bad_free(pool, p, call);
    check_not_cached(p, call);
    if (PM_STRICT)
        _pm_strict_check_waiting(p, call);
    return pool;
}

static pm_span_t *span_check(uintptr_t entry, void *p, const char *call)
{
    pm_span_t *s = _pm_span_check(entry, p, call);
    check_not_cached(p, call);
    if (PM_STRICT)
        _pm_strict_check_waiting(p, call);
    return s;
}

/* Puts a small or medium block back on its lists (or its owner's), no
 * questions asked: the checks and hooks are done. */
static void free_block_now(void *p, uintptr_t entry, const char *call)
{
    if (entry & PM_PAGE_POOL)
        _pm_heap_free_small((pm_pool_t *)(entry & ~PM_PAGE_TAGS), p, call);
    else
        _pm_span_free(entry, p, call);
}

/* The out-of-line free door: every free the inline path does not finish
 * (another thread's block, a thread without a heap of its own, slow mode, a
 * large block, a pointer that is not ours) comes through here, and only
 * here are the hooks of slow mode called for a freed block: after the
 * pointer is checked, before the block goes back on any list (where another
 * thread could take it and hand it out again). */
void _pm_free_generic(void *p, uintptr_t entry, const char *call)
{
    if (entry & (PM_PAGE_POOL | PM_PAGE_SPAN)) {
        if (pm_unlikely(_pm_slow)) {
            if (entry & PM_PAGE_POOL) {
                pm_pool_t *pool = small_check(entry, p, call);
                _pm_slow_free(p, pool->block_size, pool->size_class);
            } else {
                pm_span_t *s = span_check(entry, p, call);
                _pm_slow_free(p, s->block_size, PM_CLASS_COUNT + s->medium_class);
            }
            if (PM_STRICT) {   /* p waits; the block it pushes out is freed instead */
                if (!(p = _pm_strict_quarantine(p)))
                    return;
                entry = pm_pagemap_get(p);
            }
        }
        free_block_now(p, entry, call);
        return;
    }
    if (entry & PM_PAGE_LARGE) {
        large_free_api(_pm_large_check(entry, p, call), p);
        return;
    }
    _pm_fatal_ptr(call, "invalid pointer", p);
}

/* free's out-of-line half (pools.h, pm_free_inline): the two-level map's
 * lookup, or the report of a pointer that is misaligned or beyond any map. */
void _pm_free_door(void *p)
{
    uintptr_t entry = pm_pagemap_get(p);
    if (pm_likely(!((uintptr_t)p & 7)))
        pm_tc_push(_pm_tls_fast, entry, p);
    else
        _pm_free_generic(p, entry, "free");
}

void *pm_malloc(size_t size) { return pm_malloc_inline(size); }

void pm_free(void *p) { pm_free_inline(p); }

/* calloc of 8 to 128 bytes zeroes them inline, with two runs of stores
 * from the two ends that overlap in the middle, instead of a call to
 * memset, whose call and dispatch cost more than the stores at these
 * sizes.  Exactly [p, p + n) is written (valgrind's slow mode and strict
 * builds watch the bytes past the request); fixed-size stores, which no
 * compiler turns into a call.  The types may sit anywhere (p + n - 8 is
 * not 8-aligned when n is not a multiple of 8). */
#define PM_CALLOC_INLINE 128
typedef uint64_t pm_zero8_t __attribute__((aligned(1), may_alias));
typedef struct {
    uint64_t w[2];
} __attribute__((packed, may_alias)) pm_zero16_t;   /* alignment 1 */

static inline void zero_small(char *p, size_t n)   /* 8 <= n <= 128 */
{
    const pm_zero16_t z = {{0, 0}};
    if (n <= 16) {
        *(pm_zero8_t *)p = 0;
        *(pm_zero8_t *)(p + n - 8) = 0;
    } else if (n <= 32) {
        *(pm_zero16_t *)p = z;
        *(pm_zero16_t *)(p + n - 16) = z;
    } else if (n <= 64) {
        ((pm_zero16_t *)p)[0] = z;
        ((pm_zero16_t *)p)[1] = z;
        *(pm_zero16_t *)(p + n - 32) = z;
        *(pm_zero16_t *)(p + n - 16) = z;
    } else {
        for (int i = 0; i < 4; i++)
            ((pm_zero16_t *)p)[i] = z;
        for (int i = 4; i > 0; i--)
            *(pm_zero16_t *)(p + n - 16 * (size_t)i) = z;
    }
}

void *pm_calloc(size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > PM_MEDIUM_MAX)
        return _pm_large_alloc_api(total, 0, true);
    void *p = pm_malloc_inline(total);
    if (pm_likely(p != NULL) && total - 8 <= PM_CALLOC_INLINE - 8) {
        zero_small(p, total);
        return p;
    }
    /* memset's result, p: a tail call, so that the common path needs no
     * stack frame (the thread cache's pop then zeroing, or memset). */
    return p ? memset(p, 0, total) : NULL;
}

static PM_NOINLINE void *realloc_generic(void *p, size_t size);

/* Whether realloc leaves a block where it is: the request (1..512 bytes for
 * a small block of class c, 513..16384 for a medium one) fits in it and
 * takes more than half of it, so that a block shrunk further moves and
 * gives the room back; and a small request whose own class is 16-aligned
 * (odd: sizes 16, 32, ...) stays only in a 16-aligned class, as malloc
 * would give it.  A block that grew with room to spare (realloc_move) so
 * stays put while it fills that room. */
static inline bool small_stays(unsigned c, size_t size)
{
    unsigned r = pm_request_class(size);
    return r <= c && size * 2 > pm_class_size(c) && !(r & ~c & 1);
}

static inline bool medium_stays(const pm_span_t *s, size_t size)
{
    return size <= s->block_size && size * 2 > s->block_size;
}

/* p, checked to be out, has been copied away: freed as free would (the
 * pool's or span's push when this thread owns it, no second lookup). */
static inline void realloc_free_moved(void *p, uintptr_t entry)
{
    pm_heap_t *heap = _pm_tls_fast;           /* the route heap in slow mode: never an owner */
    if (entry & PM_PAGE_POOL) {
        pm_pool_t *pool = pm_entry_pool(entry);
        if (pm_likely(pool->heap == heap)) {
            pm_small_free_local(heap, pool, p, "realloc", false);
            return;
        }
    } else if (entry & PM_PAGE_SPAN) {
        pm_span_t *s = pm_entry_span(entry);
        if (pm_likely(s->heap == heap)) {
            pm_span_free_inline(heap, s, p);
            return;
        }
    }
    pm_free_inline(p);
}

/* A small or medium block that grows by half or more to REALLOC_LARGE_FROM
 * bytes or more (a buffer that doubles: 4 -> 8 KiB, 8 -> 16 KiB) moves to
 * a large mapping at once when a freed one that holds it waits in the
 * thread's slots or the cache (_pm_large_alloc_reused: no system call),
 * and then grows in place there, instead of by copy into two more medium
 * blocks and then a large one: a buffer doubling from 16 bytes to 1 MiB
 * (realloc_double) copied 36 KiB a round, 10 KiB now.  With none waiting
 * (a program's first such buffer, or many of them), the medium classes as
 * before: no mapping is made for an 8 KiB request. */
#define REALLOC_LARGE_FROM ((size_t)8 << 10)

/* The move of realloc: p (of `old_size` usable bytes, page map entry
 * `entry`) was checked to be out; size is not 0.  A small or medium block
 * that grows gets a quarter more room than asked for (within its range),
 * so that a buffer grown a little at a time moves a few times, not at every
 * class it crosses: 13 moves instead of 31 from 16 to 512 bytes by steps of
 * 16 (the large path gives up to twice the room, large.c).  Not under
 * memcheck: there a block is exactly what was asked for. */
static PM_NOINLINE void *realloc_move(void *p, size_t size, uintptr_t entry, size_t old_size)
{
    if (size >= REALLOC_LARGE_FROM && size <= PM_MEDIUM_MAX && size > old_size &&
        size - old_size >= old_size / 2 && !_pm_slow && !pm_vg_on()) {
        void *q = _pm_large_alloc_reused(size);
        if (q) {
            memcpy(q, p, old_size);
            realloc_free_moved(p, entry);
            return q;
        }
    }
    size_t want = size;
    if (size > old_size && size <= PM_MEDIUM_MAX && !pm_vg_on()) {   /* memcheck: exact */
        size_t roomy = size + size / 4;
        if (!((size + 7) & 8))                /* malloc(size) would be 16-aligned: so is this */
            roomy = (roomy + 15) & ~(size_t)15;
        size_t cap = size <= PM_SMALL_MAX ? PM_SMALL_MAX : PM_MEDIUM_MAX;
        want = roomy < cap ? roomy : cap;
    }
    void *q = pm_malloc_inline(want);
    if (!q)
        return NULL;                          /* p untouched, errno = ENOMEM */
    if (pm_unlikely(_pm_slow))
        old_size = _pm_slow_usable(p, old_size);   /* valgrind: only what was asked for */
    memcpy(q, p, old_size < size ? old_size : size);
    realloc_free_moved(p, entry);
    return q;
}

/* realloc of a large block to more than PM_MEDIUM_MAX bytes: grown within
 * its mapping (checked as free checks it) without the general path's
 * lookups and calls, else the general path. */
static PM_NOINLINE void *realloc_large(uintptr_t entry, void *p, size_t size)
{
    void *q = _pm_large_grow_within(entry, p, size);
    return q ? q : realloc_generic(p, size);
}

/* realloc of a small or medium block, checked as free checks it: in place
 * when the request stays in the block (no call, no stack frame), else
 * realloc_move, with the page map entry already in hand.  Everything else
 * -- a large block, NULL, 0 bytes, slow mode, strict builds, a pointer the
 * flat map does not take (arenas.h: every pointer where the map is
 * two-level), a pointer that fails a check (reported there) -- takes
 * realloc_generic. */
void *pm_realloc(void *p, size_t size)
{
    if (pm_likely(!PM_STRICT && pm_pagemap_fast_takes(p) && p && size && !_pm_slow)) {
        uintptr_t entry = pm_pagemap_fast_get(p);
        size_t m = size - 1;
        if (entry & PM_PAGE_POOL) {
            pm_pool_t *pool = pm_entry_pool(entry);
            if ((atomic_load_explicit(pm_live_word(pool, p), memory_order_relaxed) &
                 pm_live_bit(p)) && !pm_tc_cached(p)) {
                if (m < PM_SMALL_MAX && small_stays(pool->size_class, size))
                    return p;
                return realloc_move(p, size, entry, pool->block_size);
            }
        } else if (entry & PM_PAGE_SPAN) {
            pm_span_t *s = pm_entry_span(entry);
            if (pm_block_out(p) && !pm_tc_cached(p)) {
                if (m - PM_SMALL_MAX < PM_MEDIUM_MAX - PM_SMALL_MAX && medium_stays(s, size))
                    return p;
                return realloc_move(p, size, entry, s->block_size);
            }
        } else if ((entry & PM_PAGE_LARGE) && size > PM_MEDIUM_MAX) {
            return realloc_large(entry, p, size);   /* a jump: no frame here */
        }
    }
    return realloc_generic(p, size);
}

static void *realloc_generic(void *p, size_t size)
{
    if (!p)
        return pm_malloc_inline(size);
    uintptr_t entry = pm_pagemap_get(p);
    if (size == 0) {   /* glibc: realloc(p, 0) frees p and returns NULL */
        if (!(entry & (PM_PAGE_POOL | PM_PAGE_SPAN | PM_PAGE_LARGE)))
            _pm_fatal_ptr("realloc", "invalid pointer", p);
        pm_free_inline(p);
        return NULL;
    }
    size_t old_size;
    if (entry & PM_PAGE_POOL) {
        pm_pool_t *pool = small_check(entry, p, "realloc");
        old_size = pool->block_size;
        if (size <= PM_SMALL_MAX && small_stays(pool->size_class, size)) {
            if (pm_unlikely(_pm_slow))
                _pm_slow_resize(p, old_size, size);
            return p;
        }
    } else if (entry & PM_PAGE_SPAN) {
        pm_span_t *span = span_check(entry, p, "realloc");
        old_size = span->block_size;
        if (size > PM_SMALL_MAX && size <= PM_MEDIUM_MAX && medium_stays(span, size)) {
            if (pm_unlikely(_pm_slow))
                _pm_slow_resize(p, old_size, size);
            return p;
        }
    } else if (entry & PM_PAGE_LARGE) {
        pm_large_t *rec = _pm_large_check(entry, p, "realloc");
        if (size > PM_MEDIUM_MAX || size >= _pm_large_requested(rec))
            return large_realloc_api(rec, p, size);   /* grows: stays (realloc_move) */
        old_size = _pm_large_usable(rec);
    } else {
        _pm_fatal_ptr("realloc", "invalid pointer", p);
    }
    return realloc_move(p, size, entry, old_size);
}

void *pm_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return pm_realloc(p, total);
}

/* Aligned allocation; align is a power of two.  The common case -- a
 * small block, a thread with a fast route -- is one rounding and malloc's
 * inline path, with no call before it (so no stack frame); the rest is
 * aligned_slow.  A fast route (_pm_tls_fast, heap.c) is a heap only once
 * the process is initialised and not in slow mode, whose hooks need the
 * size asked for rather than the rounded one; its load is the one malloc's
 * inline path makes. */
static PM_NOINLINE void *aligned_slow(size_t align, size_t size);

/* An aligned request of more than PM_MEDIUM_MAX bytes, aligned to a page
 * or less: malloc's own large path, the thread's slots first, since a
 * large block starts its mapping (a page boundary or more), except in
 * strict mode (not called there), where it ends at its guard page.
 * Through aligned_slow and the general large path, page-aligned buffers
 * of 4..32 KiB, one of 256 replaced at random, took 211 instructions an
 * aligned_alloc and free, 160 this way (tcmalloc 136).  Out of line: in
 * _pm_alloc_aligned, its small and medium paths needed a stack frame
 * (4 instructions more a call). */
static PM_NOINLINE void *aligned_large(size_t size) { return pm_malloc_large(size); }

/* For size <= PM_SMALL_MAX and align <= PM_ALIGN_SMALL_MAX: the request
 * whose small class serves the aligned one, size rounded up to align
 * (align itself for 0).  A class whose size is a multiple of align has its
 * blocks at page + k * size (no header in the page), all multiples of
 * align; the result is at most PM_SMALL_MAX, a multiple of every such
 * align. */
static inline size_t aligned_small_request(size_t align, size_t size)
{
    size_t n = (size + align - 1) & ~(align - 1);
    return n ? n : align;
}

void *_pm_alloc_aligned(size_t align, size_t size)
{
    if (pm_likely(_pm_tls_fast != PM_ROUTE_GENERIC)) {
        if (size <= PM_SMALL_MAX && align <= PM_ALIGN_SMALL_MAX)
            return pm_malloc_inline(aligned_small_request(align, size));
        if (size - 1 < PM_MEDIUM_MAX && align <= PM_PAGE_SIZE) {
            /* A medium block is aligned to the largest power of two that
             * divides its size, up to a page, where its span starts: every
             * one to 64 (rptest asks 8 and 16), 4096-byte ones to a page.
             * The class malloc would use, if its blocks are aligned enough
             * (a small class here means align > 512: aligned_slow). */
            size_t c = pm_tc_class_at((size - 1) >> 3);
            if (c >= PM_CLASS_COUNT && pm_medium_aligned_to((unsigned)(c - PM_CLASS_COUNT), align))
                return pm_alloc_class(c, size);
        }
        if (size > PM_MEDIUM_MAX && align <= PM_PAGE_SIZE && !PM_STRICT)
            return aligned_large(size);
    }
    return aligned_slow(align, size);
}

static void *aligned_slow(size_t align, size_t size)
{
    _pm_process_init();   /* _pm_slow is read below: it may be the first call */
    if (align <= PM_CLASS_SPACING)
        return pm_malloc_inline(size);        /* every block is 8-aligned */
    if (size <= PM_SMALL_MAX && align <= PM_ALIGN_SMALL_MAX) {
        size_t n = aligned_small_request(align, size);
        return pm_unlikely(_pm_slow) ? small_alloc_slow(pm_class_of(n), size)
                                     : pm_malloc_inline(n);
    }
    int m = medium_class_aligned(align, size);
    if (m >= 0) {
        /* The thread cache first, as malloc would: the frees of these
         * blocks fill it (the route heap's pop misses). */
        void *t = pm_tc_pop(_pm_tls_fast, PM_CLASS_COUNT + (unsigned)m);
        if (t)
            return t;
        return medium_alloc_api((unsigned)m, size);
    }
    return _pm_large_alloc_api(size, align, false);
}

static inline bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* posix_memalign past the thread cache: errno is left as it was, but for
 * ENOMEM.  Out of line, so that the pops before it need no stack frame
 * (five registers saved and restored a call). */
static PM_NOINLINE int posix_memalign_slow(void **out, size_t align, size_t size)
{
    int saved = errno;
    void *p = _pm_alloc_aligned(align, size);
    if (!p) {
        errno = ENOMEM;   /* as glibc leaves it (its tst-malloc-thread-fail relies on it) */
        return ENOMEM;
    }
    errno = saved;
    *out = p;
    return 0;
}

int pm_posix_memalign(void **out, size_t align, size_t size)
{
    if (!is_pow2(align) || align % sizeof(void *) != 0)
        return EINVAL;
    /* A small or medium block from the thread cache first, in the class
     * the aligned path would use (_pm_alloc_aligned): the pop makes no
     * system call and leaves errno alone, so it needs neither errno's save
     * nor its restore (two calls of __errno_location and a stack frame).
     * The route heap's pop finds nothing: slow mode and a thread without a
     * heap go on.  posix_memalign(4096, 4096) and free took 135
     * instructions without the medium pop and the frame, 93 with them
     * (tcmalloc 112); posix_memalign(64, 100) 100 -> 90. */
    if (size <= PM_SMALL_MAX && align <= PM_ALIGN_SMALL_MAX) {
        size_t n = aligned_small_request(align, size);
        void *p = pm_tc_pop(_pm_tls_fast, pm_tc_class_at((n - 1) >> 3));
        if (pm_likely(p != NULL)) {
            *out = p;
            return 0;
        }
    } else if (size - 1 < PM_MEDIUM_MAX && align <= PM_PAGE_SIZE) {
        size_t c = pm_tc_class_at((size - 1) >> 3);
        if (c >= PM_CLASS_COUNT && pm_medium_aligned_to((unsigned)(c - PM_CLASS_COUNT), align)) {
            void *p = pm_tc_pop(_pm_tls_fast, c);
            if (pm_likely(p != NULL)) {
                *out = p;
                return 0;
            }
        }
    }
    return posix_memalign_slow(out, align, size);
}

/* NULL with errno EINVAL, out of line: the callers' common path then needs
 * no stack frame. */
static PM_NOINLINE __attribute__((cold)) void *einval_null(void)
{
    errno = EINVAL;
    return NULL;
}

void *pm_aligned_alloc(size_t align, size_t size)
{
    if (!is_pow2(align))
        return einval_null();
    return _pm_alloc_aligned(align, size);
}

void *pm_memalign(size_t align, size_t size)
{
    if (!is_pow2(align))
        return einval_null();
    return _pm_alloc_aligned(align, size);
}

void *pm_valloc(size_t size) { return _pm_alloc_aligned(PM_PAGE_SIZE, size); }

void *pm_pvalloc(size_t size)
{
    size_t rounded = (size + PM_PAGE_SIZE - 1) & ~(PM_PAGE_SIZE - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return _pm_alloc_aligned(PM_PAGE_SIZE, rounded ? rounded : PM_PAGE_SIZE);
}

/* malloc_usable_size of p, whose page-map entry is `entry`: the checks of
 * free for each kind of block. */
static PM_NOINLINE size_t usable_size_of(void *p, uintptr_t entry)
{
    if (!p)
        return 0;
    size_t n;
    if (entry & PM_PAGE_POOL)
        n = small_check(entry, p, "malloc_usable_size")->block_size;
    else if (entry & PM_PAGE_SPAN)
        n = span_check(entry, p, "malloc_usable_size")->block_size;
    else if (entry & PM_PAGE_LARGE)
        n = _pm_large_usable(_pm_large_check(entry, p, "malloc_usable_size"));
    else
        _pm_fatal_ptr("malloc_usable_size", "invalid pointer", p);
    if (pm_unlikely(_pm_slow))
        n = _pm_slow_usable(p, n);
    return n;
}

/* The common case as free's inline path finds it: a block of a pool or
 * span (its page's entry in the flat map) whose live bit is set, so a
 * block start handed out, and that holds no thread cache's mark
 * (maybe_marked; the whole word is compared in usable_size_of), so not
 * freed since: its class's size, the answer and the checks of
 * usable_size_of with no stack frame.  redis-server (built for libc's
 * malloc) asks malloc_usable_size at every allocation and free, for its
 * memory count: 572,685 calls for 322,730 mallocs under redis-benchmark's
 * set, get and lpush.  68 -> 39 instructions a call on a small block, 67
 * -> 42 on a medium one, 75 -> 78 on a large one (a loop's included). */
size_t pm_malloc_usable_size(void *p)
{
    if (pm_unlikely(PM_STRICT || !pm_pagemap_fast_takes(p)))
        return usable_size_of(p, p ? pm_pagemap_get(p) : 0);
    uintptr_t entry = pm_pagemap_fast_get(p);
    if (pm_likely((entry & (PM_PAGE_POOL | PM_PAGE_SPAN)) && !_pm_slow &&
                  (atomic_load_explicit(pm_slot_live_word(pm_entry_slot(entry), p),
                                        memory_order_relaxed) &
                   pm_live_bit(p)) &&
                  !pm_tc_maybe_marked(p)))
        return entry & PM_PAGE_POOL ? pm_entry_pool(entry)->block_size
                                    : pm_entry_span(entry)->block_size;
    return usable_size_of(p, entry);
}

int pm_malloc_trim(size_t pad)
{
    (void)pad;
    if (PM_STRICT)   /* the quarantine's blocks go back to their pools first */
        while (_pm_strict_quarantine_flush_one(free_block_now))
            ;
    /* The large cache first, then empty pools and spans, then the arenas
     * that emptied. */
    size_t released = (size_t)_pm_large_trim(true);
    released += _pm_heaps_trim();
    released += _pm_arena_trim_reserve(0);
    return released ? 1 : 0;
}

int pm_size_class(size_t size)
{
    if (size <= PM_SMALL_MAX)
        return (int)pm_tc_class_at(pm_class_of(size));   /* its range's or host's until split */
    if (size <= PM_MEDIUM_MAX)
        return PM_CLASS_COUNT + (int)pm_medium_class_fast(size);   /* its range's until split */
    return -1;
}

size_t pm_class_block_size(int c)
{
    if (c >= 0 && c < PM_CLASS_COUNT)
        return pm_class_size((unsigned)c);
    if (c >= PM_CLASS_COUNT && c < PM_CLASS_COUNT + PM_MEDIUM_COUNT)
        return pm_medium_size((unsigned)(c - PM_CLASS_COUNT));
    return 0;
}
