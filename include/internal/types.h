/* types.h -- every internal structure of poolmalloc, in one place.
 *
 *   layer 2  gc/        (optional tagged objects; uses only the public API)
 *   layer 1  pools/     size classes, pools, thread heaps, the malloc API
 *   layer 0  arenas/    256 KiB arenas, the page map, the large path, the OS
 *   shim     preload/   exported malloc symbols, options, process lifecycle
 *
 * Memory picture:
 *
 *   arena (256 KiB, 256 KiB-aligned, mmap)
 *   +--------+--------+--------+-----+--------+
 *   | page 0 | pool 1 | pool 2 | ... | pool 63|   a pool is one 4 KiB page
 *   | header |        |        |     |        |
 *   +--------+--------+--------+-----+--------+
 *   pool (4 KiB): | header + live bitmap (128 B) | block | block | ... | slack |
 *
 * Every page of a pool in use has an entry in the page map (pagemap.c):
 * `pool | PM_PAGE_POOL`, every page of a medium span `descriptor |
 * PM_PAGE_SPAN`; the page holding a large allocation's first byte
 * has `record | PM_PAGE_LARGE`.  Any other address maps to 0: not ours.
 */
#ifndef PM_TYPES_H
#define PM_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arenas/os.h"

#define pm_likely(x) __builtin_expect(!!(x), 1)
#define pm_unlikely(x) __builtin_expect(!!(x), 0)
#define PM_INTERNAL __attribute__((visibility("hidden")))
#define PM_NOINLINE __attribute__((noinline))

/* Checks: PM_DEBUG=1 asserts arguments and states, PM_DEBUG=2 also walks
 * whole pools and spans to check their invariants (*_is_valid). */
#ifndef PM_DEBUG
#define PM_DEBUG 0
#endif
#define PM_STR2(x) #x
#define PM_STR(x) PM_STR2(x)
#if PM_DEBUG > 0
#define pm_assert(expr)                                                                     \
    ((expr) ? (void)0 : _pm_os_fatal("assertion failed: " #expr " at " __FILE__ ":" PM_STR(__LINE__)))
#else
#define pm_assert(expr) ((void)0)
#endif

/* Strict mode (CMake option POOLMALLOC_STRICT, the poolmalloc-strict test
 * library): the process runs in slow mode; every block that is freed is
 * filled with PM_FREE_JUNK except its link word, and the filling is checked
 * when the block is handed out again (a write after free aborts); new
 * blocks are filled with PM_ALLOC_JUNK; freed large blocks are unmapped at
 * once, so that touching one faults.  Costly; for finding bugs. */
#ifndef PM_STRICT
#define PM_STRICT 0
#endif
#define PM_ALLOC_JUNK 0xaa
#define PM_FREE_JUNK 0x55

/* ---- geometry ------------------------------------------------------------ */
#define PM_PAGE_SHIFT 12
#define PM_PAGE_SIZE ((size_t)1 << PM_PAGE_SHIFT)
#define PM_POOL_SIZE PM_PAGE_SIZE                  /* one pool = one page */
#define PM_ARENA_SHIFT 18
#define PM_ARENA_SIZE ((size_t)1 << PM_ARENA_SHIFT) /* 256 KiB */
#define PM_ARENA_PAGES (PM_ARENA_SIZE / PM_PAGE_SIZE)
#define PM_ARENA_POOLS (PM_ARENA_PAGES - 1)        /* page 0 holds the arena header */
#define PM_SMALL_MAX 512                           /* largest small request */
#define PM_CLASS_COUNT 64                          /* classes 8, 16, ..., 512 */
#define PM_CLASS_SPACING 8
#define PM_POOL_HEADER 128                         /* pool header + live bitmap */
#define PM_POOL_GRANULES (PM_POOL_SIZE / PM_CLASS_SPACING) /* 512: one bit each */
#define PM_ALIGN_SMALL_MAX PM_POOL_HEADER          /* small blocks can honour this */
#define PM_MEDIUM_MAX 16384                        /* largest medium request */
#define PM_MEDIUM_COUNT 20                         /* classes 640, 768, ..., 16384 */
#define PM_SPAN_MAX_PAGES 16

_Static_assert(PM_ARENA_PAGES == 64, "arena bookkeeping keeps one bit per page in a uint64_t");
_Static_assert(PM_CLASS_COUNT * PM_CLASS_SPACING == PM_SMALL_MAX,
               "size classes must cover exactly 1..PM_SMALL_MAX");
_Static_assert(PM_POOL_HEADER % 16 == 0, "blocks of 16-byte multiple classes must be 16-aligned");

/* Class of a small request: 0 and 1..8 -> 0, 9..16 -> 1, ..., 505..512 -> 63. */
static inline unsigned pm_class_of(size_t n) { return (unsigned)((n - (n != 0)) >> 3); }
static inline size_t pm_class_size(unsigned c) { return (size_t)(c + 1) * PM_CLASS_SPACING; }

typedef struct pm_block_s pm_block_t;
typedef struct pm_pool_s pm_pool_t;
typedef struct pm_arena_s pm_arena_t;
typedef struct pm_heap_s pm_heap_t;
typedef struct pm_large_s pm_large_t;
typedef struct pm_span_s pm_span_t;

/* A free block: its first word links the free list it is on, mangled
 * ("safe linking", as glibc 2.32 does for its tcache):
 *
 *     link = next ^ (address of the block) ^ _pm_secret
 *
 * _pm_secret is random per process (lifecycle.c), so a program that
 * overwrites a freed block (a stale pointer, a heap overflow from the block
 * before) cannot aim the next allocation somewhere of its choosing, and a
 * link it clobbered decodes to garbage that the pop catches:
 *   pools:  next must lie in the block's own page, 8-aligned (one test, see
 *           pm_pool_pop); a pool's list ends with the pool's own address,
 *           not NULL, so that even the last link passes the same test;
 *   spans:  next must be a block start of the span that is not out, or NULL;
 *   remote: next must be a block of a pool or span of the same heap, or NULL.
 * A failed check aborts: "malloc(): corrupted free list in pool 0x...". */
struct pm_block_s {
    uintptr_t link;
};

/* ---- pool (pools/pool.c) --------------------------------------------------
 * States (obmalloc's): a pool is USED (some blocks out, some free or not yet
 * carved: it is on its class's list in the owning heap), FULL (no block left:
 * off every list, it rejoins the list when a block comes back) or EMPTY (no
 * block out: returned to its arena, page map entry cleared).
 * `used` is the number of blocks out ("out") minus a bias chosen so that
 * free's fast path needs one test, used <= 0 after the decrement, to find
 * every event of the slow path: a listed pool emptied (bias 0), a FULL pool
 * with enough free blocks to rejoin its list (bias capacity - rejoin
 * count), never for the head of the list (bias -1, its pin) nor a pool with
 * nothing out (spare, fresh: bias PM_POOL_UNLISTED).  See pool.c.
 * Invariant: out + (blocks on `free`) +
 * (limit - bump) / size == capacity, and the live bit of a block's first
 * granule is 1 exactly while it is out. */
#define PM_POOL_UNLISTED (1 << 30)
struct pm_pool_s {
    pm_block_t *free;       /* freed blocks of this pool, ready for reuse (fast path); the
                               list ends with the pool's own address (empty: free == pool) */
    int32_t used;           /* out - bias: see below */
    uint16_t size_class;    /* 0..63 */
    uint16_t block_size;    /* pm_class_size(size_class) */
    /* Offsets, not pointers: the end of a pool's last block can be the first
     * block of the next page, and memcheck's leak check would take a pointer
     * to it for a reference (vg.h). */
    uint32_t bump;          /* offset of the next never-used block: carved on demand */
    uint32_t limit;         /* offset of the end of the last whole block */
    uint64_t reserved;      /* keeps the header at PM_POOL_HEADER bytes */
    pm_heap_t *heap;        /* owning heap; never changes while the pool is in use */
    pm_pool_t *next;        /* the class list of the heap (USED pools only) */
    pm_pool_t *prev;
    uint16_t capacity;      /* blocks that fit after the header */
    uint16_t listed;        /* 1 while on the heap's class list */
    int32_t bias;           /* out = used + bias (pool.c, pool_set_bias) */
    /* One bit per 8-byte granule of the pool; set while a block starting
     * there is allocated.  Written by the owner with relaxed atomics (plain
     * moves on x86-64), read by other threads to catch double frees early. */
    _Atomic uint64_t live[PM_POOL_GRANULES / 64];
};
_Static_assert(sizeof(pm_pool_t) == PM_POOL_HEADER, "pool header size");

/* ---- medium classes (pools/span.c) ----------------------------------------
 * Requests of 513..16384 bytes: four classes per doubling (640, 768, 896,
 * 1024, 1280, ..., 16384), at most 25% slack.  Class m has blocks of
 * (5 + m % 4) << (m / 4 + 7) bytes. */
static inline unsigned pm_medium_class_of(size_t n)
{
    unsigned t = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 9..13 */
    return (t - 9) * 4 + (unsigned)((n - 1) >> (t - 2)) - 4;
}
static inline size_t pm_medium_size(unsigned m) { return (size_t)(5 + m % 4) << (m / 4 + 7); }

/* ---- span (pools/span.c) ---------------------------------------------------
 * A span is 1..16 consecutive pages of an arena holding blocks of one medium
 * class.  Its descriptor is not in the span (a header would waste most of a
 * block) but in the arena's first page: the descriptor of the span that
 * starts at page p is at arena + 64 * p, the span at arena + 4096 * p.
 * States and invariant as for pools (used + free list + uncarved == capacity). */
struct pm_span_s {
    pm_block_t *free;       /* freed blocks, ready for reuse */
    uint32_t bump;          /* offset from the span's first byte of the next never-used
                               block (not a pointer: see pm_pool_s) */
    uint32_t reserved2;
    pm_heap_t *heap;        /* owner while in use */
    pm_span_t *next;        /* the heap's list for this medium class */
    pm_span_t *prev;
    uint16_t used;          /* blocks out */
    uint16_t capacity;      /* blocks in the span */
    uint8_t medium_class;   /* 0..19 */
    uint8_t listed;         /* on the heap's list */
    uint8_t pages;          /* span length */
    uint8_t reserved;
    _Atomic uint64_t live;  /* bit i set: block i is out (capacity <= 64) */
    uint32_t block_size;    /* pm_medium_size(medium_class) */
    uint32_t recip;         /* ceil(2^32 / block_size): offset -> index by multiply */
};
_Static_assert(sizeof(pm_span_t) == 64, "span descriptors are 64 bytes, one per arena page");

/* The first byte of span s: the descriptor of the span at page p of an
 * arena is at arena + 64 * p. */
static inline char *pm_span_base(const pm_span_t *s)
{
    uintptr_t a = (uintptr_t)s & ~(uintptr_t)(PM_ARENA_SIZE - 1);
    return (char *)(a + (((uintptr_t)s - a) / sizeof(pm_span_t)) * PM_PAGE_SIZE);
}

/* ---- arena (arenas/arena.c) -----------------------------------------------
 * Lives in the arena's first page, followed by the 63 span descriptors (one
 * per page; only the first page of a span uses its own).  Pages 1..63 are
 * pools or spans.  An arena belongs
 * to one heap, which keeps it on the list by_nfree[nfree] so that allocation
 * can prefer the fullest arena (CPython >= 2.5): emptier arenas drain and
 * can go back to the OS.  Invariant: nfree == popcount(free_pages). */
struct pm_arena_s {
    uint64_t free_pages;    /* bit i set: page i is not a pool in use (bit 0 always clear) */
    uint32_t nfree;         /* number of free pages */
    uint32_t magic;         /* PM_ARENA_MAGIC while mapped */
    pm_heap_t *heap;        /* owner, NULL while in the global reserve */
    pm_arena_t *next;       /* heap->by_nfree[nfree] list, or the reserve (towards older) */
    pm_arena_t *prev;       /* ... (towards newer) */
    uint64_t clean_pages;   /* free pages already given back with madvise (subset of free_pages) */
    uint64_t empty_since_ms; /* in the reserve: when it joined */
};
#define PM_ARENA_MAGIC 0x504d4152u /* "PMAR" */
_Static_assert(sizeof(pm_arena_t) <= 64, "the arena header shares page 0 with 63 span descriptors");

/* ---- thread heap (pools/heap.c) -------------------------------------------
 * Each running thread owns one heap: its pools and arenas.  The owner reads
 * and writes everything without locks.  Other threads only push freed blocks
 * onto `xthread_free`.  When the thread exits, the heap becomes ABANDONED:
 * from then on `lock` guards it, and other threads free into it directly,
 * until a new thread adopts it whole.  Heaps are never unmapped. */
enum { PM_HEAP_LIVE = 1, PM_HEAP_ABANDONED = 2, PM_HEAP_ZOMBIE = 3 };

struct pm_heap_s {
    pm_pool_t *pools[PM_CLASS_COUNT];  /* per class: the pool to allocate from, or the
                                          empty sentinel pool; fast path field first */
    pm_span_t *spans[PM_MEDIUM_COUNT]; /* per medium class: span to allocate from, or
                                          the empty sentinel span */
    pm_pool_t *spare_pools[PM_CLASS_COUNT]; /* per class: an EMPTY pool kept off the list */
    _Atomic(pm_block_t *) xthread_free; /* blocks freed by other threads (Treiber stack) */
    _Atomic int state;                 /* PM_HEAP_* */
    pthread_mutex_t lock;              /* held by whoever works on an ABANDONED heap */
    pm_arena_t *by_nfree[PM_ARENA_PAGES]; /* arenas by free page count */
    uint64_t arenas_with_free;         /* bit n set: by_nfree[n] non-empty */
    pm_heap_t *next_all;               /* every heap ever made (pm_heaps_all) */
    pm_heap_t *next_abandoned;         /* the abandoned stack */
    uint64_t id;                       /* for messages and tests */
};

/* Sentinel pool that every empty class list points to: its free list is
 * always NULL, which the fast path takes for an empty list (page offset 0,
 * like a real pool's end of list), so it needs no NULL check on the pool. */
PM_INTERNAL extern pm_pool_t _pm_empty_pool;
PM_INTERNAL extern pm_span_t _pm_empty_span;

/* Values of the thread's heap pointer besides a real heap. */
#define PM_HEAP_NONE ((pm_heap_t *)0)  /* thread has not allocated yet */
#define PM_HEAP_DEAD ((pm_heap_t *)1)  /* thread is exiting: heap handed over */
/* The value of the fast-path route (_pm_tls_fast) while the inline fast
 * paths must not run: before the thread's first allocation, after its exit,
 * and in slow mode.  No pool has this owner, so free's ownership test fails
 * too and sends the block to the out-of-line path. */
PM_INTERNAL extern pm_heap_t _pm_route_heap;   /* heap.c: every class list empty */
#define PM_ROUTE_GENERIC (&_pm_route_heap)

/* ---- large path (arenas/large.c) ------------------------------------------
 * A request over PM_MEDIUM_MAX bytes gets its own mapping.  Its record is
 * allocator metadata (arenas/meta.c), not in the mapping (so the mapping is
 * exactly whole pages and a pointer's page finds the record through the
 * page map) and never in memory a program block is carved from.  Freed mappings stay
 * in a cache, most recent first, until reused, evicted by the byte bound, or
 * unused for the decay time. */
struct pm_large_s {
    uint64_t magic;         /* PM_LARGE_LIVE or PM_LARGE_CACHED */
    uintptr_t user_x;       /* pointer handed out, mangled (large.c, rec_user) */
    uintptr_t base_x;       /* start of the mapping, mangled (rec_base) */
    size_t map_size;        /* bytes mapped */
    size_t size;            /* bytes requested */
    pm_large_t *next;       /* cache list (cached records only) */
    pm_large_t *prev;
    uint64_t freed_ms;      /* when it entered the cache */
};
#define PM_LARGE_LIVE 0x4c41524745u   /* "LARGE" */
#define PM_LARGE_CACHED 0x4341434845u /* "CACHE" */

/* ---- page map (arenas/pagemap.c) ------------------------------------------
 * Two-level radix tree over 48-bit addresses at page granularity. */
#define PM_PAGE_POOL ((uintptr_t)1)
#define PM_PAGE_LARGE ((uintptr_t)2)
#define PM_PAGE_SPAN ((uintptr_t)4)
#define PM_PAGE_TAGS ((uintptr_t)7)
#define PM_VA_BITS 48
#define PM_PAGEMAP_LEAF_BITS 18
#define PM_PAGEMAP_ROOT_BITS (PM_VA_BITS - PM_PAGE_SHIFT - PM_PAGEMAP_LEAF_BITS)

PM_INTERNAL extern _Atomic(_Atomic uintptr_t *) _pm_pagemap_root[(size_t)1 << PM_PAGEMAP_ROOT_BITS];

/* ---- two fast-path primitives GCC does not fuse on its own ---- */

/* Clears bit (g mod 64) of *w and returns whether it was set. */
static inline bool pm_bit_take(uint64_t *w, uint64_t g)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
    bool was;
    __asm__("btrq %2, %0" : "+r"(*w), "=@ccc"(was) : "r"(g));
    return was;
#else
    uint64_t bit = (uint64_t)1 << (g & 63);
    bool was = (*w & bit) != 0;
    *w &= ~bit;
    return was;
#endif
}

/* Decrements *n and returns whether it is now <= 0. */
static inline bool pm_dec_le0(int32_t *n)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
    bool le;
    __asm__("decl %0" : "+m"(*n), "=@ccle"(le));
    return le;
#else
    return --*n <= 0;
#endif
}

/* The entry of p's page, for p below 2^PM_VA_BITS. */
static inline uintptr_t pm_pagemap_get_low(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    _Atomic uintptr_t *leaf = atomic_load_explicit(
        &_pm_pagemap_root[a >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS)], memory_order_acquire);
    if (pm_unlikely(!leaf))
        return 0;
    return atomic_load_explicit(
        &leaf[(a >> PM_PAGE_SHIFT) & (((uintptr_t)1 << PM_PAGEMAP_LEAF_BITS) - 1)],
        memory_order_acquire);
}

static inline uintptr_t pm_pagemap_get(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (pm_unlikely(a >> PM_VA_BITS))
        return 0;
    _Atomic uintptr_t *leaf = atomic_load_explicit(
        &_pm_pagemap_root[a >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS)], memory_order_acquire);
    if (pm_unlikely(!leaf))
        return 0;
    return atomic_load_explicit(
        &leaf[(a >> PM_PAGE_SHIFT) & (((uintptr_t)1 << PM_PAGEMAP_LEAF_BITS) - 1)],
        memory_order_acquire);
}

/* ---- slow mode --------------------------------------------------------------
 * The inline fast paths (internal.h) do no bookkeeping beyond the free lists.
 * Anything else done per call -- per-class statistics, valgrind client
 * requests, strict checking -- puts the process in slow mode: _pm_slow is
 * non-zero, every thread's fast-path route (_pm_tls_fast) is
 * PM_ROUTE_GENERIC, and malloc and free of every size go through the
 * out-of-line paths, which call the hooks in pools/slow.c.  The fast paths
 * therefore test no flag at all.  Bits: */
#define PM_SLOW_STATS 1u    /* PM_OPTION_STATS: per-class counters (can change at run time) */
#define PM_SLOW_VALGRIND 2u /* running under valgrind: client requests (set once, at start-up) */
#define PM_SLOW_STRICT 4u   /* POOLMALLOC_STRICT build: fill freed blocks, check them on reuse */
PM_INTERNAL extern unsigned _pm_slow;

/* ---- minimum alignment (POOLMALLOC_MIN_ALIGN) -------------------------------
 * 0, or PM_CLASS_SPACING when every malloc of more than 8 bytes must be
 * 16-aligned.  malloc ors it into size - 1 before taking the class
 * (pm_request_class): the class index becomes odd, so the block size is a
 * multiple of 16, and blocks of such classes are 16-aligned (the pool
 * header is 128 bytes; medium blocks are multiples of 128, large ones whole
 * pages).  One instruction on the fast path; set at start-up or by
 * pm_option_set (options.c). */
PM_INTERNAL extern uintptr_t _pm_align_or;

/* ---- options and statistics ----------------------------------------------- */

typedef struct pm_class_counters_s {
    _Atomic uint64_t allocs, frees, current, peak;
} pm_class_counters_t;
PM_INTERNAL extern pm_class_counters_t _pm_class_counters[PM_CLASS_COUNT + PM_MEDIUM_COUNT];

typedef struct pm_global_counters_s {
    _Atomic uint64_t arenas_mapped, arenas_released, arenas_reserved, pools_live, spans_live;
    _Atomic uint64_t span_pages_live;   /* pages of the live spans (span.c) */
    _Atomic uint64_t large_allocs, large_frees, large_hits, large_misses, large_released;
    _Atomic uint64_t large_live_bytes, large_cached_bytes, large_cached_count;
    _Atomic uint64_t heaps_live, heaps_abandoned;
    _Atomic uint64_t meta_bytes;   /* mapped for allocator records (arenas/meta.c) */
} pm_global_counters_t;
PM_INTERNAL extern pm_global_counters_t _pm_counters;

#endif
