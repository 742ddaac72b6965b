/* pools.h -- floor 2: size classes, pools, medium spans, thread heaps, the
 * malloc API and its inline fast paths.  Uses base/ and arenas/ only.
 *
 * Memory picture:
 *
 *   pool (one arena page, 4 KiB): | block | block | ... | block | slack |
 *   span (1..16 arena pages):     | block | block | ... |
 *   Their headers (pm_pool_t, pm_span_t) are out of band, in the arena's
 *   descriptor slots (arenas/arenas.h): a program's write off the end of a
 *   block reaches other blocks, never the allocator's state.
 *
 * Every page of a pool in use has an entry in the page map: `pool |
 * PM_PAGE_POOL`, every page of a medium span `its own slot | PM_PAGE_SPAN`
 * with its index in the span (pm_entry_span);
 * the page holding a large allocation's first byte has `record |
 * PM_PAGE_LARGE` (arenas/large.c).
 */
#ifndef PM_POOLS_H
#define PM_POOLS_H

#include "arenas/arenas.h"

/* ---- geometry ------------------------------------------------------------ */
#define PM_POOL_SIZE PM_PAGE_SIZE                  /* one pool = one page */
#define PM_SMALL_MAX 512                           /* largest small request */
#define PM_CLASS_COUNT 64                          /* classes 8, 16, ..., 512 */
#define PM_CLASS_SPACING 8
#define PM_POOL_GRANULES (PM_POOL_SIZE / PM_CLASS_SPACING) /* 512: one bit each */
#define PM_ALIGN_SMALL_MAX PM_SMALL_MAX            /* block k of size n is at page + k * n */
#define PM_MEDIUM_MAX 16384                        /* largest medium request */
#define PM_MEDIUM_COUNT 44                         /* classes 576, 640, ..., 16384 */
#define PM_SLOT_LIVE 24                            /* a page's live words in its slot */

_Static_assert(PM_CLASS_COUNT * PM_CLASS_SPACING == PM_SMALL_MAX,
               "size classes must cover exactly 1..PM_SMALL_MAX");
_Static_assert(PM_CLASS_SPACING == 8, "_pm_align_or (base.h) makes a class odd by or-ing 8");

/* Class of a small request: 0 and 1..8 -> 0, 9..16 -> 1, ..., 505..512 -> 63. */
static inline unsigned pm_class_of(size_t n) { return (unsigned)((n - (n != 0)) >> 3); }
static inline size_t pm_class_size(unsigned c) { return (size_t)(c + 1) * PM_CLASS_SPACING; }

typedef struct pm_block_s pm_block_t;
typedef struct pm_pool_s pm_pool_t;
typedef struct pm_heap_s pm_heap_t;
typedef struct pm_span_s pm_span_t;

/* A free block: its first word links the free list it is on, mangled
 * ("safe linking", as glibc 2.32 does for its tcache, plus a multiply):
 *
 *     link = ((next ^ (address of the block)) * mul) ^ secret   (mod 2^64)
 *
 * The keys are random per process (base/base.h, _pm_keys), so a program
 * that overwrites a freed block (a stale pointer, a heap overflow from the
 * block before) cannot aim the next allocation somewhere of its choosing,
 * and a link it clobbered decodes to garbage that the pop catches.  The
 * multiply by an odd number spreads a change to any byte of the word over
 * all the bits above it in the decoded value, where the checks below want
 * zeros: a one-byte write anywhere in a link is caught, not just one that
 * hits the high bytes (tests/unit/unit_link.c counts them; glibc's plain
 * xor lets 1 in 8 changes of the low byte through).  A block handed out
 * never holds a link: the allocation clears it, so no key can be read back
 * from a block.
 *   pools:  next must lie in the block's own page, 8-aligned (one test, see
 *           pm_pool_pop); a pool's list ends with its page's address + 1
 *           (pm_pool_end), not NULL, so that even the last link passes the
 *           same test;
 *   spans:  next must be a block start of the span that is not out, or NULL;
 *   remote: next must be a block of a pool or span of the same heap, or NULL.
 * A failed check aborts: "malloc(): corrupted free list in pool 0x...". */
struct pm_block_s {
    uintptr_t link;
};

/* ---- pool (pools/pool.c) --------------------------------------------------
 * The header of a pool is not in its page but in the arena's descriptor
 * slot for the page (arenas.h, pm_arena_slot): the page is all blocks,
 * block k at page + k * block_size.
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
    /* First cache line: all that malloc's and free's fast paths touch for
     * a block whose live word is 0-4 (granule % 8 < 5: every block of a
     * class of 32 or 64 bytes or a multiple of 64, 3/4 of those of 16 or
     * 48, 5/8 of the others); words 5-7 start the second line. */
    pm_block_t *free;       /* freed blocks of this pool, ready for reuse (fast path); the
                               list ends with pm_pool_end (empty: free == pm_pool_end) */
    int32_t used;           /* out - bias: see below */
    uint16_t size_class;    /* 0..63 */
    uint16_t block_size;    /* pm_class_size(size_class) */
    pm_heap_t *heap;        /* owning heap; never changes while the pool is in use */
    /* One bit per 8-byte granule of the pool; set while a block starting
     * there is allocated.  Written by the owner with relaxed atomics (plain
     * moves on x86-64), read by other threads to catch double frees early. */
    _Atomic uint64_t live[PM_POOL_GRANULES / 64];
    /* The slow paths'. */
    /* Offsets from the page, not pointers: the end of a pool's last block
     * can be the first block of the next page, and memcheck's leak check
     * would take a pointer to it for a reference (vg.h). */
    uint32_t bump;          /* offset of the next never-used block: carved on demand */
    uint32_t limit;         /* offset of the end of the last whole block */
    pm_pool_t *next;        /* the class list of the heap (USED pools only) */
    pm_pool_t *prev;
    uint16_t capacity;      /* blocks that fit in the page */
    uint16_t listed;        /* 1 while on the heap's class list */
    int32_t bias;           /* out = used + bias (pool.c, pool_set_bias) */
    uint32_t run_spare;     /* 1 while it waits, never touched, as a spare of a run
                               (pool.c, pool_new): not in pools_live nor spare_pool_count */
    uint32_t reserved;      /* keeps the header at PM_ARENA_SLOT bytes */
};
_Static_assert(sizeof(pm_pool_t) == PM_ARENA_SLOT, "a pool header fills its slot");
_Static_assert(offsetof(pm_pool_t, live) + 5 * sizeof(uint64_t) == 64,
               "the fast paths' fields and live words 0-4 fill the first cache line");
_Static_assert(offsetof(pm_pool_t, live) == PM_SLOT_LIVE, "a pool's live words are its page's");

/* The pool of a page-map entry with PM_PAGE_POOL, and its class: the entry
 * is pool | PM_PAGE_POOL | pm_entry_info(class) (pool.c), so that free
 * finds the class without waiting for the pool's header.  The info byte
 * is the thread-cache class plus 1 (spans: the same, pm_span_s): 0 is
 * every other page's (large, not ours), whose thread-cache stack
 * (pm_heap_s, tc_top_none) is always over its limit, so that free's fast
 * path reaches its full-stack branch for them without a test of its own
 * (pm_tc_push). */
static inline uintptr_t pm_entry_info(size_t tc_class)
{
    return (uintptr_t)(tc_class + 1) << PM_PAGE_INFO_SHIFT;
}
static inline pm_pool_t *pm_entry_pool(uintptr_t entry) { return (pm_pool_t *)(entry & ~PM_PAGE_TAGS); }
static inline size_t pm_entry_class(uintptr_t entry) { return (entry >> PM_PAGE_INFO_SHIFT) - 1; }

/* The page of a pool, and the pool of a page. */
static inline char *pm_pool_page(const pm_pool_t *pool) { return pm_arena_slot_page(pool); }
static inline pm_pool_t *pm_pool_of_page(const void *page) { return pm_arena_slot(page); }

/* ---- live words (pools and spans) ----
 * The descriptor slot of every page of a pool or span (arenas.h,
 * pm_arena_slot) holds, at PM_SLOT_LIVE, the page's live bitmap: one bit
 * for each of its 512 8-byte granules, set exactly while a block starting
 * there is out (allocated, or waiting in a thread cache).  A pool's slot is
 * its header; a span's first page's slot is its descriptor, whose fields
 * leave the bitmap's place free, and its other pages' slots hold nothing
 * else.  One test therefore answers "is p a block start that is out?" for
 * both kinds, from p alone: free's fast path makes it without asking which
 * kind p's page is (a mix of small and medium sizes made that question a
 * coin toss).  Medium blocks start on 64-byte boundaries (their sizes are
 * multiples of 64, spans start on a page), so a span page uses word 0
 * alone and its words 1-7 stay zero: an 8-aligned pointer that is not a
 * block start finds its bit clear in either kind (one off by 1..7 bytes
 * finds its block's: every test asks for 8-alignment first).
 * Granule g = (b >> 3) & 511 is bit g / 8 of word g % 8: the word's byte
 * offset is b & 0x38 and its bit (b >> 6) & 63, one and and one shift (the
 * shift count of bts/btr takes only the low 6 bits), where word g / 64 and
 * bit g % 64 took two shifts and an and.  A class whose size is a multiple
 * of 64 bytes uses word 0 alone; 32 bytes words 0 and 4.
 * Written by the owner with relaxed atomics (plain moves on x86-64), read
 * by other threads to catch double frees early. */
static inline unsigned pm_live_index(const void *b) { return (unsigned)((uintptr_t)b >> 3) & 7; }

/* The live word of block start b in slot, the descriptor slot of b's page. */
static inline _Atomic uint64_t *pm_slot_live_word(void *slot, const void *b)
{
    /* as a byte offset: GCC does not always fold the index's shift and and
     * into one and */
    return (_Atomic uint64_t *)((char *)slot + PM_SLOT_LIVE + ((uintptr_t)b & 0x38));
}

static inline _Atomic uint64_t *pm_live_word(pm_pool_t *pool, const void *b)
{
    return pm_slot_live_word(pool, b);
}

/* The same for b in any page of a pool or span. */
static inline _Atomic uint64_t *pm_page_live_word(const void *b)
{
    return pm_slot_live_word(pm_arena_slot(b), b);
}

static inline uint64_t pm_live_bit(const void *b)
{
    return (uint64_t)1 << (((uintptr_t)b >> 6) & 63);
}

static inline void pm_live_word_set(_Atomic uint64_t *w, const void *b)
{
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | pm_live_bit(b),
                          memory_order_relaxed);
}

static inline void pm_live_set(pm_pool_t *pool, const void *b)
{
    pm_live_word_set(pm_live_word(pool, b), b);
}

/* Whether b, in a page of a pool or span, is a block start that is out.
 * The 8-alignment test is part of it: b + 1..7 finds its block's bit. */
static inline bool pm_block_out(const void *b)
{
    return !((uintptr_t)b & 7) &&
           (atomic_load_explicit(pm_page_live_word(b), memory_order_relaxed) & pm_live_bit(b)) != 0;
}

/* ---- medium classes (pools/span.c) ----------------------------------------
 * Requests of 513..16384 bytes: eight classes per doubling (576, 640, 704,
 * ..., 1024, 1152, 1280, ..., 16384), at most 12.5% slack: programs that
 * ask for a power of two plus a small header (sqlite: 1032, 4104 and 4368
 * bytes) would lose up to 25% of their memory to four classes per doubling.
 * And one class 64 bytes above each power of two from 1024 to 8192 (1088,
 * 2112, 4160, 8256), where those requests fall: sqlite's 1032- and
 * 4104-byte blocks (its page cache's buffers and pages with its 8-byte
 * size header) lost 11.6% and 12.3% to 1152 and 4608, 5.4% and 1.4% now
 * (bench/compare's sqlite: peak RSS 83.0 -> 81.0 MB, glibc 69).  Every
 * class is a multiple of 64 bytes (its blocks 64-aligned in their span,
 * and the tc table's 64-byte groups agree).  Group t (a request of
 * 2^t + 1 .. 2^(t+1) bytes, t = 9..13) has classes (9..16) << (t - 3), and
 * for t >= 10 the class 2^t + 64 before them.  span.c's MC_OF is the same
 * formula for the table's initialiser; unit_sizeclass checks that they
 * agree for every request. */
static inline unsigned pm_medium_class_of(size_t n)
{
    unsigned t = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 9..13 */
    unsigned eighths = (t - 9) * 8 + (unsigned)((n - 1) >> (t - 3)) - 8;   /* without 2^t + 64 */
    return eighths + (t - 9) - (t >= 10 && n <= ((size_t)1 << t) + 64);
}
/* Medium ranges, as the small ones (pm_class_range): a medium request
 * first gets a block of its range's host, the power of two at the top of
 * its doubling (513..1024, 1025..2048, ..., 8193..16384 bytes: classes
 * 7, 16, 25, 34 and 43), until a heap holds more than
 * PM_MEDIUM_SPLIT_SPANS spans of that host (spans double: 23 to 64 pages
 * of them); then the range is split for the whole process and each class
 * serves its own requests (_pm_medium_split, from span.c's span_new).  A
 * heap that uses many medium sizes a little keeps a span for each of 5
 * ranges instead of one for each of 44 classes: mimalloc-bench's
 * espresso, whose medium classes' peaks added up to 650 KB for 440 KB of
 * blocks in use at once, peak RSS 3.36 -> 2.83 MB (glibc 2.34); rptestN
 * 18.3 -> 16.0 MB; mstressN, whose blocks take the hosts' before its
 * ranges split, 11.8 -> 12.2-12.5 MB.  A block of a range's host wastes up
 * to half of itself, but pages of it never written stay unbacked, and
 * only until the split. */
#define PM_MEDIUM_SPLIT_SPANS 4
static inline unsigned pm_medium_range(unsigned m)
{
    return m < 8 ? 7 : m < 17 ? 16 : m < 26 ? 25 : m < 35 ? 34 : 43;
}
PM_INTERNAL extern _Atomic uint64_t _pm_medium_ranges_split;   /* bit r: range host r's range */
static inline bool pm_medium_range_split_done(unsigned range)
{
    return atomic_load_explicit(&_pm_medium_ranges_split, memory_order_relaxed) >> range & 1;
}
/* The medium class whose blocks serve medium class m's requests now. */
static inline unsigned pm_medium_serving(unsigned m)
{
    return pm_medium_range_split_done(pm_medium_range(m)) ? m : pm_medium_range(m);
}
PM_INTERNAL void _pm_medium_split(unsigned range);   /* span.c; idempotent */
/* Medium class m's block size: a table (span.c, MS_OF: the classes of
 * group t above), one load; unit_sizeclass checks each size against
 * pm_medium_class_of. */
PM_INTERNAL extern const uint16_t _pm_medium_sizes[PM_MEDIUM_COUNT];
static inline size_t pm_medium_size(unsigned m) { return _pm_medium_sizes[m]; }
/* Whether every block of medium class m is aligned to align (a power of
 * two up to a page): a span starts at a page, so a block is aligned to the
 * largest power of two that divides its class's size, up to a page (every
 * class to 64, the 4096-byte one to a page). */
static inline bool pm_medium_aligned_to(unsigned m, size_t align)
{
    return !(pm_medium_size(m) & (align - 1));
}

/* ---- span (pools/span.c) ---------------------------------------------------
 * A span is 1..16 consecutive pages of an arena holding blocks of one medium
 * class.  Its descriptor is not in the span (a header would waste most of a
 * block) but in the arena's descriptor slot of the span's first page
 * (arenas.h, pm_arena_slot), as a pool's header is.
 * States, invariant and the encoding of `used` are the pools' (pm_pool_s):
 * USED, FULL, EMPTY; used = out - bias, with bias -1 for the head of its
 * class list (the pin), 0 for another listed span, capacity - rejoin for a
 * FULL one (it rejoins its list when 1/8 of it is free), so that free's fast path
 * takes the slow path exactly when used drops to 0 or below; and out +
 * (blocks on `free`) + uncarved == capacity. */
struct pm_span_s {
    /* What the inline fast paths read and write: the first 24 bytes, at
     * the pools' offsets (pm_entry_heap), then the first page's live words. */
    pm_block_t *free;       /* freed blocks, ready for reuse */
    int32_t used;           /* out - bias */
    uint32_t granules;      /* pages * PM_PAGE_SIZE / 8: the pop's bound (pm_medium_pop) */
    pm_heap_t *heap;        /* owner while in use */
    /* The live words of the span's first page (pm_slot_live_word): its
     * blocks' live bits are in their own pages' slots. */
    _Atomic uint64_t page_live[PM_POOL_GRANULES / 64];
    /* The slow paths'. */
    uint32_t block_size;    /* pm_medium_size(medium_class) */
    uint32_t recip;         /* ceil(2^32 / block_size): offset -> index by multiply */
    uint8_t capacity;       /* blocks in the span (<= 64) */
    uint8_t medium_class;   /* 0..39 */
    uint8_t listed;         /* on the heap's list */
    uint8_t pages;          /* span length */
    uint32_t bump;          /* offset from the span's first byte of the next never-used
                               block (not a pointer: see pm_pool_s) */
    int32_t bias;           /* out = used + bias (span.c, span_set_bias) */
    uint8_t probe;          /* its pages were all clean when taken and faulted in by the
                               program alone: how many it wrote is read when it first
                               goes FULL (span.c, span_probe) */
    pm_span_t *next;        /* the heap's list for this medium class */
    pm_span_t *prev;
};
_Static_assert(offsetof(pm_span_t, page_live) == PM_SLOT_LIVE,
               "a span's live words are its first page's");
_Static_assert(offsetof(pm_span_t, heap) == offsetof(pm_pool_t, heap) &&
               offsetof(pm_span_t, free) == offsetof(pm_pool_t, free),
               "pools and spans keep their owner and list at one place");
_Static_assert(sizeof(pm_span_t) <= PM_ARENA_SLOT, "a span descriptor fits its slot");

/* A span's page-map entries: page k of span s has
 *     (slot of page k) | PM_PAGE_SPAN | k << PM_SPAN_PAGE_SHIFT
 *                      | pm_entry_info(PM_CLASS_COUNT + medium class),
 * so that the pointer in every entry of a pool or span is its own page's
 * slot (pm_entry_slot: free's fast path reads the live word there), and
 * the descriptor is k slots before it (no load). */
#define PM_SPAN_PAGE_SHIFT PM_VA_BITS
_Static_assert(PM_SPAN_PAGE_SHIFT + 8 <= PM_PAGE_INFO_SHIFT, "page index below the class");
static inline void *pm_entry_slot(uintptr_t entry) { return (void *)(entry & ~PM_PAGE_TAGS); }
static inline pm_span_t *pm_entry_span(uintptr_t entry)
{
    return (pm_span_t *)((entry & ~PM_PAGE_TAGS) -
                         ((entry >> PM_SPAN_PAGE_SHIFT) & 0xff) * PM_ARENA_SLOT);
}

/* The first byte of span s, from its slot's address (no load). */
static inline char *pm_span_base(const pm_span_t *s) { return pm_arena_slot_page(s); }

/* The thread-cache class (pm_heap_s, tc_top) of every request of 1..16384
 * bytes by one table, indexed by (n - 1) / 8: small class c is c, medium
 * class m is PM_CLASS_COUNT + m, so that malloc's fast path takes the
 * cache's pop for both without a test of which (a mix of sizes around 512
 * made that test a coin toss: one mispredicted jump per malloc).  Every
 * medium boundary is a multiple of 64 bytes, so the 8 entries of a 64-byte
 * group agree (span.c fills the table from pm_medium_class_of;
 * unit_sizeclass checks it). */
PM_INTERNAL extern _Atomic uint8_t _pm_tc_classes[PM_MEDIUM_MAX / 8];
static inline size_t pm_tc_class_at(size_t i)
{
    return atomic_load_explicit(&_pm_tc_classes[i], memory_order_relaxed);
}
static inline unsigned pm_medium_class_fast(size_t n)
{
    return (unsigned)pm_tc_class_at((n - 1) >> 3) - PM_CLASS_COUNT;
}

/* Ranges, hosts and their groups.  Above 64 bytes, a request first gets a
 * block of its range's host, the largest class of its range (65..128,
 * 129..256 or 257..512 bytes); once the range is split, a block of its
 * host class, the next multiple of 16 bytes (65..256) or 32 bytes
 * (257..512); once that host's group is split, its own class's.  A heap
 * that uses the sizes over 64 bytes a little then keeps a pool for each of
 * 3 ranges where it kept one for each of 20 hosts (and, before hosts, 56
 * classes).  Hosts took mimalloc-bench's glibc-thread 2.48 -> 2.33 MB and
 * espresso 3.46 -> 3.37 MB of peak RSS, at the cost of at most 15 or 31
 * bytes of a block; ranges took pm_bench's start-up (google benchmark's
 * and libstdc++'s blocks of a few dozen sizes) from 24 pools to 15, and
 * its fixed-size rows' peak RSS 4.21 -> 4.17 MB (glibc's 3.98).  A range
 * costs up to half a block, but only until a heap holds
 * PM_CLASS_SPLIT_POOLS pools of its host, a range the program uses much:
 * then the range is split for the whole process, and in the same way each
 * host's group once a heap holds that many of the host's pools, each class
 * of it serving its own requests from then on (_pm_class_split, from
 * pool.c's pool_new).  The pages that costs are few against the pools
 * already held, and a heap whose blocks of the range have one class each
 * is faster when they churn (random_mix, 1024 blocks of 8..512 bytes:
 * 4.58 ns unsplit, 4.75 with groups split at 32 pools, 4.61 at 8).  A
 * host's block is freed as any other (its page says its class). */
#define PM_CLASS_SPLIT_POOLS 8
static inline unsigned pm_class_range(unsigned c)
{
    return c < 8 ? c : c < 16 ? 15 : c < 32 ? 31 : 63;
}
static inline unsigned pm_class_host(unsigned c)
{
    return c < 8 ? c : c < 32 ? (c | 1) : (c | 3);
}
PM_INTERNAL extern _Atomic uint64_t _pm_classes_split;   /* bit h: host h's group is split */
PM_INTERNAL extern _Atomic uint64_t _pm_ranges_split;    /* bit r: range host r's range is */
static inline bool pm_class_split_done(unsigned host)
{
    return atomic_load_explicit(&_pm_classes_split, memory_order_relaxed) >> host & 1;
}
static inline bool pm_range_split_done(unsigned range)
{
    return atomic_load_explicit(&_pm_ranges_split, memory_order_relaxed) >> range & 1;
}
/* The class whose blocks serve small class c's requests now. */
static inline unsigned pm_class_serving(unsigned c)
{
    return c < 8 ? c
           : !pm_range_split_done(pm_class_range(c)) ? pm_class_range(c)
           : !pm_class_split_done(pm_class_host(c))  ? pm_class_host(c)
                                                     : c;
}
/* How many classes small class c serves: now, and at most (its range's 8,
 * 16 or 32 while it hosts a whole range, its group's 2 or 4 while it hosts
 * a whole group, else 1). */
static inline unsigned pm_class_range_size(unsigned c) { return (c + 1) / 2; }   /* 8, 16, 32 */
static inline unsigned pm_class_group_size(unsigned c) { return c < 32 ? 2 : 4; }
static inline unsigned pm_class_serves(unsigned c)
{
    if (c < 8)
        return 1;
    if (!pm_range_split_done(pm_class_range(c)))
        return pm_class_range(c) == c ? pm_class_range_size(c) : 1;
    if (!pm_class_split_done(pm_class_host(c)))
        return pm_class_host(c) == c ? pm_class_group_size(c) : 1;
    return 1;
}
static inline unsigned pm_class_serves_most(unsigned c)
{
    return c < 8                  ? 1
           : pm_class_range(c) == c ? pm_class_range_size(c)
           : pm_class_host(c) == c  ? pm_class_group_size(c)
                                    : 1;
}
/* Splits what small class c serves now, its range or its host's group
 * (pm_class_serves(c) > 1). */
PM_INTERNAL void _pm_class_split(unsigned c);   /* span.c; idempotent */
/* Rewrites the small entries of _pm_tc_classes (span.c) from the ranges
 * and groups split so far and POOLMALLOC_MIN_ALIGN: with 16, every small
 * entry is odd (its blocks 16-aligned), so that malloc's lookup needs no
 * or of _pm_align_or (base.h).  At start-up, when the option is set, and
 * at each split. */
PM_INTERNAL void _pm_tc_classes_align(void);

/* What a heap keeps EMPTY for reuse: the pages of spare spans (span.c,
 * span_emptied), 1 MiB (a batch of 64 blocks of 16 KiB), and spare pools
 * (pool.c, pool_emptied).  An arena whose pages in use are all spares gives
 * them back (arenas.h, _pm_arena_idle_after; pm_heap_release_idle), but for
 * the spare spans of a class that takes its spares back; the heap gives
 * back all its spare spans before it takes a new arena. */
#define PM_SPARE_SPAN_PAGES 256
#define PM_SPARE_POOLS 16

/* ---- thread heap (pools/heap.c) -------------------------------------------
 * Each running thread owns one heap: its pools and arenas.  The owner reads
 * and writes everything without locks.  Other threads only push freed blocks
 * onto `xthread_free`.  When the thread exits, the heap becomes ABANDONED:
 * from then on `lock` guards it, and other threads free into it directly,
 * until a new thread adopts it whole.  Heaps are never unmapped. */
enum { PM_HEAP_LIVE = 1, PM_HEAP_ABANDONED = 2, PM_HEAP_ZOMBIE = 3 };

/* A batch of blocks that one thread freed for another heap (heap.c): an
 * allocator record, never in a program's pages.  Pushed whole onto the
 * owner's xthread_batches stack, so the owner reads the blocks' addresses
 * from an array instead of following one link per block. */
/* 61 blocks a record: one CAS on the owner's line per 61 remote frees.
 * With 29 (a 256-byte record) that line moved between the cores every 29
 * blocks, and its CAS held most of heap_hand_back's 8% of xmalloc-test's
 * time (rtime 1.90 -> 1.74, 3 interleaved runs); 125 blocks gained no
 * more there and kept up to 2 MiB of another heap's 16 KiB blocks waiting. */
#define PM_REMOTE_BATCH 61
typedef struct pm_remote_batch_s pm_remote_batch_t;
struct pm_remote_batch_s {
    pm_remote_batch_t *next;           /* the owner's stack, or its heap's free records */
    pm_heap_t *from;                   /* the heap whose thread made it: it goes back there */
    uint32_t n;                        /* blocks[0..n) are out, of one heap */
    uint32_t reserved;
    void *blocks[PM_REMOTE_BATCH];
};
_Static_assert(sizeof(pm_remote_batch_t) == 512, "a batch is a 512-byte record");

/* The thread cache of small and medium blocks (heap.c, "thread cache"):
 * per class (PM_TC_CLASSES: the 64 small ones, then the 44 medium ones), a
 * stack of blocks the thread freed, its own or other heaps' alike, which
 * its next mallocs of the class take back, last in first out.  The stack
 * is an array in the heap, out of band: nothing in a cached block links
 * it, so an overwritten block cannot steer an allocation.  A cached block
 * keeps its live bit (its pool counts it out) and holds its mark,
 * pm_tc_tag, in its first word: free finds a second free of it by the
 * mark, malloc takes it only with the mark intact (a write after free
 * into that word, or a block cached twice, aborts there).
 * Class c's stack is a run of tc_slots (heap.c, tc_bottom: each class's
 * run is as long as its largest limit, plus one): tc_top[c] points at its
 * newest block, or at the run's first word, which is always NULL, when it
 * is empty, so that malloc's pop needs no count; it is full when tc_top[c]
 * reaches tc_end[c] (at most PM_TC_SMALL_MOST blocks of a small class,
 * PM_TC_MEDIUM_MOST of a medium one; the limit adapts, heap.c).
 * A class gets its run when the heap first caches one of its blocks, the
 * runs one after the other in that order (heap.c, _pm_tc_run_take), so
 * that the few classes a thread uses share a page or two of slots instead
 * of each touching its own.  Until then its top points at the shared
 * NULL word tc_slots[PM_TC_NO_RUN] and its end below it, as the route
 * heap's do (TC_NONE_TOP): both fast paths miss on it without reading
 * the block, and its first free takes it the run (_pm_tc_push_slow).  A block
 * freed onto a full stack goes to its pool (the thread's own) or its
 * owner's batch (another heap's); the limit halves when frees outrun
 * mallocs, and doubles when mallocs miss the pools (heap.c). */
/* A small class's stack holds up to a page's worth of blocks (at least 32,
 * at most PM_TC_SMALL_MOST), a medium class's up to 8 KiB's worth
 * (PM_TC_MEDIUM_LEAST to PM_TC_MEDIUM_MOST); PM_TC_SLOTS is the sum of
 * those limits plus one per class (heap.c checks it).  127 blocks of the
 * classes up to 32 bytes: glibc-bench's batches of 100 blocks of 16 or 32
 * bytes fit (31 did not: 69 of each 100 went through the pool's list both
 * ways).  At least 32:
 * with 8 (a page's worth of the largest classes), a loop over 1000 blocks
 * of 8..512 bytes (about 16 of each class) sent a fifth of its frees and
 * mallocs through the pools' lists (small_loop 5.22 -> 4.36 ns, random_mix
 * 5.74 -> 5.36; 16 gave 4.83 and 5.27).  At most 557 KB of small blocks a
 * thread (248 KB with 8), within jemalloc's 20..200 blocks per class.
 * A host (pm_class_serves: of a range or a group) holds as much for each
 * class it serves, up to PM_TC_SMALL_MOST, until it splits (its stack takes the group's
 * blocks: small_loop 4.07 ns before hosts, 4.23-4.69 with a class's room,
 * 4.02 with the group's); after the split, new heaps start with and
 * stacks grow to no more than its own class's room (heap.c,
 * tc_limit_now), so that the bound above stands but for stacks that
 * grew before it (until their limit halves). */
#define PM_TC_SMALL_MOST 127
#define PM_TC_MEDIUM_MOST 31
/* At least 4 blocks of every medium class (8 KiB's worth is fewer for
 * the classes over 2 KiB): with 2, batches of 64 buffers of 8..16 KiB
 * (medium_batches: about 7 a class, in spans of 4 to 7 blocks) sent most
 * of their blocks through the spans, which emptied, went spare and were
 * set up again at every batch: 179 instructions a malloc+free in a loop
 * of those batches, 139 with 4, tcmalloc 92; medium_batches 10.6-11.1 ->
 * 7.2-7.8 ns (tcmalloc 6.4), rptest_mix 23.6 -> 21.5 ns.  With 8: 6.9 ns,
 * but rptest_mix's peak RSS 14.5 -> 16.3 MB (with 4: 14.6-14.8); the
 * threads keep each other's blocks of every class.  The classes over
 * 2 KiB may then hold 372 KiB more a thread in all. */
#define PM_TC_MEDIUM_LEAST 4
#define PM_TC_SLOTS 4352
/* tc_slots[PM_TC_NO_RUN]: the NULL word that the stacks of classes
 * without a run point at (their end: the word below it); the runs follow
 * it, from PM_TC_RUNS_FROM. */
#define PM_TC_NO_RUN 1
#define PM_TC_RUNS_FROM 2
#define PM_TC_CLASSES (PM_CLASS_COUNT + PM_MEDIUM_COUNT)  /* small c, then medium 64 + m */
/* Frees of other heaps' blocks that find a stack full with no malloc
 * finding it empty, before its limit starts to halve (heap.c). */
#define PM_TC_STALE_MAX 256

struct pm_heap_s {
    /* Free's push indexes tc_top and tc_end by a page-map entry's info
     * byte, the class plus 1 (pm_entry_info): the word before each array
     * is the stack of info byte 0 (a page with no blocks), always over its
     * limit (heap.c, TC_NONE_TOP and TC_NONE_END). */
    void **tc_top_none;
    void **tc_top[PM_TC_CLASSES];      /* per class: the thread cache's newest block
                                          (above); near the start, so that malloc's pop
                                          and free's push index it with a short offset */
    pm_pool_t *pools[PM_CLASS_COUNT];  /* per class: the pool to allocate from, or the
                                          empty sentinel pool */
    void **tc_end_none;
    void **tc_end[PM_TC_CLASSES];      /* per class: the last slot its stack may fill */
    uint8_t tc_wanted[PM_TC_CLASSES];  /* per class: a malloc found the stack empty
                                          (heap.c, _pm_tc_pool_event) */
    uint16_t tc_stale[PM_TC_CLASSES];  /* per class: frees of other heaps' blocks that
                                          found the stack full (heap.c, _pm_tc_push_slow) */
    uint8_t tc_events[PM_TC_CLASSES];  /* per class: pool changes by frees since the stack
                                          was last found empty (heap.c, _pm_tc_pool_event) */
    void *tc_full_newest[PM_TC_CLASSES]; /* per class: the newest block of the full stack at
                                            the last pool event (heap.c, _pm_tc_pool_event) */
    uint8_t tc_full_run[PM_TC_CLASSES];  /* per class: pool events since, with the stack full
                                            and that block still its newest */
    uint16_t tc_first[PM_TC_CLASSES];  /* per class: its run's bottom word in tc_slots, or
                                          PM_TC_NO_RUN before it has one (heap.c,
                                          _pm_tc_run_take) */
    uint16_t tc_runs_end;              /* where the next class's run starts */
    pm_span_t *spans[PM_MEDIUM_COUNT]; /* per medium class: span to allocate from, or
                                          the empty sentinel span */
    pm_pool_t *spare_pools[PM_CLASS_COUNT]; /* per class: EMPTY pools kept off the list,
                                               linked by `next` (pool.c, pool_emptied) */
    uint32_t spare_pool_count;         /* their number, all classes, but for the untouched
                                          pools of runs: at most PM_SPARE_POOLS */
    uint32_t spare_run_count;          /* those untouched ones (run_spare: pool.c, pool_new),
                                          not counted in pools_live */
    uint32_t pool_count[PM_CLASS_COUNT]; /* per class: its pools, spares included (pool.c) */
    uint16_t span_live[PM_MEDIUM_COUNT];  /* per medium class: its spans in use (span.c) */
    /* Bit m: the last span of medium class m whose pages were read
     * (span.c, span_probe) had them all written by the program, so that its
     * new spans on clean pages are faulted in at once; spans_fresh counts
     * those, every eighth being read again instead. */
    uint64_t spans_dense;
    uint32_t spans_fresh;
    /* Bit m: medium class m has taken a spare span back since the spares
     * were last all released (span.c, span_spare_take): its spares stay
     * when they are all their arena has in use (_pm_span_release_spares_in). */
    uint64_t spans_reused;
    pm_span_t *spare_spans[PM_MEDIUM_COUNT]; /* per medium class: EMPTY spans kept off the
                                                list, linked by `next` (span.c, span_emptied) */
    uint64_t spare_span_classes;       /* bit m: spare_spans[m] is not empty */
    uint32_t spare_span_pages;         /* their pages, all classes: at most PM_SPARE_SPAN_PAGES */
    /* Its pools, spans and span pages in use: counted per heap, where only
     * the owner (or the holder of an abandoned heap's lock) writes, with
     * no atomic read-modify-write; pm_stats_get adds up every heap's
     * (_pm_heaps_counts).  One process-wide atomic counter was written by
     * every pool taken and returned, by every thread: under xmalloc-test's
     * producer and consumer its line moved between the cores at each one
     * (nearly all of pool_new's and pool_release's samples). */
    _Atomic uint64_t pools_live, spans_live, span_pages_live;
    /* What other threads write (and the state they read), on a cache line
     * of its own: the owner's fields above and below are written at every
     * slow path, and sharing a line with these, they moved to the other
     * core at each of its remote frees. */
    _Alignas(64) _Atomic(pm_block_t *) xthread_free; /* blocks freed by other threads
                                                          (Treiber stack) */
    _Atomic(pm_remote_batch_t *) xthread_batches; /* the same, in batches (heap.c) */
    _Atomic(pm_remote_batch_t *) xthread_records; /* its drained batch records, back */
    _Atomic int state;                 /* PM_HEAP_* */
    _Alignas(64) pthread_mutex_t lock; /* held by whoever works on an ABANDONED heap */
    pm_arena_set_t arenas;             /* its arenas (arenas/arenas.h) */
    pm_heap_t *next_all;               /* every heap ever made (heap.c, heaps_all) */
    pm_heap_t *next_abandoned;         /* the abandoned stack */
    uint64_t id;                       /* for messages and tests */
    /* The thread cache's stacks, newest block last (tc above): the word
     * before PM_TC_NO_RUN's, that NULL word, then the runs, PM_TC_SLOTS
     * words, after a heap made for a thread; none after the route and
     * backup heaps (no stack of theirs is ever used), so that the route
     * heap's static image, relocated at load, stays small. */
    _Alignas(64) void *tc_slots[];
};

/* Sentinel pool that every empty class list points to: its free list is
 * always 1, which the fast path takes for an empty list (odd, like a real
 * pool's end of list), so it needs no NULL check on the pool. */
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
/* ---- per-class statistics (stats.c) ---- */
typedef struct pm_class_counters_s {
    _Atomic uint64_t allocs, frees, current, peak;
} pm_class_counters_t;
PM_INTERNAL extern pm_class_counters_t _pm_class_counters[PM_CLASS_COUNT + PM_MEDIUM_COUNT];

/* free of a pointer that the flat map's test sent out of line (alloc.c). */
PM_INTERNAL PM_NOINLINE void _pm_free_door(void *p);

/* ---- pools/pool.c ---- */
PM_INTERNAL PM_NOINLINE void *_pm_pool_alloc_generic(pm_heap_t *heap, unsigned c);
PM_INTERNAL PM_NOINLINE void _pm_pool_free_generic(pm_heap_t *heap, pm_pool_t *pool);
PM_INTERNAL void _pm_pool_free_local(pm_heap_t *heap, pm_pool_t *pool, pm_block_t *b,
                                     const char *call);
PM_INTERNAL size_t _pm_pool_release_empty(pm_heap_t *heap);  /* returns pools released */
/* Releases heap's spare pools (spans) in the arena of page. */
PM_INTERNAL void _pm_pool_release_spares_in(pm_heap_t *heap, const void *page);
PM_INTERNAL bool _pm_pool_free_run(pm_heap_t *heap, pm_pool_t *pool, const uint64_t mask[8],
                                   void *const *blocks, size_t n);
PM_INTERNAL void _pm_pool_free_abandoned(pm_heap_t *heap, pm_pool_t *pool, pm_block_t *b,
                                         const char *call);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_pool_bad_free(pm_pool_t *pool, void *p,
                                                                   const char *call);
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_pool_corrupt(pm_pool_t *pool,
                                                                  const pm_block_t *b);
/* The same two reports, declared as returning so that the inline fast
 * paths reach them with a jump: GCC makes no tail call to a noreturn
 * function, and a call would cost malloc and free a stack frame.  The
 * pop's is non-null, so that its caller's test for a miss folds away. */
__attribute__((cold)) PM_INTERNAL void _pm_pool_bad_free_ret(pm_pool_t *pool, void *p,
                                                             const char *call);
__attribute__((cold, returns_nonnull)) PM_INTERNAL void *_pm_pool_corrupt_ret(pm_pool_t *pool,
                                                                              const pm_block_t *b);

/* The thread cache's slow parts (heap.c).  _pm_tc_push_slow: free found
 * the stack over its limit (the blocks above go back; a class without a
 * run takes one and caches p), or full and p
 * maybe marked or the PM_TC_STALE_MAX-th block of another heap, or the
 * route heap (the door); then p goes where it went before the cache.  The
 * two reports are declared as returning, for the same reason as the
 * pool's. */
PM_INTERNAL PM_NOINLINE void _pm_tc_push_slow(pm_heap_t *heap, uintptr_t entry, void *p);
PM_INTERNAL void _pm_tc_flush(pm_heap_t *heap);   /* every stack of heap, emptied */
/* Whether class c's stack may hold blocks: heap has a cache, and the class
 * its run, which it takes now if it had none (pool.c carves onto it). */
PM_INTERNAL bool _pm_tc_run_take(pm_heap_t *heap, size_t c);
/* Whether class c has its run of heap's slots already. */
static inline bool pm_tc_has_run(const pm_heap_t *heap, size_t c)
{
    return heap->tc_first[c] != PM_TC_NO_RUN;
}
/* malloc missed class c's stack and its list head: the stack may hold more
 * (heap.c: _pm_tc_pool_event and _pm_tc_push_slow halve the limit, this
 * doubles it). */
PM_INTERNAL void _pm_tc_grow(pm_heap_t *heap, size_t c);
/* A free put one of heap's pools or spans of class c through a change of
 * state (pool.c, span.c: their free slow paths): frees reach the pools. */
PM_INTERNAL void _pm_tc_pool_event(pm_heap_t *heap, size_t c);
__attribute__((cold, returns_nonnull)) PM_INTERNAL void *_pm_tc_corrupt_ret(pm_heap_t *heap,
                                                                            const pm_block_t *b);
__attribute__((cold)) PM_INTERNAL void _pm_tc_double_free_ret(const pm_block_t *b);
/* free's push found p's first word with a mark's top byte: the whole word
 * decides (a double free, or data), then the push. */
PM_INTERNAL PM_NOINLINE void _pm_tc_push_marked(pm_heap_t *heap, uintptr_t entry, void *p);

/* ---- pools/span.c ---- */
PM_INTERNAL PM_NOINLINE void *_pm_medium_alloc(size_t size);
PM_INTERNAL void *_pm_span_alloc(pm_heap_t *heap, unsigned m);
PM_INTERNAL pm_span_t *_pm_span_check(uintptr_t entry, void *p, const char *call);
PM_INTERNAL void _pm_span_free(uintptr_t entry, void *p, const char *call);
PM_INTERNAL void _pm_span_free_local(pm_heap_t *heap, pm_span_t *span, void *p,
                                     const char *call);
PM_INTERNAL size_t _pm_span_release_empty(pm_heap_t *heap);
PM_INTERNAL void _pm_span_release_spares_in(pm_heap_t *heap, const void *page);
PM_INTERNAL size_t _pm_span_release_spares(pm_heap_t *heap);   /* all of them; how many */
/* An arena must not stay mapped for its spares alone: when k more pages of
 * the arena of page go back (a pool or span released) or none (a spare
 * just kept), and then only spares would be in use there, they go back
 * too, so that the arena can go back to the OS. */
static inline void pm_heap_release_idle(pm_heap_t *heap, const void *page, unsigned k)
{
    if (_pm_arena_idle_after(page, k)) {
        _pm_pool_release_spares_in(heap, page);
        _pm_span_release_spares_in(heap, page);
    }
}
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
 * the process is not in slow mode (base/base.h), else PM_ROUTE_GENERIC.  Only
 * the fast paths read it; _pm_heap_route sets it. */
PM_INTERNAL extern __thread pm_heap_t *_pm_tls_fast __attribute__((tls_model("initial-exec")));
PM_INTERNAL void _pm_heap_route(void);                   /* recompute _pm_tls_fast */
PM_INTERNAL pm_heap_t *_pm_heap_acquire(void);          /* adopt an abandoned heap or make one */
/* The calling thread's first heap (it has none): NULL with ENOMEM. */
PM_INTERNAL pm_heap_t *_pm_heap_thread_init(void);
PM_INTERNAL void _pm_heap_abandon(pm_heap_t *heap);     /* the owner thread is exiting */
PM_INTERNAL void _pm_heap_collect(pm_heap_t *heap);     /* owner: take back remote frees */
/* Whether other threads have handed blocks back to heap (a hint: relaxed). */
static inline bool pm_heap_has_remote(pm_heap_t *heap)
{
    return atomic_load_explicit(&heap->xthread_free, memory_order_relaxed) ||
           atomic_load_explicit(&heap->xthread_batches, memory_order_relaxed);
}
/* The calling thread's batches of remote frees (heap.c): pushed when their
 * oldest block has waited PM_REMOTE_TICK of the thread's allocation slow
 * paths; pushed and their records left with the heap at thread exit
 * (_pm_heap_batch_release).  _pm_batch_held: bit w, the batch of way w
 * holds a block. */
PM_INTERNAL extern __thread unsigned _pm_batch_held __attribute__((tls_model("initial-exec")));
PM_INTERNAL void _pm_heap_batch_tick(void);
PM_INTERNAL void _pm_heap_batch_release(pm_heap_t *heap);
static inline void pm_heap_batch_tick(void)
{
    if (pm_unlikely(_pm_batch_held != 0))
        _pm_heap_batch_tick();
}
/* Whether an allocation slow path may skip its chores (pool.c and span.c,
 * the switch to the next pool or span): not slow mode, nothing handed back
 * by other threads to collect, no block in the thread's batch (whose tick
 * only counts while it holds one). */
static inline bool pm_heap_chores_none(pm_heap_t *heap)
{
    return !_pm_slow && !pm_heap_has_remote(heap) && _pm_batch_held == 0;
}
PM_INTERNAL void _pm_heap_free_small(pm_pool_t *pool, pm_block_t *b, const char *call);
PM_INTERNAL PM_NOINLINE void _pm_heap_free_remote_fast(uintptr_t entry, void *p);
PM_INTERNAL void _pm_heap_free_remote_span(pm_span_t *span, pm_block_t *b, const char *call);
PM_INTERNAL pm_heap_t *_pm_heap_backup(void);           /* locked heap for exiting threads */
PM_INTERNAL size_t _pm_heaps_trim(void);
PM_INTERNAL void _pm_heaps_fork_prepare(void);
PM_INTERNAL void _pm_heaps_fork_parent(void);
PM_INTERNAL void _pm_heaps_fork_child(void);
PM_INTERNAL pm_heap_t *_pm_heaps_first(void);
/* The pools, spans and span pages in use of every heap, added up. */
PM_INTERNAL void _pm_heaps_counts(uint64_t *pools, uint64_t *spans, uint64_t *span_pages);
/* Adds d to one of heap's counters above (the caller may write heap). */
static inline void pm_heap_count(_Atomic uint64_t *counter, int64_t d)
{
    atomic_store_explicit(counter,
                          atomic_load_explicit(counter, memory_order_relaxed) + (uint64_t)d,
                          memory_order_relaxed);
}

/* ---- pools/alloc.c ---- */
/* A small block of class c for a request of `size` bytes (0..512) when the
 * fast route is off; the class is the caller's (pm_request_class, or the
 * C++ rule of pm_new_inline). */
PM_INTERNAL PM_NOINLINE void *_pm_small_alloc_generic(unsigned c, size_t size);
/* malloc's fast path missed: the list head has no free block, or the
 * thread is on the route heap (above).  size is 1..512, c its class. */
PM_INTERNAL PM_NOINLINE void *_pm_small_alloc_miss(pm_heap_t *heap, size_t c, size_t size);
PM_INTERNAL PM_NOINLINE void _pm_free_generic(void *p, uintptr_t entry, const char *call);
/* free of a large block (entry has PM_PAGE_LARGE): into the thread's slot
 * when it may use one, else the door. */
PM_INTERNAL PM_NOINLINE void _pm_free_large(uintptr_t entry, void *p);
PM_INTERNAL void *_pm_alloc_aligned(size_t align, size_t size);
/* The large path (arenas/large.c) for the malloc API: with the hooks of
 * slow mode.  NULL with errno ENOMEM. */
PM_INTERNAL PM_NOINLINE void *_pm_large_alloc_api(size_t size, size_t align, bool zero);
/* malloc's large request when the thread's slots serve none (or slow
 * mode, in which they are never used): _pm_large_alloc_api. */
PM_INTERNAL PM_NOINLINE void *_pm_large_malloc_miss(size_t size);
/* malloc(0): a block of malloc(1)'s class, off the thread cache as for
 * any small request (out of line: size 0 is rare, malloc's body stays
 * short).  Through the generic door, a loop of malloc(0) and free took
 * 8.5 ns a pair (glibc 3.1): each block went to the pool's list and back. */
PM_INTERNAL PM_NOINLINE void *_pm_malloc_zero(void);

/* ---- pools/stats.c ---- */
PM_INTERNAL void _pm_stats_count_alloc(unsigned c);
PM_INTERNAL void _pm_stats_count_free(unsigned c);
PM_INTERNAL void _pm_stats_count_large(void);   /* a large block was handed out: peak */
/* The report at exit, to POOLMALLOC_STATS_FILE or else to fd; JSON if
 * POOLMALLOC_STATS_JSON. */
PM_INTERNAL void _pm_stats_report_exit(int fd);
/* pm_stats_get's snapshot without the resident figures (bytes_resident and
 * bytes_resident_peak 0): no system call. */
PM_INTERNAL void _pm_stats_counts(pm_stats_t *out);
/* malloc_info's XML (glibc's shape), handed to sink piece by piece. */
PM_INTERNAL void _pm_stats_print_xml(pm_sink_fn sink, void *arg);

/* ---- pools/slow.c: the hooks of slow mode (base/base.h) ----
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
/* Strict mode (base/base.h): fill [p, p + n) with PM_FREE_JUNK (a freed
 * block's link word is left out by the caller); check a block's filling,
 * all but its link word, when it is taken off its free list or carved
 * (aborts on a write after free). */
PM_INTERNAL void _pm_strict_fill(void *p, size_t n);
PM_INTERNAL void _pm_strict_taken(void *b, size_t block);
/* Strict mode's quarantine (slow.c): a freed small or medium block (checked,
 * filled) waits there; returns the block it pushes out, to be freed now
 * (its filling checked), or NULL.  _pm_strict_check_waiting aborts if p
 * waits there (a double free, or a use of a freed pointer).
 * _pm_strict_quarantine_flush_one hands the oldest waiting block to
 * free_now (false when none is left).  Never called in other builds. */
PM_INTERNAL void *_pm_strict_quarantine(void *p);
PM_INTERNAL void _pm_strict_check_waiting(void *p, const char *call);
PM_INTERNAL bool _pm_strict_quarantine_flush_one(void (*free_now)(void *p, uintptr_t entry,
                                                                   const char *call));
PM_INTERNAL void _pm_strict_quarantine_check(void);   /* every waiting block's filling */
PM_INTERNAL void _pm_strict_fork_prepare(void);
PM_INTERNAL void _pm_strict_fork_parent(void);
PM_INTERNAL void _pm_strict_fork_child(void);

/* ---- pools/lifecycle.c: the process and its threads ----
 * poolmalloc initialises itself on first use, whenever that is (the
 * dynamic loader and glibc call malloc before any constructor runs). */
PM_INTERNAL void _pm_process_init(void);    /* idempotent, never allocates */
PM_INTERNAL void _pm_thread_init_late(void); /* thread-exit key, fork handlers */
PM_INTERNAL void _pm_process_exit(void);    /* the statistics report, if asked for */
PM_INTERNAL extern _Atomic int _pm_initialized;

/* ======================= fast paths ======================================= */

static inline uintptr_t pm_link_encode(const pm_block_t *b, const void *next)
{
    return (((uintptr_t)next ^ (uintptr_t)b) * _pm_keys.mul) ^ _pm_keys.secret;
}

/* next ^ b from a link word */
static inline uintptr_t pm_link_unmix(uintptr_t link) { return (link ^ _pm_keys.secret) * _pm_keys.unmul; }

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
    return (pm_block_t *)(pm_link_unmix(pm_link_load(b, vg)) ^ (uintptr_t)b);
}

/* The end of a pool's free list: its page's address + 1, odd like no block
 * (and like the empty sentinel pool's 1), so that one bit tells a block
 * from the end, and in the page, so that the last link passes the pop's
 * check like any other. */
static inline pm_block_t *pm_pool_end(const void *page)
{
    return (pm_block_t *)(((uintptr_t)page & ~(uintptr_t)(PM_POOL_SIZE - 1)) | 1);
}

static inline bool pm_pool_is_block(const pm_block_t *b) { return !((uintptr_t)b & 1); }

/* Under memcheck an empty list's head is 1 instead (links still end with
 * pm_pool_end, mangled): memcheck's leak check would take page + 1, in the
 * pool header, for a pointer into the page's first block, and report that
 * block "possibly lost" instead of "definitely lost" when it leaks. */
#define PM_POOL_END_VG ((pm_block_t *)1)

/* Takes free block b, the head of pool's list, off the list.  The decoded
 * link, next ^ b, must have no bit set but bits 3..11 (next is in b's own
 * page, 8-aligned like b) and bit 0 (next is the list's end).  With the
 * mangling: one xor with the secret, a multiply, one test, one xor with b.
 * Returns false (after the one-line report) for a corrupted link. */
#define PM_POOL_LINK_FREE_BITS ((uintptr_t)(PM_POOL_SIZE - 8) | 1)
static inline bool pm_pool_pop(pm_pool_t *pool, pm_block_t *b, bool vg)
{
    uintptr_t d = pm_link_unmix(pm_link_load(b, vg));   /* next ^ b */
    if (pm_unlikely(d & ~PM_POOL_LINK_FREE_BITS))
        return false;
    pool->free = (pm_block_t *)(d ^ (uintptr_t)b);
    return true;
}

/* Pops a block of class c from heap's list head, once the thread cache
 * came up empty (noted: heap.c, _pm_tc_pool_event); NULL when the head has
 * no free block (an empty list, or the route heap, whose note is therefore
 * never written).  Inlined, the NULL needs no test: the caller's miss is a
 * jump. */
static inline void *pm_small_pop(pm_heap_t *heap, size_t c)
{
    pm_pool_t *pool = heap->pools[c];
    pm_block_t *b = pool->free;
    if (pm_likely(pm_pool_is_block(b))) {
        heap->tc_wanted[c] = 1;         /* before the check: its report stays a jump */
        if (pm_unlikely(!pm_pool_pop(pool, b, false)))
            return _pm_pool_corrupt_ret(pool, b); /* a jump: no stack frame here */
        b->link = 0;                              /* no link left for the program to read */
        pool->used++;
        pm_live_set(pool, b);
        return b;
    }
    return NULL;
}


/* The mark of block b while it waits in a thread cache: odd, so never the
 * address of a block, and random, so that a program cannot store it by
 * chance (base.h, _pm_keys.tag).  The same word in every block: mixed
 * with the block's address it cost an xor on each side of a pair and
 * found nothing more (a mark read back gives the key either way, since
 * the reader knows the address; a block cached twice is caught by the
 * second pop, which finds the mark wiped by the first). */
static inline uintptr_t pm_tc_tag(const void *b)
{
    (void)b;
    return _pm_keys.tag;
}

/* Whether block p's first word may be its mark, by its top byte alone,
 * which is PM_TC_MARK_TOP in every mark (base.h): free's test, before the
 * whole word is compared out of line.  A byte, because the program has
 * often just written the block's first bytes, and a load of the whole word
 * over a narrower store still in flight waits for the store (fixed/64:
 * 4.97 ns with the word, 4.31 without); the top byte is rarely data's
 * (pointers and small numbers have 0x00 or 0xff there, text less than
 * 0x80). */
static inline bool pm_tc_maybe_marked(const void *p)
{
    return ((const uint8_t *)p)[7] == PM_TC_MARK_TOP;
}

/* Whether block p, whose live bit is set, waits in a thread cache (freed)
 * rather than out.  Not under memcheck, where no thread cache runs and the
 * word may be undefined. */
static inline bool pm_tc_cached(const void *p)
{
    return !pm_vg_on() && ((const pm_block_t *)p)->link == pm_tc_tag(p);
}

/* The thread cache's pop: the newest block of class c, or NULL. */
static inline void *pm_tc_pop(pm_heap_t *heap, size_t c)
{
    void **top = heap->tc_top[c];
    pm_block_t *b = (pm_block_t *)*top;
    if (pm_likely(b != NULL)) {
        heap->tc_top[c] = top - 1;
        if (pm_unlikely(b->link != pm_tc_tag(b)))
            return _pm_tc_corrupt_ret(heap, b);   /* a jump: no stack frame here */
        b->link = 0;                              /* no mark left for the program to read */
        return b;
    }
    return NULL;
}

/* Frees block p of pool, whose owner is the calling thread's heap.  p is
 * 8-aligned (pm_free_inline checks; the other callers check themselves).
 * `vg`: see pm_link_load. */
static inline void pm_small_free_local(pm_heap_t *heap, pm_pool_t *pool, void *p,
                                       const char *call, bool vg)
{
    _Atomic uint64_t *w = pm_live_word(pool, p);
    uint64_t word = atomic_load_explicit(w, memory_order_relaxed);
    if (pm_unlikely(!pm_bit_take(&word, (uintptr_t)p >> 6)))   /* pm_live_bit's bit */
        return _pm_pool_bad_free_ret(pool, p, call);
    atomic_store_explicit(w, word, memory_order_relaxed);
    pm_block_t *b = (pm_block_t *)p;
    pm_link_store(b, vg && !pm_pool_is_block(pool->free) ? pm_pool_end(p) : pool->free, vg);
    pool->free = b;
    if (pm_unlikely(pm_dec_le0(&pool->used)))   /* emptied, or off its list (pm_pool_s) */
        _pm_pool_free_generic(heap, pool);
}

/* x rotated right by 3 bits: x / 8 when x is 8-aligned, and at least 2^61
 * when it is not, so that one unsigned comparison checks an offset for
 * both alignment and range (one rotate instead of a test and a jump). */
static inline uintptr_t pm_ror3(uintptr_t x) { return (x >> 3) | (x << 61); }

/* ---- medium blocks (513..16384 bytes, spans) ----
 * The same two paths for spans (whose `used` is biased as the pools' is),
 * but its live bits are in the slots of its pages (pm_page_live_word),
 * and its free list ends with NULL.  The pop's check is the pools' one: the next block lies in
 * the span and is 8-aligned (one comparison, pm_ror3).  Slow mode (route heap) and every miss go to
 * span.c, whose checks are exact. */
/* Whether next, decoded from a link of span s's list (base: its first
 * byte), may not follow: it is neither the list's end (NULL) nor 8-aligned
 * inside the span.  (Asked this way round, GCC lays out the pop with one
 * jump fewer.) */
static inline bool pm_span_next_bad(const pm_span_t *s, uintptr_t base, uintptr_t next)
{
    return next && pm_ror3(next - base) >= s->granules;
}

static inline void *pm_medium_pop(pm_heap_t *heap, size_t m)
{
    pm_span_t *s = heap->spans[m];
    pm_block_t *b = s->free;
    if (pm_likely(b != NULL)) {
        heap->tc_wanted[PM_CLASS_COUNT + m] = 1;   /* the thread cache came up empty */
        uintptr_t next = pm_link_unmix(b->link) ^ (uintptr_t)b;
        if (pm_unlikely(pm_span_next_bad(s, (uintptr_t)pm_span_base(s), next)))
            _pm_span_corrupt(s, b);
        s->free = (pm_block_t *)next;
        b->link = 0;                          /* no link left for the program to read */
        s->used++;
        pm_live_word_set(pm_page_live_word(b), b);
        return b;
    }
    return NULL;
}

/* A block of thread-cache class c, for a request of `size` = 1..16384
 * bytes, once the cache's pop missed: the head of the class's pool or span
 * list (noting that the cache came up empty: heap.c, _pm_tc_pool_event),
 * else the miss.  The route heap's list pops always miss, so the note is
 * never written there. */
static inline void *pm_alloc_list(pm_heap_t *heap, size_t c, size_t size)
{
    void *p;
    if (c < PM_CLASS_COUNT) {
        if (pm_likely((p = pm_small_pop(heap, c)) != NULL))
            return p;
        return _pm_small_alloc_miss(heap, c, size);
    }
    if (pm_likely((p = pm_medium_pop(heap, c - PM_CLASS_COUNT)) != NULL))
        return p;
    return _pm_medium_alloc(size);
}

/* Frees block p of span s, owned by the calling thread's heap. */
static inline void pm_span_free_inline(pm_heap_t *heap, pm_span_t *s, void *p)
{
    _Atomic uint64_t *w = pm_page_live_word(p);
    uint64_t live = atomic_load_explicit(w, memory_order_relaxed);
    if (pm_unlikely(!pm_bit_take(&live, (uintptr_t)p >> 6)))   /* pm_live_bit's bit */
        _pm_span_bad_free(s, p, "free");
    atomic_store_explicit(w, live, memory_order_relaxed);
    pm_block_t *b = (pm_block_t *)p;
    b->link = pm_link_encode(b, s->free);
    s->free = b;
    if (pm_unlikely(pm_dec_le0(&s->used)))   /* emptied, or off its list (pm_span_s) */
        _pm_span_free_generic(heap, s);
}

/* The heap owning the pool or span of a page-map entry with PM_PAGE_POOL or
 * PM_PAGE_SPAN: every page's slot has it where a pool's header has it (a
 * span sets it in the slots of all its pages). */
static inline pm_heap_t *pm_entry_heap(uintptr_t entry) { return pm_entry_pool(entry)->heap; }

/* free of p, 8-aligned, whose page has entry `entry`, that is not a small
 * or medium block: a large one, NULL, or not ours.  heap is the calling
 * thread's fast route: a heap of its own (so it flushes its large slots at
 * exit) and, unless another thread switched it on since, no slow mode;
 * _pm_free_large asks the same of a thread on the route heap. */
static PM_ALWAYS_INLINE void pm_free_not_block(pm_heap_t *heap, uintptr_t entry, void *p)
{
    if (entry & PM_PAGE_LARGE) {
        if (pm_likely(heap != PM_ROUTE_GENERIC && !_pm_slow))
            _pm_large_free_slot(entry, p);
        else
            _pm_free_large(entry, p);
        return;
    }
    if (p)
        _pm_free_generic(p, entry, "free");
}

_Static_assert(offsetof(pm_heap_t, tc_top) == offsetof(pm_heap_t, tc_top_none) + sizeof(void **) &&
                   offsetof(pm_heap_t, tc_end) == offsetof(pm_heap_t, tc_end_none) + sizeof(void **),
               "info byte 0's stack words precede the stacks' arrays");

/* free of p (8-aligned, page map entry `entry`) by a thread whose fast
 * route is heap: a small or medium block onto the thread cache, whichever
 * heap owns the block.  p must be out (else: not a block, or freed and
 * back on its list; _pm_tc_push_slow says which).  Neither the check nor
 * the push asks which kind p's page is; any other page's entry has info
 * byte 0, whose stack is over its limit: the full-stack branch sends it
 * on (pm_free_not_block). */
static PM_ALWAYS_INLINE void pm_tc_push(pm_heap_t *heap, uintptr_t entry, void *p)
{
    size_t i = entry >> PM_PAGE_INFO_SHIFT;   /* class + 1 */
    /* the stack's top word, and its end word at a fixed distance */
    void ***at = (void ***)((char *)heap + offsetof(pm_heap_t, tc_top_none)) + i;
    void **top = *at;
    void **end = *(void ***)((char *)at + (offsetof(pm_heap_t, tc_end_none) -
                                           offsetof(pm_heap_t, tc_top_none)));
    if (pm_unlikely(top >= end)) {
        size_t c = i - 1;
        /* Full: the thread's own block goes to its list, as without the
         * cache.  Over its limit (just lowered, the route heap's, or info
         * byte 0's, never exactly full): heap.c, before p is read, or the
         * other kinds of page. */
        if (pm_likely(top == end)) {
            if (pm_likely(pm_entry_heap(entry) == heap)) {
                /* Not in the stack already: a stack of one block is
                 * compared with, a larger one answers by p's mark.
                 * Compared, because the full stacks that free meets are
                 * mostly of one block (frees that outrun mallocs bring
                 * the limit down: heap.c, _pm_tc_pool_event), and p is
                 * then often a block no cache has held for long: its
                 * mark's load missed, and stalled the free, which
                 * otherwise only writes p (object_rounds, 68 MB freed in
                 * a row each round: 85% of free's samples on that load).
                 * Found even with its mark overwritten.  A copy of p in
                 * another thread's stack is not seen: it is caught when
                 * it leaves that stack, its mark overwritten (pm_tc_pop),
                 * as when another heap's block is freed twice onto full
                 * stacks. */
                if (top[-1] == NULL) {
                    if (pm_unlikely(top[0] == p))
                        return _pm_tc_double_free_ret(p);
                } else if (pm_unlikely(pm_tc_maybe_marked(p))) {   /* maybe cached already */
                    return _pm_tc_push_slow(heap, entry, p);
                }
                if (entry & PM_PAGE_POOL)
                    pm_small_free_local(heap, pm_entry_pool(entry), p, "free", false);
                else
                    pm_span_free_inline(heap, pm_entry_span(entry), p);
                return;
            }
            /* Another heap's block goes to its owner's batch unread: its
             * line stays with the thread that wrote it (xmalloc-test: a
             * read here cost 20%).  Freed twice meanwhile, it is caught
             * when the copy in a stack leaves it (its mark gone). */
            if (pm_likely(++heap->tc_stale[c] < PM_TC_STALE_MAX))
                return _pm_heap_free_remote_fast(entry, p);
        }
        if (pm_unlikely(!(entry & (PM_PAGE_POOL | PM_PAGE_SPAN))))
            return pm_free_not_block(heap, entry, p);
        return _pm_tc_push_slow(heap, entry, p);
    }
    if (pm_unlikely(!(atomic_load_explicit(pm_slot_live_word(pm_entry_slot(entry), p),
                                           memory_order_relaxed) &
                      pm_live_bit(p))))
        return _pm_tc_push_slow(heap, entry, p);   /* reports the bad free */
    if (pm_unlikely(pm_tc_maybe_marked(p)))
        return _pm_tc_push_marked(heap, entry, p);
    *++top = p;
    *at = top;
    ((pm_block_t *)p)->link = pm_tc_tag(p);
}

/* The small class malloc uses for a request of 1..512 bytes: its own
 * class, or with POOLMALLOC_MIN_ALIGN=16 the next one whose blocks are
 * 16-aligned (base/base.h, _pm_align_or). */
static inline unsigned pm_request_class(size_t size)
{
    return (unsigned)(((size - 1) | _pm_align_or) >> 3);
}

/* Large requests and malloc(0): the rest of malloc once m = size - 1 is
 * known not to be small or medium. */
static inline void *pm_malloc_large(size_t size)
{
    if (size == 0)
        return _pm_malloc_zero();
    if (pm_likely(!_pm_slow))   /* the thread's slots (arenas/large.c): no call between */
        return _pm_large_slot_take(size, _pm_large_malloc_miss);
    return _pm_large_malloc_miss(size);
}

/* A block of thread-cache class c for a request of `size` = 1..16384
 * bytes: the thread cache's pop, else the list's (pm_alloc_list). */
static PM_ALWAYS_INLINE void *pm_alloc_class(size_t c, size_t size)
{
    pm_heap_t *heap = _pm_tls_fast;
    void *p = pm_tc_pop(heap, c);
    if (pm_likely(p != NULL))
        return p;
    return pm_alloc_list(heap, c, size);
}

/* malloc: the thread's heap, one pop off its thread cache or list. */
static PM_ALWAYS_INLINE void *pm_malloc_inline(size_t size)
{
    size_t m = size - 1;                    /* size 0 wraps around */
    if (pm_likely(m < PM_MEDIUM_MAX))       /* pm_request_class's, _pm_align_or in the table */
        return pm_alloc_class(pm_tc_class_at(m >> 3), size);
    return pm_malloc_large(size);
}

/* C++ operator new's class (preload/override_cxx.c) for m = size - 1 <
 * 16384: as malloc's, but a request of more than 8 bytes always gets a
 * class whose blocks are 16-aligned, since compilers assume
 * __STDCPP_DEFAULT_NEW_ALIGNMENT__ (16) for any object of 16 bytes or more
 * that new returns (clang merges a constructor's stores into movaps).
 * Small classes 1, 3, 5, ... are the multiples of 16 (and every medium
 * block is a multiple of 64); class 0 (8 bytes) holds the requests of 1..8
 * bytes, whose objects need no more than 8 (16 bytes with
 * POOLMALLOC_MIN_ALIGN=16, as malloc's: the table says so).  The table
 * index is k | (k != 0) for k = m / 8, without a flag register:
 * (k + 2047) >> 11 is 1 exactly for k = 1..2047. */
static inline size_t pm_new_class(size_t m)
{
    size_t k = m >> 3;
    return pm_tc_class_at(k | ((k + 2047) >> 11));
}

/* operator new's allocation: as malloc, with new's class.  NULL only when
 * out of memory. */
static PM_ALWAYS_INLINE void *pm_new_inline(size_t size)
{
    size_t m = size - 1;
    if (pm_likely(m < PM_MEDIUM_MAX))
        return pm_alloc_class(pm_new_class(m), size);
    return pm_malloc_large(size);
}

/* free: one page-map lookup, then a push on the thread cache for a small
 * or medium block (pm_tc_push: a full stack, or no fast route, sends it
 * on), the large path for a large one, the door (_pm_free_generic) for
 * anything else.
 * One test (arenas.h, pm_pagemap_fast_takes) sends pointers that are
 * misaligned or beyond the flat map, and all of them where the map is
 * two-level, to the out-of-line path, which does the same after its
 * lookup and names what is wrong with them. */
static PM_ALWAYS_INLINE void pm_free_inline(void *p)
{
    if (pm_likely(pm_pagemap_fast_takes(p))) {
        pm_tc_push(_pm_tls_fast, pm_pagemap_fast_get(p), p);
        return;
    }
    _pm_free_door(p);
}

#endif
