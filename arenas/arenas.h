/* arenas.h -- floor 1: 256 KiB arenas, the page map, the large path and
 * the allocator's records.  Uses only base/ (base.h, vg.h); knows nothing of
 * pools, classes or heaps: what it hands out are pages, mappings and
 * records, and a heap's arenas are kept in a pm_arena_set_t the heap embeds.
 *
 * Memory picture:
 *
 *   arena (256 KiB, 256 KiB-aligned, mmap)
 *   +--------+--------+--------+-----+--------+
 *   | page 0 | page 1 | page 2 | ... | page 63|   pages 2..63 are handed out
 *   |  descriptors    |        |     |        |   one by one or in runs
 *   +--------+--------+--------+-----+--------+
 *   pages 0-1: 64 slots of PM_ARENA_SLOT (128) bytes, slot p for page p.
 *   Slot 0 is left empty (a red zone after whatever mapping lies below),
 *   slot 1 holds pm_arena_t, slots 2..63 are the descriptors of the pages
 *   handed out, which the floor above owns (pools/ keeps its pool headers
 *   and span descriptors there).  So all of a program's blocks are in
 *   pages 2..63, and no allocator state shares a page with them: a write
 *   off the end of a block reaches only other blocks, unless it runs off
 *   the end of the arena's mapping and 128 bytes into the next one.
 *
 * The page map (pagemap.c) tells for any address whose memory it is: the
 * entry of a page is a pointer to a descriptor with a tag in its low bits
 * (PM_PAGE_*), set by whoever hands the page out, or 0 (not ours).
 */
#ifndef PM_ARENAS_H
#define PM_ARENAS_H

#include "base/base.h"
#include "base/vg.h"

/* ---- geometry ------------------------------------------------------------ */
#define PM_PAGE_SHIFT 12
#define PM_PAGE_SIZE ((size_t)1 << PM_PAGE_SHIFT)
#define PM_ARENA_SHIFT 18
#define PM_ARENA_SIZE ((size_t)1 << PM_ARENA_SHIFT) /* 256 KiB */
#define PM_ARENA_PAGES (PM_ARENA_SIZE / PM_PAGE_SIZE)
#define PM_ARENA_META_PAGES 2                       /* pages 0-1: the slots */
#define PM_ARENA_USABLE (PM_ARENA_PAGES - PM_ARENA_META_PAGES)
#define PM_ARENA_SLOT 128                           /* bytes of descriptor per page */
_Static_assert(PM_ARENA_SLOT * PM_ARENA_PAGES == PM_ARENA_META_PAGES * 4096, "slots fill pages 0-1");
_Static_assert(PM_ARENA_PAGES == 64, "arena bookkeeping keeps one bit per page in a uint64_t");
_Static_assert(PM_PAGE_SIZE == PM_OS_PAGE, "the OS page");

typedef struct pm_arena_s pm_arena_t;
typedef struct pm_arena_set_s pm_arena_set_t;
typedef struct pm_large_s pm_large_t;

/* ---- arena (arena.c) --------------------------------------------------------
 * Lives in slot 1 of the arena (see the picture above).  An arena belongs to one arena set (one per heap), which
 * keeps it on the list by_nfree[nfree] so that allocation can prefer the
 * fullest arena (CPython >= 2.5): emptier arenas drain and can go back to
 * the OS.  Invariant: nfree == popcount(free_pages). */
struct pm_arena_s {
    uint64_t free_pages;    /* bit i set: page i is not in use (bits 0, 1 always clear) */
    uint32_t nfree;         /* number of free pages */
    uint32_t magic;         /* PM_ARENA_MAGIC while mapped */
    pm_arena_set_t *owner;  /* the set it is filed in, NULL while in the global reserve */
    pm_arena_t *next;       /* owner->by_nfree[nfree] list, or the reserve (towards older) */
    pm_arena_t *prev;       /* ... (towards newer) */
    uint64_t clean_pages;   /* free pages already given back with madvise, or never used
                               (subset of free_pages) */
    uint64_t aged_pages;    /* free dirty pages at the set's last page pass and not taken
                               since (arena.c, set_page_pass) */
    uint64_t empty_since_ms; /* in the reserve: when it joined */
    uint32_t kept_pages;    /* pages in use that the floor above only keeps for reuse
                               (spare pools and spans): when they are all it has in use,
                               the arena is idle (_pm_arena_idle) */
};
#define PM_ARENA_MAGIC 0x504d4152u /* "PMAR" */
_Static_assert(sizeof(pm_arena_t) <= PM_ARENA_SLOT, "the arena header takes one slot");

/* The slot of (the descriptor of) the page holding p, and back. */
static inline void *pm_arena_slot(const void *p)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(PM_ARENA_SIZE - 1);
    return (void *)(a + ((((uintptr_t)p - a) >> PM_PAGE_SHIFT) * PM_ARENA_SLOT));
}
static inline char *pm_arena_slot_page(const void *slot)
{
    uintptr_t a = (uintptr_t)slot & ~(uintptr_t)(PM_ARENA_SIZE - 1);
    return (char *)(a + (((uintptr_t)slot - a) / PM_ARENA_SLOT) * PM_PAGE_SIZE);
}

/* The highest level a count reached over the last one to two periods
 * (the large cache's use, large.c; the arenas in use, arena.c): `cur`
 * since `since_ms`, `prev` the window before.  Its owner notes the level
 * just before each decrease, where the maxima are, and rolls the window
 * before it reads the peak; its lock covers the struct. */
typedef struct pm_recent_peak_s {
    size_t cur, prev;
    uint64_t since_ms;
} pm_recent_peak_t;
static inline void pm_peak_note(pm_recent_peak_t *p, size_t level)
{
    if (level > p->cur)
        p->cur = level;
}
static inline void pm_peak_roll(pm_recent_peak_t *p, uint64_t now, uint64_t period, size_t level)
{
    if (now - p->since_ms < period)
        return;
    p->prev = now - p->since_ms < 2 * period ? p->cur : level;   /* idle since: nothing */
    p->cur = level;
    p->since_ms = now;
}
static inline size_t pm_peak_get(const pm_recent_peak_t *p)
{
    return p->cur > p->prev ? p->cur : p->prev;
}

/* Phases that come back (the arena reserve's, arena.c; the large cache's,
 * large.c): a level (arenas out, bytes of large use) drops from its recent
 * peak by more than its owner keeps anyway (`kept`), so memory goes back
 * to the OS; the drop's low point is the least level seen since (measured,
 * not assumed near zero: a heap keeps arenas out after it freed
 * everything, a program keeps some buffers).  When the level climbs back
 * over half-way from that low point to the peak within `decay` ms of the
 * drop, the program rebuilds what it drops, and phases come back until
 * `cycling_until_ms` (`hold` decay periods on).  Its owner's lock covers
 * it; zeroed, nothing has dropped. */
typedef struct pm_phases_s {
    bool dropped;              /* a drop (above) ... */
    uint64_t dropped_ms;       /* ... then, and no climb back since */
    size_t low;                /* the least level since the drop */
    uint64_t cycling_until_ms; /* phases come back until then */
} pm_phases_t;
static inline void pm_phases_watch(pm_phases_t *ph, uint64_t now, size_t level, size_t peak,
                                   size_t kept, uint64_t decay, unsigned hold)
{
    if (!ph->dropped) {
        if (level + kept < peak) {
            ph->dropped = true;
            ph->dropped_ms = now;
            ph->low = level;
        }
    } else if (level < ph->low) {
        ph->low = level;
    } else if (level - ph->low > (peak - ph->low) / 2) {
        ph->dropped = false;
        if (now - ph->dropped_ms < decay)
            ph->cycling_until_ms = now + hold * decay;
    }
}
static inline bool pm_phases_cycling(const pm_phases_t *ph, uint64_t now)
{
    return now < ph->cycling_until_ms;
}

/* The arenas of one heap, by free page count; only its owner (or whoever
 * holds the owner's lock) touches it. */
struct pm_arena_set_s {
    pm_arena_t *by_nfree[PM_ARENA_PAGES]; /* arenas by free page count */
    uint64_t arenas_with_free;            /* bit n set: by_nfree[n] non-empty */
    uint64_t decommit_ms;                 /* the clock's last pass over its free pages */
    uint64_t page_pass_ms;                /* the last page pass (arena.c, set_page_pass) */
    uint32_t returns;                     /* page runs given back to its arenas */
    uint32_t pages_out;                   /* pages its arenas have in use (pools, spans) */
    uint32_t arenas;                      /* arenas it holds */
    /* The pages last made resident ahead of a take and not taken since
     * (arena.c, pool_pages_populate): in one arena, none of them counted clean;
     * no more are made while some wait. */
    pm_arena_t *ahead_arena;
    uint64_t ahead_pages;
};

/* The arena set of the calling thread's heap, or NULL while it has none
 * (kept by pools/heap.c, _pm_heap_route).  Once per ARENA_DECAY_MS, the
 * clock's pass (_pm_arena_reserve_decay) gives that set's free pages back to
 * the OS: an arena that one pool or span keeps in use (a class's list head,
 * pinned) would otherwise keep its other 61 pages resident for ever after a
 * burst. */
PM_INTERNAL extern __thread pm_arena_set_t *_pm_arena_set_mine
    __attribute__((tls_model("initial-exec")));

/* First of k free consecutive pages (1..16) of the set's arenas, from the
 * fullest arena that has them; else, from the fullest that has a run of
 * at least `least` (<= k) pages, that run, up to k pages; else from a new
 * arena.  *got: the pages taken.  NULL if out of memory.
 * *clean: all of them were clean (never used since they were mapped, or
 * given back), so none is resident yet.  held_only: from the set's arenas
 * or not at all (NULL, no new arena taken), so that the caller can first
 * give back pages it keeps aside (pools/span.c, spares).  Spans take the
 * shorter runs (pools/span.c, span_new): a class with spans of 16 pages
 * would otherwise leave 14 of each arena's 62 to others. */
PM_INTERNAL void *_pm_arena_pages_take(pm_arena_set_t *set, unsigned k, unsigned least,
                                       unsigned *got, bool *clean, bool held_only);
PM_INTERNAL void _pm_arena_pages_return(pm_arena_set_t *set, void *first, unsigned k);
/* For pools: the page that a one-page take gives (k == 1 specialised),
 * and the free pages that follow it, up to `most` in all (*got pages, 1
 * or more): several pools of one class on consecutive pages, without
 * passing over a free page for a run elsewhere (pools/pool.c, pool_new). */
PM_INTERNAL void *_pm_arena_pool_pages_take(pm_arena_set_t *set, unsigned most, unsigned *got,
                                            bool held_only);
PM_INTERNAL void _pm_arena_page_return(pm_arena_set_t *set, void *page);
PM_INTERNAL size_t _pm_arena_trim_reserve(size_t keep);       /* returns arenas released */
/* Unmaps the reserve's decayed arenas (returns how many), and gives back the
 * free pages of _pm_arena_set_mine when a decay period has passed since the
 * last time. */
PM_INTERNAL size_t _pm_arena_reserve_decay(void);
PM_INTERNAL size_t _pm_arena_decommit_free(pm_arena_set_t *set); /* returns pages given back */
/* The pages in use of page's arena that are only kept for reuse: the owner
 * adds k when it keeps a run in use as a spare, subtracts k when it takes
 * it back or before it returns it.  _pm_arena_idle_after: the arena keeps
 * some, and they would be all it has in use once k more pages are back. */
PM_INTERNAL void _pm_arena_kept(const void *page, int k);
PM_INTERNAL bool _pm_arena_idle_after(const void *page, unsigned k);
/* Between these two, the arenas this thread unmaps are batched and go back
 * with one munmap per run of neighbours (arena.c); they nest. */
PM_INTERNAL void _pm_arena_bulk_begin(void);
PM_INTERNAL void _pm_arena_bulk_end(void);
PM_INTERNAL void _pm_arena_fork_prepare(void);
PM_INTERNAL void _pm_arena_fork_parent(void);
PM_INTERNAL void _pm_arena_fork_child(void);

/* ---- the allocator's records (meta.c) -----------------------------------------
 * One kind of record: fixed size (a power of two, 8..4096), its free list
 * and the chunk it is carving.  Statically initialised by its user:
 * pm_meta_kind_t k = PM_META_KIND(sizeof(struct)). */
typedef struct pm_meta_kind_s {
    size_t size;            /* record size */
    void *free;             /* freed records, links mangled (meta.c) */
    char *bump;             /* next never-used record of the current chunk */
    size_t left;            /* bytes left after bump in that chunk */
} pm_meta_kind_t;
#define PM_META_POW2(n) ((size_t)1 << (64 - __builtin_clzll((unsigned long long)(n) - 1)))
#define PM_META_KIND(n) {.size = PM_META_POW2(n)}
PM_INTERNAL void *_pm_meta_alloc(pm_meta_kind_t *kind);   /* a zeroed record, or NULL */
PM_INTERNAL void _pm_meta_free(pm_meta_kind_t *kind, void *rec);
/* A zeroed record of `size` bytes (at most 60 KiB), 64-aligned, in a chunk
 * of its own, never freed: for a record larger than a page (a heap with
 * its thread cache).  NULL when out of memory. */
PM_INTERNAL void *_pm_meta_alloc_own_chunk(size_t size);
PM_INTERNAL bool _pm_meta_owns(const void *addr);   /* in a metadata chunk (tests) */
PM_INTERNAL void _pm_meta_fork_prepare(void);
PM_INTERNAL void _pm_meta_fork_parent(void);
PM_INTERNAL void _pm_meta_fork_child(void);

/* ---- large path (large.c) -----------------------------------------------------
 * A large request gets its own mapping.  Its record is allocator metadata
 * (meta.c), not in the mapping (so the mapping is exactly whole pages and a
 * pointer's page finds the record through the page map) and never in
 * memory a program block is carved from.  Freed mappings stay in a cache
 * until reused (by a request of any size: large.c says how), evicted by the
 * bound on what the process recently used, or unused for the decay time.
 * Mechanism only: the malloc API's bookkeeping (statistics, valgrind,
 * strict mode) is done by pools/alloc.c around these calls. */
struct pm_large_s {
    uint32_t magic;         /* PM_LARGE_LIVE, PM_LARGE_CACHED or PM_LARGE_RETAINED */
    uint32_t freed_ms : 31; /* when it entered the cache (ms, modulo 2^31: large.c,
                               freed_age) */
    uint32_t huge_asked : 1; /* its mapping asked for transparent huge pages (large.c,
                                huge_ask: once, not at every free) */
    uintptr_t user_x;       /* pointer handed out, mangled (large.c, rec_user) */
    uintptr_t base_x;       /* start of the mapping, mangled (rec_base) */
    size_t map_size;        /* bytes mapped */
    size_t size;            /* bytes requested */
    size_t committed;       /* bytes from the start of the mapping that may be resident:
                               requested since it was mapped or last decommitted */
    pm_large_t *next;       /* cache or retained list (large.c) */
    pm_large_t *prev;
};
_Static_assert(sizeof(pm_large_t) <= 64, "a large record is a 64-byte allocator record");
#define PM_LARGE_LIVE 0x4c415247u   /* "LARG" */
#define PM_LARGE_CACHED 0x43414348u /* "CACH" */
#define PM_LARGE_RETAINED 0x52455441u /* "RETA": an address range kept mapped, no block (large.c) */

/* A mapping of at least size bytes aligned to align (0: a page), new or
 * reused from the slots or the cache; NULL with errno ENOMEM.  *dirty: how
 * many of its first bytes may not be zero (0 for a new mapping; for a
 * reused one, up to size, those its record counts as committed: the pages
 * past them were never written since they were mapped or given back).
 * slot_ok (as _pm_large_free's): a mapping taken from the cache may bring
 * a few more cached ones into the thread's slots (large.c, refills). */
PM_INTERNAL void *_pm_large_alloc(size_t size, size_t align, size_t *dirty, bool slot_ok);
/* Zeroes the first n bytes (n: _pm_large_alloc's *dirty) of large block p,
 * just taken: with memset, or, for a big block whose pages are mostly not
 * resident, by giving the pages back (large.c, large_zero). */
PM_INTERNAL void _pm_large_zero(void *p, size_t n);
/* A block of size bytes from a freed mapping waiting in the thread's slots
 * or the cache that holds it, with no system call to map or grow one; else
 * NULL, errno untouched.  Never in strict mode. */
PM_INTERNAL void *_pm_large_alloc_reused(size_t size);
/* rec was checked by _pm_large_check.  slot_ok: the calling thread will
 * call _pm_large_slot_flush before it exits, so the mapping may wait in one
 * of the thread's slots (large.c) instead of going to the cache at once. */
PM_INTERNAL void _pm_large_free(pm_large_t *rec, bool slot_ok);
/* The two common cases of a thread that may use its slots (slot_ok above),
 * with no lock, no clock read and no stack frame: malloc of a size a
 * slot's mapping serves (when none does, the caller's miss(size), a tail
 * call: its way to _pm_large_alloc, so that the caller needs no frame
 * either), and free of a large block whose page map entry is entry
 * (checked as _pm_large_check checks, then into a slot). */
PM_INTERNAL void *_pm_large_slot_take(size_t size, void *(*miss)(size_t));
PM_INTERNAL void _pm_large_free_slot(uintptr_t entry, void *ptr);
PM_INTERNAL void _pm_large_slot_flush(void);     /* the thread's slots to the cache */
PM_INTERNAL void _pm_large_counts_flush(void);   /* the thread's slot counts to _pm_counters */
/* The large cache's own counts, which _pm_counters' large_allocs and
 * large_hits (hits), large_frees and large_live_bytes (modulo 2^64) leave
 * out: the statistics add them (large.c, cache_counts). */
PM_INTERNAL void _pm_large_cache_counts(uint64_t *hits, uint64_t *frees, uint64_t *live);
/* Tells helgrind and drd (base/vg.h) that those counts are read without the lock. */
PM_INTERNAL void _pm_large_vg_init(void);
/* Resizes in place, or (may_move) moves the pages with mremap (only for a
 * block that starts its mapping: _pm_large_is_plain); NULL, ptr intact,
 * when it cannot (with errno ENOMEM if may_move).  The caller copies
 * instead when it must (valgrind) or would rather (_pm_large_slot_fits). */
PM_INTERNAL void *_pm_large_realloc(pm_large_t *rec, void *ptr, size_t size, bool may_move);
/* Whether a mapping waiting in the calling thread's slots would serve a
 * request of size bytes (_pm_large_alloc would take it). */
PM_INTERNAL bool _pm_large_slot_fits(size_t size);
PM_INTERNAL bool _pm_large_is_plain(const pm_large_t *rec);   /* user == start of mapping */
/* Whether a realloc of rec down to size bytes should move the block (to a
 * new block, the mapping freed whole) rather than give the mapping's tail
 * back to the OS in place (large.c). */
PM_INTERNAL bool _pm_large_shrink_moves(const pm_large_t *rec, size_t size);
/* realloc's fast path: ptr (page map entry `entry`, with PM_PAGE_LARGE)
 * grown to size bytes within its mapping, or kept at its size; NULL when
 * that does not apply (not a live block starting its mapping, a shrink, a
 * size past the mapping, strict mode), and then nothing has changed. */
PM_INTERNAL void *_pm_large_grow_within(uintptr_t entry, void *ptr, size_t size);
PM_INTERNAL size_t _pm_large_usable(const pm_large_t *rec);
PM_INTERNAL size_t _pm_large_requested(const pm_large_t *rec);
PM_INTERNAL pm_large_t *_pm_large_check(uintptr_t entry, void *ptr, const char *call);
PM_INTERNAL int _pm_large_trim(bool all);   /* 1 if something was released */
/* A new arena is being mapped (arena.c): the large cache gives back, oldest
 * first, mappings of at least `bytes` committed, if it holds any. */
PM_INTERNAL void _pm_large_cache_yield(size_t bytes);
/* Large mappings held (live, in slots, cached) above which a mapping that
 * leaves is retained rather than unmapped (large.c, "retained ranges");
 * tests lower it.  And what is retained now: ranges and their bytes. */
PM_INTERNAL extern size_t _pm_large_retain_from;
PM_INTERNAL void _pm_large_retained(size_t *count, size_t *bytes);
PM_INTERNAL void _pm_large_fork_prepare(void);
PM_INTERNAL void _pm_large_fork_parent(void);
PM_INTERNAL void _pm_large_fork_child(void);

/* ---- page map (pagemap.c) -------------------------------------------------------
 * One entry per page: a flat array where the kernel grants its
 * reservation, else a two-level radix tree over 48-bit addresses (both
 * below).  A
 * non-zero entry is an 8-aligned pointer below 2^48 plus exactly one tag,
 * and, above bit PM_PAGE_INFO_SHIFT, what the floor above chose to keep
 * there (pools and spans: the size class plus 1, read by free without the
 * header; 0 in every other entry, large records' included, which free's
 * fast path relies on: pools.h, pm_entry_info); the pointer is entry & ~PM_PAGE_TAGS (large records: also
 * entry - tag, folded into the field offsets). */
#define PM_PAGE_POOL ((uintptr_t)1)
#define PM_PAGE_LARGE ((uintptr_t)2)
#define PM_PAGE_SPAN ((uintptr_t)4)
#define PM_PAGE_INFO_SHIFT 56
#define PM_PAGE_TAGS ((uintptr_t)7 | ~(((uintptr_t)1 << PM_VA_BITS) - 1))
#define PM_VA_BITS 48
#define PM_PAGEMAP_LEAF_BITS 18
#define PM_PAGEMAP_ROOT_BITS (PM_VA_BITS - PM_PAGE_SHIFT - PM_PAGEMAP_LEAF_BITS)

/* The root: for each GiB of address space (2^PM_PAGEMAP_LEAF_BITS pages),
 * 0 while it has no leaf, else its leaf's address minus the byte offset
 * that the GiB's first page number would have in a leaf indexed from page
 * number 0 (pm_pagemap_root_word).  A lookup then adds the page number
 * times 8 to the root word, with no mask of the page number to the leaf's
 * range (one instruction fewer on free's path).  The sum wraps modulo
 * 2^64 to the entry's address; only uintptr_t arithmetic, no pointer out
 * of bounds.  No leaf is made at the one address whose word would be 0
 * (pagemap.c). */
PM_INTERNAL extern _Atomic uintptr_t _pm_pagemap_root[(size_t)1 << PM_PAGEMAP_ROOT_BITS];

/* Root word i for a leaf at `leaf`, and the leaf of a root word. */
static inline uintptr_t pm_pagemap_root_word(size_t i, const void *leaf)
{
    return (uintptr_t)leaf - ((uintptr_t)i << (PM_PAGEMAP_LEAF_BITS + 3));
}
static inline _Atomic uintptr_t *pm_pagemap_leaf_of(size_t i, uintptr_t word)
{
    return word ? (_Atomic uintptr_t *)(word + ((uintptr_t)i << (PM_PAGEMAP_LEAF_BITS + 3))) : NULL;
}

/* Sets the entries of [addr, addr + npages pages) to value, plus step for
 * each page after the first (_step); 0 on success, ENOMEM if a leaf could
 * not be mapped. */
PM_INTERNAL int _pm_pagemap_set(const void *addr, size_t npages, uintptr_t value);
PM_INTERNAL int _pm_pagemap_set_step(const void *addr, size_t npages, uintptr_t value,
                                     uintptr_t step);
/* The leaf of root word i (for tests), or NULL. */
PM_INTERNAL _Atomic uintptr_t *_pm_pagemap_leaf_at(size_t i);
/* Tells helgrind and drd (base/vg.h) that the root is shared through atomics. */
PM_INTERNAL void _pm_pagemap_vg_init(void);

/* ---- the flat map ----
 * Where the kernel lets it (x86-64, no memcheck, helgrind or drd, the
 * reservation granted: pagemap.c, _pm_pagemap_init), the pages of a window
 * of 2^PM_FLAT_WINDOW_BITS bytes (16 TiB) around the place where the
 * kernel puts mappings have their entries instead in one array indexed by
 * page number (32 GiB reserved, pages made as entries are written, as
 * snmalloc's pagemap): a lookup is one load, with no root to read and
 * test.  Pages outside the window keep theirs in the two-level map; the
 * window is chosen once, at start-up, before any entry is written.
 * A pointer takes the fast lookup when (p - lo) & reject is 0: reject
 * holds the bits beyond the window and the low 3 (misaligned), and is ~0
 * before start-up and where there is no flat map, so that free's fast
 * path sends everything else out of line with one test (NULL alone passes
 * it then, and reads a zero word: pagemap.c, null_entry).  `entries` is the
 * array minus lo's page number (uintptr_t arithmetic: it wraps), so that
 * the lookup indexes it by p's page number.  Plain words, written once
 * before the process is marked initialised (as _pm_align_or). */
#define PM_FLAT_WINDOW_BITS 44
typedef struct pm_pagemap_fast_s {
    uintptr_t lo;                 /* the window's first byte */
    uintptr_t reject;
    uintptr_t entries;            /* the array - (lo >> PM_PAGE_SHIFT) words */
} pm_pagemap_fast_t;
PM_INTERNAL extern pm_pagemap_fast_t _pm_pagemap_fast;

/* Chooses the map (idempotent: the first caller decides, the others wait
 * for its choice).  Called before anything is mapped. */
PM_INTERNAL void _pm_pagemap_init(void);
/* The flat map's array (for tests): true and its place, or false. */
PM_INTERNAL bool _pm_pagemap_flat_range(void **addr, size_t *size);

/* Whether p takes the fast lookup: 8-aligned, in the flat map's window. */
static inline bool pm_pagemap_fast_takes(const void *p)
{
    return !(((uintptr_t)p - _pm_pagemap_fast.lo) & _pm_pagemap_fast.reject);
}

/* The flat map's entry of page number pn (in the window). */
static inline _Atomic uintptr_t *pm_pagemap_flat_entry(uintptr_t pn)
{
    return (_Atomic uintptr_t *)(_pm_pagemap_fast.entries + pn * sizeof(uintptr_t));
}

/* The entry of p's page, for p that pm_pagemap_fast_takes. */
static inline uintptr_t pm_pagemap_fast_get(const void *p)
{
    return atomic_load_explicit(pm_pagemap_flat_entry((uintptr_t)p >> PM_PAGE_SHIFT),
                                memory_order_acquire);
}

/* Whether address a has its entry in the flat map. */
static inline bool pm_pagemap_in_flat(uintptr_t a)
{
    return _pm_pagemap_fast.reject != ~(uintptr_t)0 &&
           !((a - _pm_pagemap_fast.lo) >> PM_FLAT_WINDOW_BITS);
}

/* _pm_pagemap_set_step, inline when the run's first and last pages take
 * the fast lookup (an arena's pages, nearly always): a pool's page cost
 * 57 instructions out of line, twice in its life (set, then cleared). */
static inline int pm_pagemap_set_run(const void *addr, size_t npages, uintptr_t value,
                                     uintptr_t step)
{
    const char *last = (const char *)addr + (npages - 1) * PM_PAGE_SIZE;
    if (pm_likely(pm_pagemap_fast_takes(addr) && pm_pagemap_fast_takes(last) &&
                  last >= (const char *)addr)) {
        _Atomic uintptr_t *e = pm_pagemap_flat_entry((uintptr_t)addr >> PM_PAGE_SHIFT);
        step = value ? step : 0;   /* clearing stores 0 throughout */
        for (size_t i = 0; i < npages; i++, value += step)
            atomic_store_explicit(&e[i], value, memory_order_release);
        return 0;
    }
    return _pm_pagemap_set_step(addr, npages, value, step);
}

/* The entry of p's page in the two-level map, for p below 2^PM_VA_BITS. */
static inline uintptr_t pm_pagemap_get_low(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uintptr_t word = atomic_load_explicit(
        &_pm_pagemap_root[a >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS)], memory_order_acquire);
    if (pm_unlikely(!word))
        return 0;
    return atomic_load_explicit((_Atomic uintptr_t *)(word + (a >> PM_PAGE_SHIFT) * sizeof(uintptr_t)),
                                memory_order_acquire);
}

/* The entry of any address (0 beyond the map's range), from either map. */
static inline uintptr_t pm_pagemap_get(const void *p)
{
    if (pm_pagemap_in_flat((uintptr_t)p))
        return pm_pagemap_fast_get(p);
    if (pm_unlikely((uintptr_t)p >> PM_VA_BITS))
        return 0;
    return pm_pagemap_get_low(p);
}

#endif
