/* internal.h -- cross-file internals of poolmalloc, grouped by the file that
 * defines them, and the inline fast paths of malloc and free. */
#ifndef PM_INTERNAL_H
#define PM_INTERNAL_H

#include "include/internal/types.h"
#include "include/internal/vg.h"
#include "poolmalloc.h"

/* ---- arenas/pagemap.c ---- */
/* Sets the entries of [addr, addr + npages pages) to value; 0 on success,
 * ENOMEM if a leaf could not be mapped. */
PM_INTERNAL int _pm_pagemap_set(const void *addr, size_t npages, uintptr_t value);

/* ---- arenas/meta.c ---- */
/* One kind of allocator record: fixed size (a power of two, 8..4096), its
 * free list and the chunk it is carving.  Statically initialised by its
 * user: pm_meta_kind_t k = PM_META_KIND(sizeof(struct)). */
typedef struct pm_meta_kind_s {
    size_t size;            /* record size */
    pm_block_t *free;       /* freed records, links mangled (meta.c) */
    char *bump;             /* next never-used record of the current chunk */
    size_t left;            /* bytes left after bump in that chunk */
} pm_meta_kind_t;
#define PM_META_POW2(n) ((size_t)1 << (64 - __builtin_clzll((unsigned long long)(n) - 1)))
#define PM_META_KIND(n) {.size = PM_META_POW2(n)}
PM_INTERNAL void *_pm_meta_alloc(pm_meta_kind_t *kind);   /* a zeroed record, or NULL */
PM_INTERNAL void _pm_meta_free(pm_meta_kind_t *kind, void *rec);
PM_INTERNAL bool _pm_meta_owns(const void *addr);   /* in a metadata chunk (tests) */
PM_INTERNAL void _pm_meta_fork_prepare(void);
PM_INTERNAL void _pm_meta_fork_parent(void);
PM_INTERNAL void _pm_meta_fork_child(void);

/* ---- arenas/arena.c ---- */
PM_INTERNAL pm_pool_t *_pm_arena_pool_take(pm_heap_t *heap);      /* page for a new pool, or NULL */
PM_INTERNAL void _pm_arena_pool_return(pm_heap_t *heap, pm_pool_t *pool);
PM_INTERNAL void *_pm_arena_pages_take(pm_heap_t *heap, unsigned npages); /* first page, or NULL */
PM_INTERNAL void _pm_arena_pages_return(pm_heap_t *heap, void *first, unsigned npages);
PM_INTERNAL size_t _pm_arena_trim_reserve(size_t keep);           /* returns arenas released */
PM_INTERNAL size_t _pm_arena_decommit_free(pm_heap_t *heap);      /* returns pages given back */
PM_INTERNAL bool _pm_arena_page_is_last(const void *page);   /* the arena's only page in use */
PM_INTERNAL void _pm_arena_fork_prepare(void);
PM_INTERNAL void _pm_arena_fork_parent(void);
PM_INTERNAL void _pm_arena_fork_child(void);

/* ---- arenas/large.c ---- */
PM_INTERNAL void *_pm_large_alloc(size_t size, size_t align, bool zero);
PM_INTERNAL void _pm_large_free(pm_large_t *rec);   /* rec checked by _pm_large_check */
PM_INTERNAL void *_pm_large_realloc(pm_large_t *rec, void *ptr, size_t size);
PM_INTERNAL size_t _pm_large_usable(const pm_large_t *rec);
PM_INTERNAL pm_large_t *_pm_large_check(uintptr_t entry, void *ptr, const char *call);
PM_INTERNAL int _pm_large_trim(bool all);   /* 1 if something was released */
PM_INTERNAL void _pm_large_fork_prepare(void);
PM_INTERNAL void _pm_large_fork_parent(void);
PM_INTERNAL void _pm_large_fork_child(void);

/* ---- pools/pool.c ---- */
PM_INTERNAL PM_NOINLINE void *_pm_pool_alloc_generic(pm_heap_t *heap, unsigned c);
PM_INTERNAL PM_NOINLINE void _pm_pool_free_generic(pm_heap_t *heap, pm_pool_t *pool);
PM_INTERNAL void _pm_pool_free_local(pm_heap_t *heap, pm_pool_t *pool, pm_block_t *b,
                                     const char *call);
PM_INTERNAL size_t _pm_pool_release_empty(pm_heap_t *heap);  /* returns pools released */
PM_INTERNAL void _pm_pool_free_abandoned(pm_heap_t *heap, pm_pool_t *pool, pm_block_t *b,
                                         const char *call);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_pool_bad_free(pm_pool_t *pool, void *p,
                                                                   const char *call);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_pool_corrupt(pm_pool_t *pool,
                                                                  const pm_block_t *b);
PM_INTERNAL const char *_pm_freed_word(const char *call);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_fatal_ptr(const char *call,
                                                               const char *what, const void *p);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_fatal_link(const char *what, const void *where,
                                                                const void *block);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_fatal_link2(const char *what, const void *where,
                                                                 const char *which,
                                                                 const void *block,
                                                                 const char *after);

/* ---- pools/span.c ---- */
PM_INTERNAL PM_NOINLINE void *_pm_medium_alloc(size_t size);
PM_INTERNAL void *_pm_span_alloc(pm_heap_t *heap, unsigned m);
PM_INTERNAL pm_span_t *_pm_span_check(uintptr_t entry, void *p, const char *call);
PM_INTERNAL void _pm_span_free(uintptr_t entry, void *p, const char *call);
PM_INTERNAL void _pm_span_free_local(pm_heap_t *heap, pm_span_t *span, void *p,
                                     const char *call);
PM_INTERNAL size_t _pm_span_release_empty(pm_heap_t *heap);
PM_INTERNAL PM_NOINLINE void _pm_span_free_generic(pm_heap_t *heap, pm_span_t *s);
PM_INTERNAL void _pm_span_free_abandoned(pm_heap_t *heap, pm_span_t *s, void *b,
                                         const char *call);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_span_bad_free(pm_span_t *s, void *p,
                                                                   const char *call);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_span_corrupt(pm_span_t *s,
                                                                  const pm_block_t *b);

/* ---- pools/heap.c ---- */
/* The calling thread's heap: a heap, PM_HEAP_NONE or PM_HEAP_DEAD. */
PM_INTERNAL extern __thread pm_heap_t *_pm_tls_heap __attribute__((tls_model("initial-exec")));
/* The heap the inline fast paths use: _pm_tls_heap while it is a heap and
 * the process is not in slow mode (types.h), else PM_ROUTE_GENERIC.  Only
 * the fast paths read it; _pm_heap_route sets it. */
PM_INTERNAL extern __thread pm_heap_t *_pm_tls_fast __attribute__((tls_model("initial-exec")));
PM_INTERNAL void _pm_heap_route(void);                   /* recompute _pm_tls_fast */
PM_INTERNAL pm_heap_t *_pm_heap_acquire(void);          /* adopt an abandoned heap or make one */
PM_INTERNAL void _pm_heap_abandon(pm_heap_t *heap);     /* the owner thread is exiting */
PM_INTERNAL void _pm_heap_collect(pm_heap_t *heap);     /* owner: take back remote frees */
PM_INTERNAL PM_NOINLINE void _pm_heap_free_remote(pm_pool_t *pool, pm_block_t *b,
                                                  const char *call);
PM_INTERNAL void _pm_heap_free_remote_raw(pm_pool_t *pool, pm_block_t *b, const char *call);
PM_INTERNAL void _pm_heap_free_remote_span(pm_span_t *span, pm_block_t *b, const char *call);
PM_INTERNAL pm_heap_t *_pm_heap_backup(void);           /* locked heap for exiting threads */
PM_INTERNAL size_t _pm_heaps_trim(void);
PM_INTERNAL void _pm_heaps_fork_prepare(void);
PM_INTERNAL void _pm_heaps_fork_parent(void);
PM_INTERNAL void _pm_heaps_fork_child(void);
PM_INTERNAL pm_heap_t *_pm_heaps_first(void);

/* ---- pools/alloc.c ---- */
/* A small block of class c for a request of `size` bytes (0..512) when the
 * fast route is off; the class is the caller's (pm_request_class, or the
 * C++ rule of pm_new_inline). */
PM_INTERNAL PM_NOINLINE void *_pm_small_alloc_generic(unsigned c, size_t size);
/* malloc's fast path missed: the list head has no free block, or the
 * thread is on the route heap (types.h).  size is 1..512, c its class. */
PM_INTERNAL PM_NOINLINE void *_pm_small_alloc_miss(pm_heap_t *heap, size_t c, size_t size);
PM_INTERNAL PM_NOINLINE void _pm_free_generic(void *p, uintptr_t entry, const char *call);
PM_INTERNAL void *_pm_alloc_aligned(size_t align, size_t size);

/* ---- pools/stats.c ---- */
PM_INTERNAL void _pm_stats_count_alloc(unsigned c);
PM_INTERNAL void _pm_stats_count_free(unsigned c);
PM_INTERNAL void _pm_stats_count_large(void);   /* a large block was handed out: peak */
/* The report at exit, to POOLMALLOC_STATS_FILE or else to fd; JSON if
 * POOLMALLOC_STATS_JSON. */
PM_INTERNAL void _pm_stats_report_exit(int fd);
/* Writes v in decimal into buf (at least 21 bytes), NUL-terminated;
 * returns the number of digits.  No allocation, no locale. */
PM_INTERNAL size_t _pm_fmt_u64(char *buf, uint64_t v);
/* malloc_info's XML (glibc's shape), handed to sink piece by piece. */
typedef void (*pm_sink_fn)(void *arg, const char *buf, size_t len);
PM_INTERNAL void _pm_stats_print_xml(pm_sink_fn sink, void *arg);

/* ---- pools/slow.c: the hooks of slow mode (types.h) ----
 * Called only while _pm_slow is set, around each block the malloc API hands
 * out or takes back (not around allocator metadata).  `counter` is the
 * statistics index: the small class, PM_CLASS_COUNT + the medium class, or
 * -1 for a large allocation; `size` is what the caller asked for, `block`
 * the usable size. */
PM_INTERNAL void _pm_slow_alloc(void *p, size_t size, size_t block, int counter, bool zeroed);
PM_INTERNAL void _pm_slow_free(void *p, size_t block, int counter);
PM_INTERNAL void _pm_slow_resize(void *p, size_t old_block, size_t new_size); /* in place */
/* What malloc_usable_size reports for a block of `block` usable bytes: the
 * block, except under valgrind, where only the bytes asked for may be used. */
PM_INTERNAL size_t _pm_slow_usable(void *p, size_t block);
/* Strict mode (types.h): fill [p, p + n) with PM_FREE_JUNK (a freed
 * block's link word is left out by the caller); check a block's filling,
 * all but its link word, when it is taken off its free list or carved
 * (aborts on a write after free). */
PM_INTERNAL void _pm_strict_fill(void *p, size_t n);
PM_INTERNAL void _pm_strict_taken(void *b, size_t block);

/* ---- preload/options.c ---- */
PM_INTERNAL void _pm_options_init(void);
#define PM_STATS_FILE_MAX 1024
PM_INTERNAL extern char _pm_stats_file[PM_STATS_FILE_MAX]; /* POOLMALLOC_STATS_FILE, absolute, or "" */
PM_INTERNAL extern long _pm_option_values[PM_OPTION_COUNT];

/* ---- preload/lifecycle.c ---- */
PM_INTERNAL void _pm_process_init(void);    /* idempotent, never allocates */
PM_INTERNAL void _pm_thread_init_late(void); /* thread-exit key, fork handlers */
PM_INTERNAL extern _Atomic int _pm_initialized;

/* ======================= fast paths ======================================= */

/* The secret of safe linking (types.h, pm_block_s): random, set once at
 * start-up before any block is freed. */
PM_INTERNAL extern uintptr_t _pm_secret;

static inline uintptr_t pm_link_encode(const pm_block_t *b, const void *next)
{
    return (uintptr_t)next ^ (uintptr_t)b ^ _pm_secret;
}

/* Reading and writing a link.  `vg` is pm_vg_on(), tested once by the
 * caller (a constant false on the inline fast paths, which never run under
 * memcheck): the link word of a free block is no-access to memcheck, and is
 * made addressable just for poolmalloc's own access (vg.h). */
static inline uintptr_t pm_link_load(const pm_block_t *b, bool vg)
{
    if (vg)
        PM_VG_REQ_DEFINED(b, sizeof *b);
    uintptr_t link = b->link;
    if (vg)
        PM_VG_REQ_NOACCESS(b, sizeof *b);
    return link;
}

static inline void pm_link_store(pm_block_t *b, const void *next, bool vg)
{
    if (vg)
        PM_VG_REQ_UNDEFINED(b, sizeof *b);
    b->link = pm_link_encode(b, next);
    if (vg)
        PM_VG_REQ_NOACCESS(b, sizeof *b);
}

static inline pm_block_t *pm_link_decode(const pm_block_t *b, bool vg)
{
    return (pm_block_t *)(pm_link_load(b, vg) ^ (uintptr_t)b ^ _pm_secret);
}

/* True for a block of a pool's free list, false for its end (the pool's
 * address) and for the empty sentinel pool's NULL: blocks never start at
 * page offset 0, where the pool header is. */
static inline bool pm_pool_is_block(const pm_block_t *b)
{
    return ((uintptr_t)b & (PM_POOL_SIZE - 1)) != 0;
}

/* Takes free block b, the head of pool's list, off the list.  The decoded
 * link xor b must have no bit outside bits 3..11 set: next is in b's own
 * page and 8-aligned like b.  With the mangling that is one xor with the
 * secret, one test, one xor with b. */
static inline void pm_pool_pop(pm_pool_t *pool, pm_block_t *b, bool vg)
{
    uintptr_t d = pm_link_load(b, vg) ^ _pm_secret;   /* next ^ b */
    if (pm_unlikely(d & ~(uintptr_t)(PM_POOL_SIZE - 8)))
        _pm_pool_corrupt(pool, b);
    pool->free = (pm_block_t *)(d ^ (uintptr_t)b);
}

/* The live bitmap: bit g of the 512 is 8-byte granule g of the page.  The
 * word is (b >> 9) & 7; the bit, (b >> 3) & 63. */
static inline _Atomic uint64_t *pm_live_word(pm_pool_t *pool, const void *b)
{
    return (_Atomic uint64_t *)&pool->live[((uintptr_t)b >> 9) & 7];
}

static inline uint64_t pm_live_bit(const void *b)
{
    return (uint64_t)1 << (((uintptr_t)b >> 3) & 63);
}

static inline void pm_live_set(pm_pool_t *pool, const void *b)
{
    _Atomic uint64_t *w = pm_live_word(pool, b);
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | pm_live_bit(b),
                          memory_order_relaxed);
}

/* Pops a block of class c (for a request of `size` bytes, 1..512) from
 * heap's list head; the route heap and an empty list miss. */
static inline void *pm_small_alloc(pm_heap_t *heap, size_t c, size_t size)
{
    pm_pool_t *pool = heap->pools[c];
    pm_block_t *b = pool->free;
    if (pm_likely(pm_pool_is_block(b))) {
        pm_pool_pop(pool, b, false);
        pool->used++;
        pm_live_set(pool, b);
        return b;
    }
    return _pm_small_alloc_miss(heap, c, size);
}

/* Frees block p of pool, whose owner is the calling thread's heap.  p is
 * 8-aligned (pm_free_inline checks; the other callers check themselves).
 * `vg`: see pm_link_load. */
static inline void pm_small_free_local(pm_heap_t *heap, pm_pool_t *pool, void *p,
                                       const char *call, bool vg)
{
    _Atomic uint64_t *w = pm_live_word(pool, p);
    uint64_t word = atomic_load_explicit(w, memory_order_relaxed);
    if (pm_unlikely(!pm_bit_take(&word, (uintptr_t)p >> 3)))
        _pm_pool_bad_free(pool, p, call);
    atomic_store_explicit(w, word, memory_order_relaxed);
    pm_block_t *b = (pm_block_t *)p;
    pm_link_store(b, pool->free, vg);
    pool->free = b;
    if (pm_unlikely(pm_dec_le0(&pool->used)))   /* emptied, or off its list (types.h) */
        _pm_pool_free_generic(heap, pool);
}

/* ---- medium blocks (513..16384 bytes, spans) ----
 * The same two paths for spans (whose list head holds a pin too, span.c),
 * minus the pools' bias: a span's blocks are found by a multiply (recip),
 * and its free list ends with NULL.  The pop's check is the pools' one: the next block lies in
 * the span and is 8-aligned.  Slow mode (route heap) and every miss go to
 * span.c, whose checks are exact. */
static inline void *pm_medium_alloc_inline(size_t size)
{
    pm_span_t *s = _pm_tls_fast->spans[pm_medium_class_of(size)];
    pm_block_t *b = s->free;
    if (pm_likely(b != NULL)) {
        uintptr_t base = (uintptr_t)pm_span_base(s);
        uintptr_t next = b->link ^ (uintptr_t)b ^ _pm_secret;
        if (pm_unlikely(next && ((next - base) >= ((uintptr_t)s->pages << PM_PAGE_SHIFT) ||
                                 (next & 7))))
            _pm_span_corrupt(s, b);
        s->free = (pm_block_t *)next;
        s->used++;
        uint64_t idx = (((uintptr_t)b - base) * s->recip) >> 32;
        atomic_store_explicit(&s->live,
                              atomic_load_explicit(&s->live, memory_order_relaxed) |
                                  ((uint64_t)1 << idx),
                              memory_order_relaxed);
        return b;
    }
    return _pm_medium_alloc(size);
}

/* Frees block p of span s, owned by the calling thread's heap. */
static inline void pm_span_free_inline(pm_heap_t *heap, pm_span_t *s, void *p)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)pm_span_base(s);
    uint64_t idx = (off * s->recip) >> 32;
    uint64_t live = atomic_load_explicit(&s->live, memory_order_relaxed);
    if (pm_unlikely(idx * s->block_size != off || idx >= s->capacity ||
                    !pm_bit_take(&live, idx)))
        _pm_span_bad_free(s, p, "free");
    atomic_store_explicit(&s->live, live, memory_order_relaxed);
    pm_block_t *b = (pm_block_t *)p;
    b->link = pm_link_encode(b, s->free);
    s->free = b;
    if (pm_unlikely(--s->used == 0 || !s->listed))
        _pm_span_free_generic(heap, s);
}

/* The small class malloc uses for a request of 1..512 bytes: its own
 * class, or with POOLMALLOC_MIN_ALIGN=16 the next one whose blocks are
 * 16-aligned (types.h, _pm_align_or). */
static inline unsigned pm_request_class(size_t size)
{
    return (unsigned)(((size - 1) | _pm_align_or) >> 3);
}

/* Medium and large requests, and malloc(0): the rest of malloc once m =
 * size - 1 is known not to be small. */
static inline void *pm_malloc_not_small(size_t m, size_t size)
{
    if (pm_likely(m < PM_MEDIUM_MAX))
        return pm_medium_alloc_inline(size);
    if (size == 0)
        return _pm_small_alloc_generic(pm_request_class(1), 0);
    return _pm_large_alloc(size, 0, false);
}

/* malloc: the thread's heap, one list pop. */
static inline void *pm_malloc_inline(size_t size)
{
    size_t m = size - 1;                    /* size 0 wraps around */
    if (pm_likely(m < PM_SMALL_MAX))
        return pm_small_alloc(_pm_tls_fast, (m | _pm_align_or) >> 3, size);
    return pm_malloc_not_small(m, size);
}

/* C++ operator new (preload/override_cxx.c): as malloc, but a request of
 * more than 8 bytes always gets a class whose blocks are 16-aligned, since
 * compilers assume __STDCPP_DEFAULT_NEW_ALIGNMENT__ (16) for any object of
 * 16 bytes or more that new returns (clang merges a constructor's stores
 * into movaps).  Classes 1, 3, 5, ... are the multiples of 16; class 0
 * (8 bytes) can hold no 16-aligned object.  NULL only when out of memory. */
static inline void *pm_new_inline(size_t size)
{
    size_t m = size - 1;
    if (pm_likely(m < PM_SMALL_MAX)) {
        size_t c = (m | _pm_align_or) >> 3;
        c |= (c != 0);
        return pm_small_alloc(_pm_tls_fast, c, size);
    }
    return pm_malloc_not_small(m, size);
}

/* free: one page-map lookup, then a list push when the block is ours and
 * the thread may use the fast path (any other case: _pm_heap_free_remote).
 * One test sends pointers that are misaligned or beyond the page map to
 * the out-of-line path, which names what is wrong with them. */
static inline void pm_free_inline(void *p)
{
    const uintptr_t odd = ~(((uintptr_t)1 << PM_VA_BITS) - 1) | 7;
    if (pm_likely(!((uintptr_t)p & odd))) {
        uintptr_t entry = pm_pagemap_get_low(p);
        if (pm_likely(entry & PM_PAGE_POOL)) {
            pm_pool_t *pool = (pm_pool_t *)(entry & ~PM_PAGE_TAGS);
            pm_heap_t *heap = _pm_tls_fast;
            if (pm_likely(pool->heap == heap)) {
                pm_small_free_local(heap, pool, p, "free", false);
                return;
            }
            _pm_heap_free_remote(pool, (pm_block_t *)p, "free");
            return;
        }
        if (entry & PM_PAGE_SPAN) {
            pm_span_t *s = (pm_span_t *)(entry & ~PM_PAGE_TAGS);
            pm_heap_t *heap = _pm_tls_fast;
            if (pm_likely(s->heap == heap)) {
                pm_span_free_inline(heap, s, p);
                return;
            }
        }
        if (p)
            _pm_free_generic(p, entry, "free");
        return;
    }
    _pm_free_generic(p, pm_pagemap_get(p), "free");
}

#endif
