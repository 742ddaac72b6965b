/* large.c -- the large path: one mapping per block (floor 1).
 *
 * Each large allocation is its own page-aligned mapping of whole pages; its
 * record (pm_large_t, arenas.h) is allocator metadata (meta.c), out of the
 * program's reach, and the page map entry
 * of the allocation's first page points to it, so free() and realloc()
 * validate a pointer without touching the mapping (mallocng's one-slot
 * group, told apart by the page map instead of an in-band header).
 *
 * Freed mappings of every size go to a cache instead of munmap (filed by
 * size class, newest first: cache_choose_locked), and serve later requests
 * of any size:
 *   1. the smallest cached mapping that holds the request is taken whole;
 *      its pages past the request stay resident while the use (below)
 *      stays within its recent peak, so that a later, larger request finds
 *      them (mimalloc-bench's malloc-large, 20 live buffers of 5..25 MiB:
 *      1.76 million faults and 33 s when they were dropped, 0.13 million
 *      and 11 s when kept, peak RSS 411 -> 538 MiB, glibc 522..534; the
 *      huge pages of big mappings, below, then took it to 2.4 s); beyond
 *      the peak, if more than max(request / 8, SLACK_KEEP) of them may be
 *      resident, they are dropped with madvise (the mapping keeps its
 *      address space, so the block can still grow in place);
 *   2. else the cached mapping with the most pages that may be resident is
 *      grown to the request with mremap (in place, or moved onto a new
 *      mapping: its pages move, nothing is copied or faulted in again);
 *   3. else a new mapping.
 * So a program that frees and allocates big buffers of varying sizes (a
 * database's sort memory, image buffers; mimalloc-bench's malloc-large)
 * keeps reusing the pages it has, as glibc does by raising its mmap
 * threshold and tcmalloc and mimalloc by caching spans.
 *
 * What the cache may hold is bounded by what the process recently used
 * (the answer to "a cache of 64 MiB per process, paid N times by a server of
 * N processes"): `committed` counts, per record, the bytes that may be
 * resident; their sum over live blocks is the use; the cache may hold
 * committed bytes up to the highest use of the last one to two decay
 * periods minus the use now (so live blocks plus cache never exceed the
 * recent peak), beyond a floor no more than twice the use now (the floor
 * is a quarter of LARGE_CACHE while the recent peak stays within it, 2 MiB
 * after a bigger phase, unless phases come back: window_roll_locked;
 * cache_budget_locked), and never more than LARGE_CACHE.  A mapping unused for
 * LARGE_DECAY_MS is unmapped at the next large call; that call (at most
 * every TICK_MS) also lets the arena reserve decay (arena.c), so a process
 * that goes idle gives back its caches at its next large call, and
 * malloc_trim() at once.  A new arena takes its room from the cache first
 * (_pm_large_cache_yield).  A cached mapping keeps its record and page map
 * entry, marked PM_LARGE_CACHED, so a second free of it is caught.
 * realloc grows a mapping with mremap, in place or onto a new mapping made
 * and indexed first (base/os.h, _pm_os_remap): the pages move, nothing is copied.
 *
 * Lock order: the cache lock is a leaf.  Records are allocated before and
 * freed after it is held, and system calls are made outside it.
 */
#define _GNU_SOURCE   /* PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP */
#include "arenas/arenas.h"

#include <errno.h>
#include <string.h>

#define TICK_MS 100                     /* clock-driven work at most this often */
#define SLACK_KEEP ((size_t)2 << 20)    /* resident slack a reused mapping may keep */
#define GROW_MIN ((size_t)64 << 10)     /* a smaller cached mapping worth growing holds this much */
#define HUGE_MIN ((size_t)4 << 20)      /* mappings this big use transparent huge pages */
#define HUGE_ALIGN ((size_t)2 << 20)    /* the huge page */
/* Strict mode: a guard page after every large block, which ends at it. */
#define GUARD (PM_STRICT ? PM_PAGE_SIZE : 0)

/* A record keeps its pointers into the mapping mangled with the secret of
 * safe linking (pools/pools.h, pm_block_s).  Memcheck's leak check scans
 * records, which are defined allocator memory, and would count a plain
 * pointer there as a reference to the block, hiding its leak; and a record
 * that a wild write
 * ever reached (records are out of the program's reach, meta.c) still
 * could not be aimed at memory of the writer's choosing. */
static inline char *rec_user(const pm_large_t *r) { return (char *)(r->user_x ^ _pm_secret); }
static inline char *rec_base(const pm_large_t *r) { return (char *)(r->base_x ^ _pm_secret); }
static inline void rec_set(pm_large_t *r, char *user, char *base)
{
    r->user_x = (uintptr_t)user ^ _pm_secret;
    r->base_x = (uintptr_t)base ^ _pm_secret;
}
static inline size_t rec_offset(const pm_large_t *r) { return (size_t)(rec_user(r) - rec_base(r)); }
static inline size_t rec_usable(const pm_large_t *r)
{
    return r->map_size - GUARD - rec_offset(r);
}

static pm_meta_kind_t large_records = PM_META_KIND(sizeof(pm_large_t));

#define SLOT_MAP_MAX ((size_t)1 << 20)    /* the largest mapping a slot takes */
/* Slot classes: the sizes the slots are filed by, in pages, four to each
 * doubling (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, ... 256: class
 * 4s + q - 1 is q << s pages, q in 4..7; below 4 pages, class p - 1),
 * SLOT_CLASSES of them up to SLOT_MAP_MAX.  A new mapping of at most
 * SLOT_MAP_MAX bytes is made its request's class's size (slot_map_size:
 * at most a quarter more address space, which stays out of memory until
 * it is written), so that once freed it serves the next request of its
 * class; a mapping of another size (grown or shrunk by realloc, reused
 * from the cache) is filed under the largest class it holds.  So a
 * request pops the newest mapping of its own class, with no search, or
 * when that class is empty, of the nearest class above it (up to a
 * doubling).  A best fit over the sizes of 16 slots took two threads that
 * each keep 8 buffers of random sizes from 64 to 192 KiB (request_buffers)
 * 43% of their time: 197 instructions a pair with the loop's own, 7.25 ns
 * (tcmalloc 2.1); with the classes, 161 and 5.3 ns.  A loop over one 64
 * KiB buffer costs 145 instructions a pair, 143 before. */
#define SLOT_CLASSES 28
#define SLOT_FIT_CLASSES 4      /* classes above its own a request may take */
/* The largest class of at most `pages` pages (1..256), and the smallest
 * of at least that many: s = floor(log2(pages)) - 2 (0 below 4 pages),
 * then 4s + (pages >> s) - 1, and the same for pages - 1, plus one.  By
 * tables of the 256 answers, filled by the compiler: the slots' malloc
 * and free each found a class with six instructions (a bit scan and
 * shifts), now two. */
#define SLOT_LOG2(p) ((p) >= 128 ? 7 : (p) >= 64 ? 6 : (p) >= 32 ? 5 : (p) >= 16 ? 4 : (p) >= 8 ? 3 : 2)
#define SLOT_DOWN(p) (4 * (SLOT_LOG2(p) - 2) + ((p) >> (SLOT_LOG2(p) - 2)) - 1)
#define SLOT_DOWN_OF(p) ((p) >= 256 ? SLOT_CLASSES - 1 : (p) == 0 ? 0 : SLOT_DOWN(p))
#define SLOT_UP_OF(p) ((p) <= 1 ? 0 : SLOT_DOWN_OF((p) - 1) + 1)
#define SLOT_T1(f, p) f(p),
#define SLOT_T4(f, p) SLOT_T1(f, p) SLOT_T1(f, (p) + 1) SLOT_T1(f, (p) + 2) SLOT_T1(f, (p) + 3)
#define SLOT_T16(f, p) SLOT_T4(f, p) SLOT_T4(f, (p) + 4) SLOT_T4(f, (p) + 8) SLOT_T4(f, (p) + 12)
#define SLOT_T64(f, p) SLOT_T16(f, p) SLOT_T16(f, (p) + 16) SLOT_T16(f, (p) + 32) SLOT_T16(f, (p) + 48)
#define SLOT_T256(f) SLOT_T64(f, 0) SLOT_T64(f, 64) SLOT_T64(f, 128) SLOT_T64(f, 192)
static const uint8_t slot_down_of[257] = {SLOT_T256(SLOT_DOWN_OF) SLOT_CLASSES - 1};
static const uint8_t slot_up_of[257] = {SLOT_T256(SLOT_UP_OF) SLOT_CLASSES - 1};
static inline unsigned slot_class_down(size_t pages) { return slot_down_of[pages]; }
static inline unsigned slot_class_up(size_t pages) { return slot_up_of[pages]; }
static inline size_t slot_class_pages(unsigned c)
{
    if (c < 3)
        return c + 1;
    unsigned s = (c + 1) / 4 - 1;
    return (size_t)(c + 1 - 4 * s) << s;
}
/* The bytes of a new mapping for a request of need bytes (whole pages, at
 * most SLOT_MAP_MAX): its class's. */
static inline size_t slot_map_size(size_t need)
{
    return slot_class_pages(slot_class_up(need / PM_PAGE_SIZE)) * PM_PAGE_SIZE;
}
_Static_assert(SLOT_MAP_MAX / PM_PAGE_SIZE == 256 && SLOT_CLASSES == 4 * 6 + 4,
               "classes 0..3, then 4 for each doubling from 4 to 256 pages");

/* The cache's lists, each newest first (through the records' next and
 * prev): a plain mapping (user == base, as all the slots' are) of at most
 * SLOT_MAP_MAX bytes in the list of its slot class (slot_class_down), any
 * other (bigger, or an over-aligned block's) in the last, CACHE_OTHER.  A
 * request looks at a few classes' newest and at every other one
 * (cache_choose_locked), so the cache may hold many small mappings
 * (CACHE_MAX_ENTRIES in all, at most OTHER_MAX others): with one list of
 * at most 128, a program that made 1000 buffers of 64 KiB, freed them all
 * and made them again unmapped and faulted in 872 of them each round even
 * with LARGE_CACHE at 1 GiB (24 us a buffer, against 1.6 with them kept;
 * tcmalloc 1.4).  65536 entries, 4 MiB of records at most: the bytes bound
 * the cache (cache_budget_locked), the count only its records; at 4096,
 * rounds of 20,000 buffers of 64..96 KiB (a server's connections) unmapped
 * 16,000 of them a round whatever the budget. */
#define CACHE_OTHER SLOT_CLASSES
#define CACHE_LISTS (SLOT_CLASSES + 1)
#define CACHE_MAX_ENTRIES 65536
#define OTHER_MAX 128

/* Adaptive: it spins a little before it sleeps.  Held for a few hundred
 * instructions at most, by a thread that allocates large blocks while
 * another frees them (a producer and a consumer of 32..96 KiB buffers),
 * it made the two sleep and wake each other in the kernel at most calls:
 * 1.7-2.0 us a buffer, 0.36-0.46 adaptive (with the slots' batches below,
 * 0.17-0.76; mimalloc 2 0.23-0.63, snmalloc 0.29-0.46). */
static pthread_mutex_t cache_lock = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static pm_large_t *cache_newest[CACHE_LISTS];
static pm_large_t *cache_oldest[CACHE_LISTS];
static size_t cache_bytes, cache_count; /* mapped by the cached records */
static size_t other_count;              /* in cache_newest[CACHE_OTHER]'s list */
static uint32_t cache_lists_used;       /* bit l: list l is not empty */
_Static_assert(CACHE_LISTS <= 32, "a bit for each list");
static size_t cache_committed;          /* of which may be resident (sum of committed) */
static _Atomic uint64_t cache_tick_ms;  /* last clock-driven pass (cache_shrink, arena reserve);
                                           written under cache_lock, read without it by slot_clock */

/* Recent use.  Invariant: use_locked + use_unlocked (modulo 2^64) == sum
 * of committed over live records.  A malloc or free served by the cache
 * changes use_locked under cache_lock; what changes it without the lock
 * (realloc, new mappings, madvise, failures: all rarer, most with a
 * system call) goes to use_unlocked, atomically; so the common pair costs
 * no extra atomic operation.  use_peak is its recent peak (arenas.h),
 * over windows of LARGE_DECAY_MS. */
static size_t use_locked;
static _Atomic size_t use_unlocked;
static pm_recent_peak_t use_peak;

static inline size_t use_now_locked(void)
{
    return use_locked + atomic_load_explicit(&use_unlocked, memory_order_relaxed);
}
static inline void use_add(size_t n) { atomic_fetch_add_explicit(&use_unlocked, n, memory_order_relaxed); }
static inline void use_sub(size_t n) { atomic_fetch_sub_explicit(&use_unlocked, n, memory_order_relaxed); }

/* The cache's share of the large counters (_pm_counters: large_allocs,
 * large_hits, large_frees, large_live_bytes, the last modulo 2^64): only
 * cache_lock's holder writes them, with a plain load and store (no atomic
 * read-modify-write), and the statistics add them to _pm_counters' own
 * (_pm_large_cache_counts), so that reading takes no lock; helgrind and
 * drd, which take the plain stores for races, are told
 * (_pm_large_vg_init).  Five atomic additions a malloc+free pair through
 * the cache took 40% of a loop over one 2 MiB block (73 ns a pair; 46
 * with these, most of it now the lock's two pairs).  (Folded into
 * _pm_counters under the lock when read instead, they made pm_stats_get
 * and mallinfo take the cache's lock.) */
static struct {
    _Atomic uint64_t hits, frees, live;   /* a hit is an allocation too */
} cache_counts;

static inline void cache_count_locked(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void _pm_large_vg_init(void) { PM_VG_ATOMIC_WORDS(&cache_counts, sizeof cache_counts); }

void _pm_large_cache_counts(uint64_t *hits, uint64_t *frees, uint64_t *live)
{
    *hits = atomic_load_explicit(&cache_counts.hits, memory_order_relaxed);
    *frees = atomic_load_explicit(&cache_counts.frees, memory_order_relaxed);
    *live = atomic_load_explicit(&cache_counts.live, memory_order_relaxed);
}

static inline size_t round_pages(size_t n, bool *overflow)
{
    size_t r = (n + PM_PAGE_SIZE - 1) & ~(PM_PAGE_SIZE - 1);
    *overflow = r < n || r > (size_t)PTRDIFF_MAX;
    return r;
}

/* The live block r may now be used up to size bytes (size <= usable). */
static void rec_commit(pm_large_t *r, size_t size)
{
    size_t end = rec_offset(r) + ((size + PM_PAGE_SIZE - 1) & ~(PM_PAGE_SIZE - 1));
    if (end > r->map_size)
        end = r->map_size;
    if (end > r->committed) {
        use_add(end - r->committed);
        r->committed = end;
    }
}

/* Phases that come back.  A big phase (a recent peak above a quarter of
 * LARGE_CACHE) drops when the use falls further below the peak than that
 * quarter, or than half the peak if that is less; the drop's low point is
 * the least use since.  (Half the peak: with the quarter alone, a peak
 * just above it had to fall to near nothing to count as a drop, while
 * the rule of twice the live blocks already gave back what a fall below
 * a third of it freed.  pm_bench's buffer_handoff with a third process on
 * the two cores: the consumer, descheduled, let 16-18 MiB of buffers pile
 * up, drained them in its time slice, and the producer mapped and faulted
 * in most of them again, every slice: 139 us a buffer, 3.1 since; and
 * calloc_sparse, a 16 MiB block made and freed over and over, was
 * unmapped at every free: 118 us, 68 since.  unit_large_reuse, 11b.)
 * When the use climbs back over half-way from that low point to the peak
 * within LARGE_DECAY_MS of the drop, the program rebuilds what it drops (a loop
 * that makes a thousand
 * buffers, frees them all and makes them again; a server's requests one
 * after the other), and for CYCLE_HOLD decay periods from then the cache
 * keeps what the phases free, up to CYCLE_CAP times LARGE_CACHE or the
 * recent peak, whichever is more (cache_budget_locked), within the recent
 * peak and the decay (capped at 4 x 64 MiB, rounds of 20,000 buffers of
 * 64..96 KiB, 1.6 GB, unmapped and faulted in most of them again every
 * round: 236 us a buffer written whole, 3-6 us with the peak kept, whose
 * pages the next round reuses; peak RSS 1656 -> 1754 MB, glibc 1603,
 * tcmalloc 1696): a round of
 * 1000 buffers of 32..96 KiB is 62 MB (72 MB of mappings), and with 64 MiB
 * kept a round faulted in most of them again (5.1 us a buffer; 216 ns with
 * them all kept, tcmalloc 148, mimalloc 3 143).  The low point is
 * measured, not assumed: a program that keeps one buffer in five from
 * round to round never fell below an eighth of its peak, the test this
 * replaces, and faulted in its whole round again every time (116 us a
 * buffer, tcmalloc 0.24).  A process that ends one big phase and then
 * waits (a PostgreSQL backend after its sort) never qualifies, and keeps
 * SLACK_KEEP.  Seen by every call that takes the cache's lock (the misses
 * of a rebuild look at the cache first). */
#define CYCLE_HOLD 10
#define CYCLE_CAP 4   /* times LARGE_CACHE that such phases may keep */
static pm_phases_t phases;        /* of the use (arenas.h) */

static void window_roll_locked(uint64_t now)
{
    uint64_t decay = (uint64_t)_pm_option_values[PM_OPTION_LARGE_DECAY_MS];
    size_t use = use_now_locked();
    pm_peak_roll(&use_peak, now, decay, use);
    size_t peak = pm_peak_get(&use_peak);
    size_t quarter = (size_t)_pm_option_values[PM_OPTION_LARGE_CACHE] / 4;
    if (peak > quarter)
        pm_phases_watch(&phases, now, use, peak, quarter < peak / 2 ? quarter : peak / 2, decay,
                        CYCLE_HOLD);
}

static inline bool cycling_locked(uint64_t now) { return pm_phases_cycling(&phases, now); }

/* Committed bytes the cache may hold now: the recent peak of use less the
 * use now; no more than twice the use now or a floor, whichever is more;
 * and at most LARGE_CACHE.  The floor is a quarter of LARGE_CACHE while
 * the recent peak stays within it, and SLACK_KEEP (or less) once it went
 * beyond.  So a loop over one buffer of up to 16 MiB (by default) keeps
 * it, bigger buffers are kept while the process holds half as much in live
 * ones (big_churn: a freed 25 MiB block with three of 5 MiB still live),
 * and a process that has just freed all its large blocks after using more
 * than the quarter (a server after a big query: a PostgreSQL backend's
 * sort) keeps SLACK_KEEP, not the quarter: it may make no large call for
 * a long time, and a server of N such processes would pay the quarter N
 * times (bench/pg_backend_rss.sh: 32.0 MB resident after the sort, against
 * glibc's 16.1).  Once the big phase has left the window (one to two decay
 * periods), the quarter is back.  While phases come back (window_roll_locked)
 * the floor is LARGE_CACHE itself. */
/* The bytes all threads' slots hold, as each last told (slot_bytes_tell).
 * A forked child keeps the other threads' share, which its slots do not
 * hold: its cache's budget is then only smaller. */
static _Atomic size_t slot_bytes_all;

static size_t cache_budget_locked(uint64_t now)
{
    size_t use = use_now_locked();
    size_t peak = pm_peak_get(&use_peak);
    size_t budget = peak > use ? peak - use : 0;
    size_t cap = (size_t)_pm_option_values[PM_OPTION_LARGE_CACHE];
    size_t floor = cap / 4;
    if (cycling_locked(now)) {   /* phases that come back: all they free, up to the more of these */
        cap *= CYCLE_CAP;
        floor = cap = peak > cap ? peak : cap;
    } else if (peak > floor && floor > SLACK_KEEP)
        floor = SLACK_KEEP;
    /* What the threads' slots hold counts as use (it is not in the cache),
     * but not towards twice the use: freed mappings waiting there would
     * otherwise let the cache keep twice as much again (a PostgreSQL
     * backend after its sort, bench/pg_backend_rss.sh: 25.9 MB resident
     * with 3 MiB of slots counted, 21.6 without; 21.8 with 2 MiB of slots
     * counted; glibc 16.0). */
    size_t slots = atomic_load_explicit(&slot_bytes_all, memory_order_relaxed);
    size_t live = use > slots ? use - slots : 0;
    size_t by_use = 2 * live > floor ? 2 * live : floor;
    if (budget > by_use)
        budget = by_use;
    return budget < cap ? budget : cap;
}

static void cache_counters_locked(void)
{
    atomic_store_explicit(&_pm_counters.large_cached_bytes, cache_bytes, memory_order_relaxed);
    atomic_store_explicit(&_pm_counters.large_cached_count, cache_count, memory_order_relaxed);
}

/* The list r is filed in while cached (its mapping and offset do not
 * change there). */
static inline unsigned cache_list_of(const pm_large_t *r)
{
    return r->map_size <= SLOT_MAP_MAX && rec_offset(r) == 0 ? slot_class_down(r->map_size / PM_PAGE_SIZE)
                                                             : CACHE_OTHER;
}

/* The time r entered the cache is kept modulo 2^31 ms (24 days): its age
 * now, and whether it entered before q, read modulo that too. */
#define FREED_MS_MASK 0x7fffffffu
static inline uint32_t freed_age(const pm_large_t *r, uint64_t now)
{
    return ((uint32_t)now - r->freed_ms) & FREED_MS_MASK;
}
static inline bool freed_before(const pm_large_t *r, const pm_large_t *q)
{
    return (((uint32_t)r->freed_ms - q->freed_ms) & FREED_MS_MASK) > FREED_MS_MASK / 2;
}

static void cache_link_locked(pm_large_t *r, uint64_t now)
{
    unsigned l = cache_list_of(r);
    r->magic = PM_LARGE_CACHED;
    r->freed_ms = (uint32_t)now & FREED_MS_MASK;
    r->prev = NULL;
    r->next = cache_newest[l];
    if (r->next)
        r->next->prev = r;
    else
        cache_oldest[l] = r;
    cache_newest[l] = r;
    cache_lists_used |= (uint32_t)1 << l;
    cache_bytes += r->map_size;
    cache_committed += r->committed;
    cache_count++;
    other_count += l == CACHE_OTHER;
    cache_counters_locked();
}

static void cache_unlink_locked(pm_large_t *r)
{
    unsigned l = cache_list_of(r);
    PM_UNLINK_CHECK(r, cache_newest[l], "large cache");
    if (r->prev)
        r->prev->next = r->next;
    else
        cache_newest[l] = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        cache_oldest[l] = r->prev;
    if (!cache_newest[l])
        cache_lists_used &= ~((uint32_t)1 << l);
    r->next = r->prev = NULL;
    cache_bytes -= r->map_size;
    cache_committed -= r->committed;
    cache_count--;
    other_count -= l == CACHE_OTHER;
    cache_counters_locked();
}

/* The record freed first of all the lists' (NULL if the cache is empty):
 * the oldest of their oldest (times modulo 2^32). */
static pm_large_t *cache_first_freed_locked(void)
{
    pm_large_t *old = NULL;
    for (uint32_t m = cache_lists_used; m; m &= m - 1) {
        pm_large_t *r = cache_oldest[__builtin_ctz(m)];
        if (!old || freed_before(r, old))
            old = r;
    }
    return old;
}

/* Evicted mappings of at most PENDING_MAP_MAX bytes wait here (out of the
 * cache, the page map and the counts: counted as released) until
 * PENDING_COUNT of them or PENDING_BYTES are waiting, the next clock pass
 * (cache_tick_locked) or malloc_trim, and are then unmapped together, one
 * munmap per run of neighbours (base/os.h): mappings made one after the
 * other are mostly neighbours, which the kernel keeps as one area, and an
 * munmap of one of them split that area each time.  10,000 blocks of 32
 * KiB allocated, then freed: half of the time was munmap. */
#define PENDING_COUNT 16
#define PENDING_BYTES ((size_t)2 << 20)
#define PENDING_MAP_MAX ((size_t)1 << 20)
static pm_large_t *pending;     /* linked by next; under cache_lock */
static unsigned pending_count;
static size_t pending_bytes;

/* Moves the waiting mappings onto *out, to be unmapped after unlocking. */
static void pending_take_locked(pm_large_t **out)
{
    while (pending) {
        pm_large_t *r = pending;
        pending = r->next;
        r->next = *out;
        *out = r;
    }
    pending_count = 0;
    pending_bytes = 0;
}

/* Record r's mapping leaves poolmalloc: out of the page map, no longer
 * live, counted as released (it is unmapped now or with the next batch). */
static void rec_retire(pm_large_t *r)
{
    _pm_pagemap_set(rec_user(r), 1, 0);
    r->magic = 0;
    atomic_fetch_add_explicit(&_pm_counters.large_released, 1, memory_order_relaxed);
}

/* Takes r out of the cache and the page map; the caller unmaps it after
 * unlocking (it is put on *out, linked by next), now or with the next
 * batch of small ones (pending, above). */
static void cache_evict_locked(pm_large_t *r, pm_large_t **out)
{
    cache_unlink_locked(r);
    rec_retire(r);
    if (r->map_size <= PENDING_MAP_MAX) {
        r->next = pending;
        pending = r;
        pending_bytes += r->map_size;
        if (++pending_count >= PENDING_COUNT || pending_bytes >= PENDING_BYTES)
            pending_take_locked(out);
        return;
    }
    r->next = *out;
    *out = r;
}

/* Evicts, oldest first, what is over the budget or the entry bounds, and
 * what has been unused for the decay time. */
static void cache_shrink_locked(pm_large_t **out, uint64_t now)
{
    uint32_t decay = (uint32_t)_pm_option_values[PM_OPTION_LARGE_DECAY_MS];
    bool none = _pm_option_values[PM_OPTION_LARGE_CACHE] == 0;
    size_t budget = cache_budget_locked(now);
    while (other_count > OTHER_MAX)
        cache_evict_locked(cache_oldest[CACHE_OTHER], out);
    for (pm_large_t *old; (old = cache_first_freed_locked()) != NULL;) {
        if (!(cache_committed > budget || cache_count > CACHE_MAX_ENTRIES || none ||
              freed_age(old, now) >= decay))
            break;
        cache_evict_locked(old, out);
    }
}

/* A new arena: the heap of small and medium blocks grows by `bytes`, and
 * the process's resident memory with it.  Cached mappings are memory it
 * does not use: they go first, oldest first, at least `bytes` of their
 * committed bytes (whole mappings), and are unmapped now, not with the
 * next batch.  The cache's budget counts large blocks only, so without
 * this a big block freed before the heap grows stayed resident through
 * that growth: sqlite (a 16 MiB block freed, 4.8 MB of it written, then
 * 40 MB of medium blocks) peaked at 79.9 MB with it cached (glibc 69).  A
 * mapping waiting in a thread's slots is not the cache's and stays. */
static void unmap_list(pm_large_t *list);

void _pm_large_cache_yield(size_t bytes)
{
    pm_large_t *out = NULL;   /* (the lock at every new arena: beside its mmap, nothing) */
    size_t gone = 0;
    pm_mutex_lock(&cache_lock);
    for (pm_large_t *old; gone < bytes && (old = cache_first_freed_locked()) != NULL;) {
        gone += old->committed;
        cache_evict_locked(old, &out);
    }
    pending_take_locked(&out);   /* out now, with what waited for a batch */
    pm_mutex_unlock(&cache_lock);
    unmap_list(out);
}

/* ---- retained ranges ----
 * Every large block is a mapping of its own, and the kernel gives a
 * process at most vm.max_map_count areas (65530 by default): mappings made
 * one after the other merge into one area, but each one unmapped between
 * live neighbours splits it.  A program that kept 200,000 blocks of 20 KiB,
 * freed every other one and allocated blocks of 24 KiB in their place got
 * NULL from malloc after 7,000 of them (munmap had failed with ENOMEM
 * 34,000 times, each time leaking the mapping, then mmap failed), where
 * glibc, tcmalloc and mimalloc went on.  So while the process holds more
 * than _pm_large_retain_from large mappings (live, in slots, cached), and
 * whenever munmap fails, a mapping that leaves is not unmapped: its pages
 * go back (madvise), and its range, still mapped (no split), waits here
 * for a new mapping of about its size, which then needs no system call
 * (jemalloc retains the address space it unmaps on 64-bit Linux, by
 * default, for the same reason).  A range waits under its own record
 * (magic PM_LARGE_RETAINED, out of the page map, not counted as live nor
 * cached), in a list of its slot class, or the last for the bigger ones;
 * the clock gives them back to the OS, a batch at a time, once the process
 * holds fewer than half as many mappings; malloc_trim at once.  8192: a
 * program with that many mappings, each freed one a hole, uses a quarter
 * of the default limit. */
size_t _pm_large_retain_from = 8192;
#define RETAIN_RELEASE_BATCH 64
#define RETAIN_SCAN 16   /* bigger ranges looked at for a request */
static pm_large_t *retained[CACHE_LISTS];   /* newest first, linked by next; cache_lock */
static uint32_t retained_used;              /* bit l: retained[l] is not empty */
static size_t retained_bytes;
static _Atomic size_t retained_count;       /* written under cache_lock */
/* Large mappings held (live, in slots, cached or pending), retained ranges
 * aside: + 1 when a new block's mapping is made or a range is reused for
 * one, - 1 when one is unmapped or retained. */
static _Atomic size_t large_maps;

static inline bool retain_now(void)
{
    return atomic_load_explicit(&large_maps, memory_order_relaxed) > _pm_large_retain_from;
}

void _pm_large_retained(size_t *count, size_t *bytes)
{
    pm_mutex_lock(&cache_lock);
    *count = atomic_load_explicit(&retained_count, memory_order_relaxed);
    *bytes = retained_bytes;
    pm_mutex_unlock(&cache_lock);
}

/* Range [base, base + size), mapped, its pages given back, waits under
 * record r (not in the page map). */
static void retained_put_locked(pm_large_t *r, char *base, size_t size)
{
    unsigned l = size <= SLOT_MAP_MAX ? slot_class_down(size / PM_PAGE_SIZE) : CACHE_OTHER;
    r->magic = PM_LARGE_RETAINED;
    rec_set(r, base, base);
    r->map_size = size;
    r->size = 0;
    r->committed = 0;
    r->prev = NULL;
    r->next = retained[l];
    retained[l] = r;
    retained_used |= (uint32_t)1 << l;
    retained_bytes += size;
    atomic_fetch_add_explicit(&retained_count, 1, memory_order_relaxed);
}

static pm_large_t *retained_unlink_locked(unsigned l, pm_large_t **link)
{
    pm_large_t *r = *link;
    *link = r->next;
    if (!retained[l])
        retained_used &= ~((uint32_t)1 << l);
    retained_bytes -= r->map_size;
    atomic_fetch_sub_explicit(&retained_count, 1, memory_order_relaxed);
    r->next = NULL;
    return r;
}

/* A retained range for a new mapping of map bytes (whole pages), at most
 * twice as big, or NULL: the newest of the request's slot class or of the
 * SLOT_FIT_CLASSES above it (each holds ranges of at least its size), or
 * the smallest of the RETAIN_SCAN newest bigger ones. */
static pm_large_t *retained_take_locked(size_t map)
{
    if (map <= SLOT_MAP_MAX) {
        unsigned c = slot_class_up(map / PM_PAGE_SIZE);
        uint32_t fit = (((uint32_t)1 << (SLOT_FIT_CLASSES + 1)) - 1) << c;
        uint32_t m = retained_used & fit & (((uint32_t)1 << SLOT_CLASSES) - 1);
        if (!m)
            return NULL;
        unsigned l = (unsigned)__builtin_ctz(m);
        return retained_unlink_locked(l, &retained[l]);
    }
    pm_large_t **best = NULL;
    unsigned seen = 0;
    for (pm_large_t **l = &retained[CACHE_OTHER]; *l && seen < RETAIN_SCAN; l = &(*l)->next, seen++)
        if ((*l)->map_size >= map && (*l)->map_size - map <= map &&
            (!best || (*l)->map_size < (*best)->map_size))
            best = l;
    return best ? retained_unlink_locked(CACHE_OTHER, best) : NULL;
}

/* Retains the n ranges addrs[i], sizes[i] (mapped, pages given back) under
 * the records of list, or new ones (list runs out: munmap failed); a range
 * that finds no record stays mapped, out of reach (its pages are back, its
 * address space is lost). */
static void retain_ranges(pm_large_t *list, void **addrs, size_t *sizes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        pm_large_t *r = list;
        if (r)
            list = r->next;
        else if (!(r = _pm_meta_alloc(&large_records)))
            continue;
        pm_mutex_lock(&cache_lock);
        retained_put_locked(r, addrs[i], sizes[i]);
        pm_mutex_unlock(&cache_lock);
    }
    while (list) {
        pm_large_t *next = list->next;
        _pm_meta_free(&large_records, list);
        list = next;
    }
}

/* Unmaps the mappings of list (counted as released already), UNMAP_RUN
 * at a time with one munmap per run of neighbours, and frees their
 * records; or retains them (above): all of them while the process holds
 * many mappings, those munmap refused otherwise. */
#define UNMAP_RUN 32
static void unmap_list(pm_large_t *list)
{
    while (list) {
        void *addrs[UNMAP_RUN];
        size_t sizes[UNMAP_RUN];
        size_t n = 0;
        pm_large_t *batch = list;
        bool retain = !PM_STRICT && retain_now();
        for (; list && n < UNMAP_RUN; n++) {
            pm_large_t *next = list->next;
            addrs[n] = rec_base(list);
            sizes[n] = list->map_size;
            if (retain)
                _pm_os_decommit(addrs[n], sizes[n]);
            else
                _pm_meta_free(&large_records, list);
            if (retain && (!next || n + 1 == UNMAP_RUN))
                list->next = NULL;   /* ends the batch's records */
            list = next;
        }
        atomic_fetch_sub_explicit(&large_maps, n, memory_order_relaxed);
        if (retain)
            retain_ranges(batch, addrs, sizes, n);
        else
            retain_ranges(NULL, addrs, sizes, _pm_os_unmap_sized(addrs, sizes, n));
    }
}

/* A mapping of no record (a new one that could not be used) goes back;
 * retained if munmap refuses. */
static void unmap_or_retain(void *base, size_t size)
{
    if (!_pm_os_unmap(base, size))
        retain_ranges(NULL, &base, &size, 1);
}

/* Gives retained ranges back to the OS once the process holds few
 * mappings: RETAIN_RELEASE_BATCH of them (all: every one).  Those munmap
 * refuses stay. */
static void retained_release(bool all)
{
    if (!atomic_load_explicit(&retained_count, memory_order_relaxed) || retain_now() ||
        atomic_load_explicit(&large_maps, memory_order_relaxed) > _pm_large_retain_from / 2)
        return;
    do {
        void *addrs[RETAIN_RELEASE_BATCH];
        size_t sizes[RETAIN_RELEASE_BATCH];
        pm_large_t *recs = NULL;
        size_t n = 0;
        pm_mutex_lock(&cache_lock);
        for (uint32_t m = retained_used; m && n < RETAIN_RELEASE_BATCH; m &= m - 1) {
            unsigned l = (unsigned)__builtin_ctz(m);
            while (retained[l] && n < RETAIN_RELEASE_BATCH) {
                pm_large_t *r = retained_unlink_locked(l, &retained[l]);
                addrs[n] = rec_base(r);
                sizes[n++] = r->map_size;
                r->next = recs;
                recs = r;
            }
        }
        pm_mutex_unlock(&cache_lock);
        if (!n)
            return;
        size_t failed = _pm_os_unmap_sized(addrs, sizes, n);
        retain_ranges(recs, addrs, sizes, failed);   /* frees the records left over */
        if (failed)
            return;
    } while (all);
}

/* The clock-driven pass, at most every TICK_MS: the cache shrinks (what
 * decayed, what is over the budget, onto *evicted); true when it ran, and
 * then cache_after_locked also lets the arena reserve decay. */
static bool cache_tick_locked(uint64_t now, pm_large_t **evicted)
{
    if (now - cache_tick_ms < TICK_MS)
        return false;
    cache_shrink_locked(evicted, now);
    pending_take_locked(evicted);   /* what waits for a batch waits no longer than this */
    cache_tick_ms = now;
    return true;
}

/* After the cache lock is released: what the clock asked for. */
static void cache_after_locked(pm_large_t *evicted, bool tick)
{
    unmap_list(evicted);
    if (tick)
        retained_release(false);
    if (tick)
        _pm_arena_reserve_decay();
}

/* ---- the thread's slots ----
 * Each thread keeps the last mappings of up to SLOT_MAP_MAX bytes it freed
 * (at most SLOT_COUNT of them, SLOT_BYTES in all) in slots of its own, in
 * front of the cache: a program that allocates and frees buffers of a few
 * sizes in a loop (a per-request buffer, fixed/65536; a handful of them at
 * once) is served with no lock and no clock read.  With one slot, a thread
 * that kept 8 buffers of 64 KiB in turn took the cache's lock at every
 * malloc and free: 54 ns a pair on one thread, 198 on two (the lock's line
 * moving between the cores; tcmalloc 5 and 10, mimalloc 3 53 and 40).
 * Sixteen slots and 2 MiB: with 8 and 1 MiB (or 2), two threads that each
 * keep 8 buffers of random sizes from 64 to 192 KiB (request_buffers)
 * often found none of the right size, and went to the cache's lock:
 * 78 ns a pair (36-40 with 2 MiB), 7.5-7.9 with 16 and 2 MiB, 9 with 16
 * and 4 MiB (mimalloc 3 7.5, tcmalloc 2.5, jemalloc 137).  Thirty-two and
 * 3 MiB since the slot classes (below): with 16 and 2 MiB their frees
 * still pushed mappings out to the cache and their mallocs missed, and
 * the cache's lock, shared by the two threads, made request_buffers read
 * 5-20 ns a pair from run to run; 3.3-3.6 with 32 and 3 MiB (32 and 2:
 * 5.1-6.9; 32 and 4: 3.7-3.9), and its peak RSS 8.3 -> 7.3 MB (fewer
 * mappings made and reused).  A mapping
 * in a slot still counts as used for the cache's budget (use and the
 * recent peak do not change when it goes in or out), but not towards
 * twice the use (slot_bytes_all), and is marked CACHED,
 * so that a second free of it is caught.  It goes to the cache, by the
 * cache's own path, when newer ones push it out (slot_evict_oldest), and
 * when the thread exits or calls malloc_trim (_pm_large_slot_flush); only
 * threads that will flush them at their exit use slots (the caller of
 * _pm_large_free says so).  At most SLOT_BYTES per thread wait there (the
 * one slot held up to 1 MiB before, 16 slots 2 MiB): a thread that stops
 * freeing keeps its last ones, as it would keep its pools. */
#define SLOT_BYTES ((size_t)3 << 20)
/* Sixty-four since the forty-seventh session: with 32, a program that
 * makes 64 blocks of 20 or 32 KiB (1.3-2 MiB) and frees them all, in a
 * loop, found the slots full at the thirty-third free and sent mappings
 * to the cache, whose lock and list every later malloc then took: 31 ns a
 * pair, 9.5 with 64 (tcmalloc about 10); 40 blocks of 64 KiB 17.5 -> 9.5.
 * The bytes (3 MiB) still bound what waits. */
#define SLOT_COUNT 64
/* Full slots give the cache a batch at once (8 mappings, or a quarter of
 * the bytes), under one hold of its lock: with one at a time, a thread
 * that only frees large blocks another one allocates (a consumer) took
 * the cache's lock at every free, against the producer's mallocs.  Eight,
 * as when the count was 32 and the batch a quarter of it. */
#define SLOT_EVICT_BATCH 8
/* The slots' traffic is counted here and added to _pm_counters every
 * SLOT_COUNT_BATCH frees into a slot, at the flush and by pm_stats_get
 * (for the calling thread): five atomic additions per malloc+free pair
 * would cost more than the rest of the pair.  Takes need no test of their
 * own: the slots give out at most SLOT_COUNT mappings more than they were
 * given between two flushes.  256: at 32, the flush's four atomic
 * additions and the clock read (slot_clock) still took 14% of a 64 KiB
 * malloc+free pair's samples (fixed/65536: 6.97 -> 6.25 ns).  1024: at
 * 256, two threads that each keep 8 buffers (request_buffers) spent 6% of
 * their samples in the flush, whose counters' lines the two threads'
 * additions move between the cores (4.95 -> 4.68 ns a pair, medians of
 * 7 interleaved runs; the instructions are the same, 138 a pair). */
#define SLOT_COUNT_BATCH 1024

/* A thread's slots: the mappings waiting, filed by class, each class a
 * list through the records' next, newest first.  A record in a slot is
 * marked CACHED; it is in no cache list (its freed_ms is the cache's, set
 * when it goes there).  When the slots are full, the oldest of the class
 * that took one in least recently goes first (slot_evict_oldest).  Slots are never used in
 * strict mode, so a mapping's usable bytes are its map_size (no guard
 * page, no offset), at most SLOT_MAP_MAX. */
typedef struct large_slot_s {
    pm_large_t *bin[SLOT_CLASSES + SLOT_FIT_CLASSES];   /* the last ones always empty */
    uint32_t seq;               /* one more at every free into the slots */
    /* The count of mappings in the bins is n_synced + (seq - seq_synced)
     * (slot_count): a free into the slots adds to seq alone, a take
     * subtracts from n_synced; slot_count folds seq in. */
    int32_t n_synced;
    uint32_t seq_synced;
    /* Frees into the slots that may go on without slot_put_slow: at most
     * SLOT_COUNT - count and SLOT_COUNT_BATCH - 1 - (seq - seq_then) when it
     * was set (slot_left_set), one less at every free, and left alone by
     * takes, so that it stays at most both (a take only makes room). */
    uint32_t left;
    size_t bytes;               /* map_size of the mappings in the bins */
    /* Slot traffic not yet in _pm_counters (slot_counts_flush): mappings
     * the slots gave the cache less those they took from it (evictions,
     * refills: slot_refill_locked), and their bytes (both modulo 2^32 and
     * 2^64), since the last flush, when seq was seq_then (so seq - seq_then
     * frees came in since) and the slots held n_then mappings of
     * bytes_then. */
    uint32_t to_cache, seq_then, n_then;
    size_t to_cache_bytes, bytes_then;
    /* seq + 1 at the thread's last malloc that the slots missed (0: none
     * yet): a miss that finds it unchanged had no free into the slots
     * since the one before (slot_refill_locked). */
    uint32_t miss_seq;
    size_t bytes_told;          /* bytes as last added to slot_bytes_all */
    uint32_t class_seq[SLOT_CLASSES]; /* seq of the newest mapping each class took in */
} large_slot_t;
static __thread large_slot_t large_slot __attribute__((tls_model("initial-exec")));

/* The slots' bytes of all threads (cache_budget_locked), told by each
 * thread when its counts are flushed and when its slots are full (the
 * case that matters: then they hold SLOT_BYTES or SLOT_COUNT mappings). */
static void slot_bytes_tell(large_slot_t *t)
{
    if (t->bytes != t->bytes_told) {
        atomic_fetch_add_explicit(&slot_bytes_all, t->bytes - t->bytes_told, memory_order_relaxed);
        t->bytes_told = t->bytes;
    }
}

/* The mappings in the bins, with the frees since the last call folded in. */
static inline uint32_t slot_count(large_slot_t *t)
{
    t->n_synced += (int32_t)(t->seq - t->seq_synced);
    t->seq_synced = t->seq;
    return (uint32_t)t->n_synced;
}

/* Sets left from the count and the counts' batch (see large_slot_s). */
static void slot_left_set(large_slot_t *t)
{
    uint32_t by_count = SLOT_COUNT - slot_count(t);
    uint32_t by_batch = SLOT_COUNT_BATCH - 1 - (t->seq - t->seq_then);
    t->left = by_count < by_batch ? by_count : by_batch;
}

/* The takes out of the slots are not counted as they happen: what came in
 * (frees), less what went to the cache net (to_cache), less what stayed
 * (n - n_then), went out to malloc; and the bytes of live blocks changed
 * as the slots' bytes did, the other way, but for those of the traffic
 * with the cache (never live meanwhile). */
static void slot_counts_flush(large_slot_t *t)
{
    slot_bytes_tell(t);
    uint32_t n = slot_count(t);
    uint32_t frees = t->seq - t->seq_then;
    uint32_t takes = frees - t->to_cache - (n - t->n_then);
    size_t live = (t->bytes_then - t->bytes) - t->to_cache_bytes;   /* modulo 2^64 */
    atomic_fetch_add_explicit(&_pm_counters.large_allocs, takes, memory_order_relaxed);
    atomic_fetch_add_explicit(&_pm_counters.large_hits, takes, memory_order_relaxed);
    atomic_fetch_add_explicit(&_pm_counters.large_frees, frees, memory_order_relaxed);
    atomic_fetch_add_explicit(&_pm_counters.large_live_bytes, live, memory_order_relaxed);
    t->to_cache = 0;
    t->seq_then = t->seq;
    t->to_cache_bytes = 0;
    t->n_then = n;
    t->bytes_then = t->bytes;
    slot_left_set(t);
}

static void slot_clock(void);

/* Files rec (marked CACHED, map_size at most SLOT_MAP_MAX) newest in its
 * class; the caller made room and counts it in left. */
static inline void slot_file(large_slot_t *t, pm_large_t *rec, size_t map)
{
    unsigned c = slot_class_down(map / PM_PAGE_SIZE);
    t->class_seq[c] = t->seq;
    rec->next = t->bin[c];
    t->bin[c] = rec;
    t->bytes += map;
}

/* The same for a freed mapping: one more free into the slots. */
static inline void slot_link(large_slot_t *t, pm_large_t *rec, size_t map)
{
    slot_file(t, rec, map);
    t->seq++;
}

/* Takes the record at *link out of its class. */
static inline pm_large_t *slot_unlink(large_slot_t *t, pm_large_t **link)
{
    pm_large_t *rec = *link;
    *link = rec->next;
    t->n_synced--;
    t->bytes -= rec->map_size;
    return rec;
}

/* Bit c: class c of the slots holds a record.  Found once for a batch of
 * evictions (slot_evict_oldest keeps it), not kept at every free. */
static uint32_t slot_classes_held(const large_slot_t *t)
{
    uint32_t held = 0;
    for (unsigned c = 0; c < SLOT_CLASSES; c++)
        held |= (uint32_t)(t->bin[c] != NULL) << c;
    return held;
}

/* The record that goes first when the slots are full: the oldest of the
 * class that took one in least recently (held: slot_classes_held, not 0;
 * seqs may wrap), found from the thread's own counts and then at the end
 * of that class's list.  The oldest record of all, by a scan of every
 * record's seq, read all 32 of them at every free once the slots were
 * full: a third of the time of a program that frees 1000 buffers of
 * 32..96 KiB in a row (buffer_rounds); keeping each class's oldest at
 * every free instead cost a loop over 8 buffers of 64..192 KiB 7%.  Only
 * the classes that hold records are compared: a scan of all 28 for each
 * of a batch's 8 evictions made free cost 384 instructions a buffer in a
 * loop of buffer_rounds' rounds, 292 now (callgrind).  Taken out of the
 * slots, on its way to the cache; held loses its class when that class
 * empties. */
static pm_large_t *slot_evict_oldest(large_slot_t *t, uint32_t *held)
{
    unsigned old = (unsigned)__builtin_ctz(*held);
    for (uint32_t m = *held & (*held - 1); m; m &= m - 1) {
        unsigned c = (unsigned)__builtin_ctz(m);
        if ((int32_t)(t->class_seq[c] - t->class_seq[old]) < 0)
            old = c;
    }
    pm_large_t **l = &t->bin[old];
    while ((*l)->next)
        l = &(*l)->next;
    pm_large_t *rec = slot_unlink(t, l);
    if (!t->bin[old])
        *held &= ~((uint32_t)1 << old);
    t->to_cache++;
    t->to_cache_bytes += rec->map_size;
    return rec;
}

/* The link to the record that serves a request of need bytes (whole
 * pages, at most SLOT_MAP_MAX) aligned to align (a power of two above a
 * page): the one with the fewest bytes, if it wastes at most the request
 * or is no bigger than a new mapping for it would be (a whole alignment:
 * large_map_new); else NULL.  Without the second, the mapping that a loop
 * of posix_memalign(64 KiB, 5000) and free made was never taken back from
 * the slots, and every call went to the cache's lock: 105 ns a pair,
 * against 26 with it (BENCHMARKS, "Forty-sixth session").  Only
 * over-aligned requests search; the others pop a class. */
static pm_large_t **slot_find_aligned(large_slot_t *t, size_t need, size_t align)
{
    pm_large_t **best = NULL;
    size_t fresh = (need + align - 1) & ~(align - 1);
    for (unsigned c = slot_class_down(need / PM_PAGE_SIZE); c < SLOT_CLASSES; c++)
        for (pm_large_t **l = &t->bin[c]; *l; l = &(*l)->next) {
            size_t map = (*l)->map_size;
            if (map >= need && (map - need <= need || map <= fresh) &&
                ((uintptr_t)rec_user(*l) & (align - 1)) == 0 && (!best || map < (*best)->map_size))
                best = l;
        }
    return best;
}

/* For a request of need bytes (whole pages) of class c: the nearest class
 * up to SLOT_FIT_CLASSES above c whose newest record wastes at most the
 * request, else SLOT_CLASSES.  Looked at with no jump (GCC makes
 * conditional moves of the loop). */
static inline unsigned slot_class_above(const large_slot_t *t, unsigned c, size_t need)
{
    unsigned k = SLOT_CLASSES;
    for (unsigned j = SLOT_FIT_CLASSES; j > 0; j--)
        k = t->bin[c + j] ? c + j : k;
    return k < SLOT_CLASSES && t->bin[k]->map_size - need <= need ? k : SLOT_CLASSES;
}

/* The class of the newest record that serves that request: c itself if it
 * holds one, else slot_class_above's. */
static inline unsigned slot_class_fit(const large_slot_t *t, unsigned c, size_t need)
{
    return t->bin[c] ? c : slot_class_above(t, c, need);
}

/* The link to a record that serves a request of need bytes (whole pages)
 * aligned to align (at least a page), or NULL. */
static pm_large_t **slot_find(large_slot_t *t, size_t need, size_t align)
{
    if (need - 1 >= SLOT_MAP_MAX)   /* more than any slot holds, or the size wrapped */
        return NULL;
    if (align > PM_PAGE_SIZE)
        return slot_find_aligned(t, need, align);
    unsigned k = slot_class_fit(t, slot_class_up(need / PM_PAGE_SIZE), need);
    return k < SLOT_CLASSES ? &t->bin[k] : NULL;
}

/* Hands out rec, just taken out of the slots, for a request of size
 * bytes, need of them in whole pages. */
static inline void *slot_hand_out(pm_large_t *rec, size_t size, size_t need)
{
    rec->magic = PM_LARGE_LIVE;
    rec->size = size;
    if (need > rec->committed)   /* no offset: slots are never used in strict mode */
        rec_commit(rec, size);
    return rec_user(rec);
}

/* A class above the request's (c, empty), or miss(size). */
static PM_NOINLINE void *slot_take_above(large_slot_t *t, unsigned c, size_t size, size_t need,
                                         void *(*miss)(size_t))
{
    unsigned k = slot_class_above(t, c, need);
    return k < SLOT_CLASSES ? slot_hand_out(slot_unlink(t, &t->bin[k]), size, need) : miss(size);
}

void *_pm_large_slot_take(size_t size, void *(*miss)(size_t))
{
    large_slot_t *t = &large_slot;
    size_t need = (size + PM_PAGE_SIZE - 1) & ~(PM_PAGE_SIZE - 1);
    if (need - 1 >= SLOT_MAP_MAX)   /* more than any slot holds, or the size wrapped */
        return miss(size);
    /* The newest of the request's class: a loop over one buffer reuses it.
     * A jump, not conditional moves over the classes (or a mask of those
     * not empty): a loop over buffers of one size then waits for no test
     * (fixed/65536: 6.1 ns a pair with a mask, 5.0 with the jump, which
     * request_buffers mispredicts for a third of its mallocs: 5.3 ns
     * against the mask's 5.2). */
    unsigned c = slot_class_up(need / PM_PAGE_SIZE);
    if (pm_unlikely(t->bin[c] == NULL))
        return slot_take_above(t, c, size, need, miss);
    return slot_hand_out(slot_unlink(t, &t->bin[c]), size, need);
}

/* Transparent huge pages (POOLMALLOC_LARGE_THP): a mapping of HUGE_MIN
 * bytes or more starts on a huge page boundary and asks for huge pages
 * (mimalloc 3 does the same for its segments).  A program writes such a
 * block in 2 MiB faults instead of 4 KiB ones, with a TLB entry per 2 MiB:
 * mimalloc-bench's malloc-large (20 live buffers of 5..25 MiB, each
 * written whole) went from 10.8 s to 2.4 s, 134 000 faults to 29 000, its
 * peak RSS unchanged (538 MiB; glibc 534).  Only what is touched becomes
 * resident, but in steps of 2 MiB: a program that touches a few bytes of
 * each of many 4 MiB blocks pays up to 2 MiB for each; it can set
 * POOLMALLOC_LARGE_THP=0.  A mapping that grows by moving goes to a new
 * place with the same alignment, so that mremap moves its huge pages whole
 * (a move to any other address splits them into 4 KiB pages, which is what
 * made growing slower than a fresh mapping).
 * Only once big blocks come and go: a mapping of HUGE_MIN or more asks
 * when it is freed (its next user writes it again) or grown, and new ones
 * ask from then on (huge_churn).  Until then big mappings are aligned but
 * fault in 4 KiB pages, as a program that allocates a few big arrays once
 * and touches part of them expects: mimalloc-bench's barnes (six blocks,
 * 489 MiB, 58 MiB of them touched) was 64.7 MiB resident, 58.5 without
 * the early marks (glibc 58.1), and malloc-large kept its time (medians
 * of 6 runs: 0.87 s before, 0.79 s after). */
static _Atomic bool huge_churn;   /* a mapping of HUGE_MIN or more has been freed or grown */
static inline bool huge_aligned(size_t map)
{
    return map >= HUGE_MIN && _pm_option_values[PM_OPTION_LARGE_THP];
}
static inline bool huge_wanted(size_t map)
{
    return huge_aligned(map) && atomic_load_explicit(&huge_churn, memory_order_relaxed);
}
static inline void huge_churn_note(size_t map)
{
    if (map >= HUGE_MIN && !atomic_load_explicit(&huge_churn, memory_order_relaxed))
        atomic_store_explicit(&huge_churn, true, memory_order_relaxed);
}

/* A mapping asks for huge pages once.  The flag is its VMA's, and kept by
 * what the allocator does to the mapping later (decommits, shrinking or
 * growing it in place, moving it with mremap), so that another ask is a
 * system call for nothing: a loop that frees and takes back one 4 MiB
 * buffer paid 1.2 us a pair for it (BENCHMARKS, "Forty-sixth session").
 * r->huge_asked says it did: set here for a new, reused or grown mapping,
 * and by large_free_cache, kept while the mapping is cached. */
static inline void huge_ask(pm_large_t *r, char *base, size_t map)
{
    r->huge_asked = huge_wanted(map);
    if (r->huge_asked)
        _pm_os_hugepages(base, map);
}

/* Grows the mapping of r (a plain one: user == base) to need bytes, in place
 * if the pages after it are free, else onto a new mapping of need + room
 * bytes (or need, if that much cannot be had) that is indexed in the page
 * map before anything moves, so that every failure (no address space, no
 * page-map leaf for the new place, mremap refused) leaves the block where it
 * was.  Returns the new start, or NULL with r untouched.  Sets r's pointers
 * and map_size; counters and committed are the caller's. */
static char *mapping_grow(pm_large_t *r, size_t need, size_t room, bool may_move)
{
    char *old = rec_base(r);
    char *moved = _pm_os_remap(old, r->map_size, need, NULL);
    /* A move leaves a hole where the mapping was: not while the process
     * holds many (retained ranges, above); the caller copies instead. */
    if (!moved && (!may_move || (!PM_STRICT && retain_now())))
        return NULL;
    if (!moved) {
        size_t grown = need;
        size_t align = huge_aligned(need) ? HUGE_ALIGN : PM_OS_PAGE;
        if (room && (moved = _pm_os_map(need + room, align)) != NULL)
            grown = need + room;
        else
            moved = _pm_os_map(need, align);
        need = grown;
        if (!moved)
            return NULL;
        if (_pm_pagemap_set(moved, 1, (uintptr_t)r | PM_PAGE_LARGE) != 0) {
            unmap_or_retain(moved, need);
            return NULL;
        }
        /* The old place leaves the page map before mremap unmaps it: from
         * then on another thread may be given those pages and index them,
         * and clearing the entry afterwards would erase theirs. */
        _pm_pagemap_set(old, 1, 0);
        if (!_pm_os_remap(old, r->map_size, need, moved)) {
            _pm_pagemap_set(old, 1, (uintptr_t)r | PM_PAGE_LARGE); /* leaf exists */
            _pm_pagemap_set(moved, 1, 0);
            unmap_or_retain(moved, need);
            return NULL;
        }
    }
    rec_set(r, moved, moved);
    r->map_size = need;
    huge_churn_note(need);
    huge_ask(r, moved, need);   /* grown past HUGE_MIN, or moved: the flag is the VMA's */
    return moved;
}

/* A cached mapping handed out for a request of need bytes (page-rounded):
 * grown first when it is smaller (case 2); its resident slack past the
 * request dropped when there is much of it, unless keep_slack (the use is
 * within its recent peak: case 1).  false: it could not be grown, and has
 * been given back to the OS. */
static bool cached_fit(pm_large_t *r, size_t need, bool keep_slack)
{
    if (rec_usable(r) < need) {
        if (!mapping_grow(r, need, 0, true)) {
            use_sub(r->committed);
            rec_retire(r);
            r->next = NULL;
            unmap_list(r);
            return false;
        }
        return true;
    }
    size_t end = rec_offset(r) + need;
    size_t keep = need / 8 > SLACK_KEEP ? need / 8 : SLACK_KEEP;
    if (!keep_slack && r->committed > end && r->committed - end > keep) {
        _pm_os_decommit(rec_base(r) + end, r->committed - end);
        use_sub(r->committed - end);
        r->committed = end;
    }
    return true;
}

/* A new mapping of need bytes (zeroed by the kernel; up to SLOT_MAP_MAX,
 * its slot class's size) for a block of size bytes aligned to align, and
 * its record.  In strict mode it has a guard
 * page after it, PROT_NONE, and the block is placed at the end of its pages
 * (16-aligned, or as aligned as asked), so that a write off its end faults
 * at once, at the program's own access (hardened_malloc's guard slabs);
 * strict mode unmaps freed blocks at once (_pm_large_free), so its cache
 * stays empty. */
static void *large_map_new(size_t size, size_t need, size_t align, size_t *dirty)
{
    pm_large_t *rec = _pm_meta_alloc(&large_records);
    if (!rec) {
        errno = ENOMEM;
        return NULL;
    }
    size_t map = need + GUARD;
    if (!PM_STRICT && align <= PM_PAGE_SIZE && need <= SLOT_MAP_MAX)
        map = slot_map_size(need);
    /* An over-aligned block's mapping is a whole number of its alignments
     * (below a huge page, which a kernel with THP "always" would fill at
     * the first write): the next one, placed just below it (base/os.h, the
     * hint), is then aligned with no gap, and the kernel keeps them all in
     * one area.  With each mapping cut to the pages it needs, the gaps
     * left one area per block: 65,499 blocks of 1000 bytes aligned to 64
     * KiB used up vm.max_map_count (65,530) and the next posix_memalign
     * failed with ENOMEM (glibc, tcmalloc and jemalloc made 100,000).  The
     * address space past the request is never touched. */
    if (!PM_STRICT && align > PM_PAGE_SIZE && align < HUGE_ALIGN)
        map = (map + align - 1) & ~(align - 1);
    size_t map_align = align > PM_PAGE_SIZE ? align : PM_PAGE_SIZE;
    if (huge_aligned(map) && map_align < HUGE_ALIGN)
        map_align = HUGE_ALIGN;
    char *base = NULL;
    if (!PM_STRICT && map_align == PM_PAGE_SIZE &&
        atomic_load_explicit(&retained_count, memory_order_relaxed)) {
        pm_mutex_lock(&cache_lock);
        pm_large_t *r = retained_take_locked(map);
        pm_mutex_unlock(&cache_lock);
        if (r) {   /* its record serves: the same fields are set below */
            _pm_meta_free(&large_records, rec);
            rec = r;
            base = rec_base(r);
            map = r->map_size;
        }
    }
    if (!base && (!(base = _pm_os_map(map, map_align)) ||
                  (GUARD && _pm_os_guard(base + need, GUARD) != 0))) {
        if (base)
            _pm_os_unmap(base, map);
        _pm_meta_free(&large_records, rec);
        errno = ENOMEM;
        return NULL;
    }
    huge_ask(rec, base, map);
    char *user = base;
    if (GUARD) {
        size_t a = align < 16 ? 16 : align;
        user = (char *)((uintptr_t)(base + need - ((size + 15) & ~(size_t)15)) & ~(a - 1));
    }
    rec->magic = PM_LARGE_LIVE;
    rec_set(rec, user, base);
    rec->map_size = map;
    rec->size = size;
    rec->committed = need;
    rec->next = rec->prev = NULL;
    rec->freed_ms = 0;
    if (_pm_pagemap_set(user, 1, (uintptr_t)rec | PM_PAGE_LARGE) != 0) {
        unmap_or_retain(base, map);
        _pm_meta_free(&large_records, rec);
        errno = ENOMEM;
        return NULL;
    }
    atomic_fetch_add_explicit(&large_maps, 1, memory_order_relaxed);
    use_add(need);
    atomic_fetch_add_explicit(&_pm_counters.large_misses, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&_pm_counters.large_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&_pm_counters.large_live_bytes, map, memory_order_relaxed);
    *dirty = 0;   /* new, or retained: its pages were given back */
    return user;
}

/* The cached mapping for a request of need bytes (whole pages) aligned to
 * align (a page or more), or NULL: the smallest that holds it (case 1),
 * else the one with the most pages that may be resident to grow (case 2).
 * The classes' lists are ordered by size, so the search starts at the
 * request's class (the largest at most its size: some of that class may
 * hold it) and stops at the first class that has one, looking at the
 * SCAN_MAX newest of each class (a class may hold hundreds; the newest are
 * the most likely resident); then every other mapping; and for case 2
 * also the newest of each smaller class.  `tight` (phases come back and the
 * use climbs again: _pm_large_alloc): for a request of up to SLOT_MAP_MAX,
 * case 1 takes only a mapping at most a quarter larger. */
#define SCAN_MAX 16
/* Whether the scan of list l reads its record number `seen` (0: newest):
 * the SCAN_MAX newest of a class, every one of the other list. */
static inline bool cache_scans(unsigned l, unsigned seen)
{
    return l == CACHE_OTHER || seen < SCAN_MAX;
}
static inline bool cache_may_grow(const pm_large_t *r, const pm_large_t *grow, size_t align)
{
    return align == PM_PAGE_SIZE && r->committed >= GROW_MIN &&
           (!grow || r->committed > grow->committed) && rec_offset(r) == 0;
}

/* A record's usable bytes are its map_size less the guard, less its
 * offset: one whose map_size less the guard is below the request cannot
 * hold it, and one whose map_size less the guard reaches it cannot grow
 * (that needs no offset, and then usable is that much): each record of
 * the scan asks one question or the other, its pointers unmangled
 * (rec_usable, rec_user) only for the first.  Asking both of every
 * record, and computing usable again for each, made malloc cost 738
 * instructions a buffer in a loop of buffer_rounds' rounds, 694 with one
 * question.  A class's list holds no record smaller than its class (no
 * offset there, cache_list_of), so the scan of a class above the
 * request's stops at a record of exactly that size, as the scan of the
 * request's own class stops at one of exactly the request's: nothing
 * after it could fit closer (malloc: 527).  Which record may grow is
 * asked only when none holds the request, by a second scan of the same
 * records (malloc: 490). */
static pm_large_t *cache_choose_locked(size_t need, size_t align, bool tight)
{
    pm_large_t *rec = NULL, *grow = NULL;
    size_t rec_usable_bytes = 0;
    tight = tight && need <= SLOT_MAP_MAX;
    unsigned from = need <= SLOT_MAP_MAX ? slot_class_down(need / PM_PAGE_SIZE) : CACHE_OTHER;
    for (uint32_t m = cache_lists_used & ~(((uint32_t)1 << from) - 1); m && !rec; m &= m - 1) {
        unsigned l = (unsigned)__builtin_ctz(m), seen = 0;
        /* the fewest bytes a record of list l holds (its class's size: no
         * offset there), or need: none can be a closer fit */
        size_t least = l == CACHE_OTHER ? need : slot_class_pages(l) * PM_PAGE_SIZE - GUARD;
        if (least < need)
            least = need;
        for (pm_large_t *r = cache_newest[l]; r && cache_scans(l, seen);
             r = r->next, seen++) {
            if (r->map_size - GUARD >= need) {
                size_t u = rec_usable(r);
                if (u >= need && (!tight || u - need <= need / 4) &&
                    ((uintptr_t)rec_user(r) & (align - 1)) == 0 && (!rec || u < rec_usable_bytes)) {
                    rec = r;
                    rec_usable_bytes = u;
                    if (u == least)
                        return rec;
                }
            }
        }
    }
    if (rec)
        return rec;
    /* None holds it: the same records again for one to grow (most of a
     * request's misses find a fit, so the first scan leaves them be), then
     * the newest of each smaller class. */
    for (uint32_t m = cache_lists_used & ~(((uint32_t)1 << from) - 1); m; m &= m - 1) {
        unsigned l = (unsigned)__builtin_ctz(m), seen = 0;
        for (pm_large_t *r = cache_newest[l]; r && cache_scans(l, seen);
             r = r->next, seen++)
            if (r->map_size - GUARD < need && cache_may_grow(r, grow, align))
                grow = r;
    }
    for (uint32_t m = cache_lists_used & (((uint32_t)1 << from) - 1); m; m &= m - 1) {
        pm_large_t *r = cache_newest[__builtin_ctz(m)];
        if (cache_may_grow(r, grow, align))
            grow = r;
    }
    return grow;
}

/* Refills: a thread whose slots missed and that took a mapping from the
 * cache takes, under the same hold of the lock, up to SLOT_REFILL more of
 * the newest cached mappings of the classes near its request's (within
 * SLOT_REFILL_NEAR of c, one from each in turn) into its slots, while they
 * hold fewer than SLOT_REFILL_HELD mappings and at most half of SLOT_BYTES.  A thread that
 * allocates large blocks another one frees (a producer of buffers, whose
 * own slots never fill: the consumer's slots give the cache a batch at a
 * time) took the cache's lock at every malloc, against the consumer's
 * batches (buffer_handoff: 338 ns a buffer, medians of 7 interleaved
 * runs); now it takes it about once a batch (287 ns; mimalloc 3 165).  The mappings move from
 * the cache to the slots as they move the other way when slots are full:
 * the use counts them from then on, as it counts every slot's mapping,
 * and the thread's flush (or its exit) hands them back.  Only for a
 * taker: a thread whose last miss came with no free into its slots since
 * the miss before.  Refilled at every miss, the threads of mstress (which
 * make a block of up to 1 MiB now and then among small ones, and free
 * another thread's) each held mappings the others then made anew: peak
 * RSS 11.5 -> 12.0 MB (glibc 11.2). */
#define SLOT_REFILL (SLOT_EVICT_BATCH - 1)
#define SLOT_REFILL_NEAR 4
#define SLOT_REFILL_HELD 16   /* refills stop at this many mappings held */
static void slot_refill_locked(large_slot_t *t, unsigned c)
{
    unsigned lo = c > SLOT_REFILL_NEAR ? c - SLOT_REFILL_NEAR : 0;
    unsigned hi = c + SLOT_REFILL_NEAR < SLOT_CLASSES ? c + SLOT_REFILL_NEAR : SLOT_CLASSES - 1;
    uint32_t near = (((uint32_t)2 << hi) - 1) & ~(((uint32_t)1 << lo) - 1);
    uint32_t n = slot_count(t), moved = 0;
    for (uint32_t m; moved < SLOT_REFILL && n < SLOT_REFILL_HELD && (m = cache_lists_used & near);) {
        for (; m && moved < SLOT_REFILL && n < SLOT_REFILL_HELD; m &= m - 1) {   /* one a class */
            unsigned l = (unsigned)__builtin_ctz(m);
            pm_large_t *r = cache_newest[l];
            if (t->bytes + r->map_size > SLOT_BYTES / 2) {
                near &= ~((uint32_t)1 << l);   /* too big to come in: not this class */
                continue;
            }
            cache_unlink_locked(r);
            use_locked += r->committed;
            slot_file(t, r, r->map_size);
            t->n_synced++;
            t->to_cache--;
            t->to_cache_bytes -= r->map_size;
            n++;
            moved++;
        }
    }
    if (moved) {
        slot_left_set(t);
        slot_bytes_tell(t);
    }
}

/* _pm_large_alloc, and _pm_large_alloc_reused (may_map false: a slot's or
 * the cache's mapping that holds the request, or NULL and nothing done). */
static void *large_alloc(size_t size, size_t align, size_t *dirty, bool may_map, bool refill)
{
    bool overflow;
    size_t need = round_pages(size ? size : 1, &overflow);
    if (PM_STRICT && !overflow && align <= ((size_t)1 << 40))
        return large_map_new(size, need, align, dirty);   /* no reuse: the guard page */
    if (align < PM_PAGE_SIZE)
        align = PM_PAGE_SIZE;
    if (overflow || align > ((size_t)1 << 40)) {
        errno = ENOMEM;
        return NULL;
    }

    /* A slot's mapping, if it fits without wasting more than the request
     * (a larger one waits for a request its size, or goes to the cache). */
    large_slot_t *t = &large_slot;
    pm_large_t **slot = slot_find(t, need, align);
    if (slot) {
        pm_large_t *rec = slot_unlink(t, slot);
        *dirty = rec->committed < size ? rec->committed : size;   /* slots: no offset */
        return slot_hand_out(rec, size, need);
    }

    /* A cached mapping: the smallest that fits (1), or else the one with
     * the most pages to grow (2). */
    pm_large_t *evicted = NULL;
    uint64_t now = _pm_os_now_ms();
    bool taker = t->miss_seq == t->seq + 1;   /* no free into the slots since the last miss */
    if (refill)
        t->miss_seq = t->seq + 1;
    pm_mutex_lock(&cache_lock);
    window_roll_locked(now);
    /* while phases come back and the use climbs again, a close fit: the
     * cache holds much, and slack taken now would raise the next peak */
    bool tight = cycling_locked(now) && use_now_locked() < pm_peak_get(&use_peak) / 2;
    pm_large_t *rec = cache_choose_locked(need, align, tight);
    if (rec && !may_map && rec_usable(rec) < need)
        rec = NULL;   /* growing it is a system call */
    bool keep_slack = false;
    size_t map_then = 0;
    if (rec) {
        cache_unlink_locked(rec);
        rec->magic = PM_LARGE_LIVE;
        map_then = rec->map_size;
        cache_count_locked(&cache_counts.hits, 1);
        cache_count_locked(&cache_counts.live, map_then);
        use_locked += rec->committed;
        /* its resident slack is now counted as used: keep it within the
         * recent peak (live blocks plus cache never exceed it either) */
        keep_slack = use_now_locked() <= pm_peak_get(&use_peak);
        if (refill && taker && align == PM_PAGE_SIZE && need <= SLOT_MAP_MAX)
            slot_refill_locked(t, slot_class_up(need / PM_PAGE_SIZE));
    }
    bool tick = cache_tick_locked(now, &evicted);
    pm_mutex_unlock(&cache_lock);
    cache_after_locked(evicted, tick);

    if (rec && cached_fit(rec, need, keep_slack)) {
        size_t written = rec->committed > rec_offset(rec) ? rec->committed - rec_offset(rec) : 0;
        *dirty = written < size ? written : size;
        rec->size = size;
        rec_commit(rec, size);
        if (rec->map_size != map_then)   /* grown (case 2): the hit counted map_then */
            atomic_fetch_add_explicit(&_pm_counters.large_live_bytes, rec->map_size - map_then,
                                      memory_order_relaxed);
        return rec_user(rec);
    }
    if (rec) {   /* could not be grown, and unmapped: not a hit after all */
        atomic_fetch_sub_explicit(&_pm_counters.large_allocs, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&_pm_counters.large_hits, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&_pm_counters.large_live_bytes, map_then, memory_order_relaxed);
    }

    /* 3. a new mapping */
    return may_map ? large_map_new(size, need, align, dirty) : NULL;
}

void *_pm_large_alloc(size_t size, size_t align, size_t *dirty, bool slot_ok)
{
    return large_alloc(size, align, dirty, true, slot_ok && !PM_STRICT);
}

void *_pm_large_alloc_reused(size_t size)
{
    size_t dirty;
    return PM_STRICT ? NULL : large_alloc(size, PM_PAGE_SIZE, &dirty, false, false);
}

/* calloc of a reused mapping.  Only what may have been written is zeroed
 * (_pm_large_alloc's dirty).  Of a big block (ZERO_PROBE_MIN or more),
 * if less than half of those pages are resident, they are given back
 * instead, and the program's first touch of each faults in a zero page:
 * a program that callocs 100 MiB and writes 64 KiB of it, over and over,
 * had each round's memset fault in the whole block again (5.4 ms a round,
 * glibc's new mapping 0.2).  Where they are resident (the block was used
 * whole) memset is cheaper than faults.  mincore is only the hint: a page
 * swapped out reads as not resident, and either way every byte is zero. */
#define ZERO_PROBE_MIN ((size_t)8 << 20)
void _pm_large_zero(void *p, size_t n)
{
    size_t whole = n & ~(size_t)(PM_PAGE_SIZE - 1);   /* p is page-aligned */
    if (n >= ZERO_PROBE_MIN && !PM_STRICT && _pm_os_resident(p, whole) < whole / 2) {
        _pm_os_decommit(p, whole);
        memset((char *)p + whole, 0, n - whole);
        return;
    }
    memset(p, 0, n);
}

pm_large_t *_pm_large_check(uintptr_t entry, void *ptr, const char *call)
{
    pm_large_t *rec = (pm_large_t *)(entry & ~PM_PAGE_TAGS);
    if (rec_user(rec) != (char *)ptr)
        _pm_fatal_ptr(call, "invalid pointer", ptr);
    if (rec->magic != PM_LARGE_LIVE)
        _pm_fatal_ptr(call, rec->magic == PM_LARGE_CACHED ? _pm_freed_word(call) : "invalid pointer",
                      ptr);
    return rec;
}

/* (Never in strict mode: mremap would carry the guard page along.) */
bool _pm_large_is_plain(const pm_large_t *rec)
{
    return !PM_STRICT && rec_user(rec) == rec_base(rec);
}

size_t _pm_large_requested(const pm_large_t *rec) { return rec->size; }

/* What _pm_large_realloc does for a plain block that grows within its
 * mapping, without its checks of the other cases: a buffer grown a few
 * bytes at a time past 16 KiB took 180 instructions a call through the
 * general path (realloc from 1 to 200,000 bytes by one byte: 1.28 ms,
 * tcmalloc 0.46). */
void *_pm_large_grow_within(uintptr_t entry, void *ptr, size_t size)
{
    pm_large_t *rec = (pm_large_t *)(entry & ~PM_PAGE_TAGS);
    if (PM_STRICT || rec_user(rec) != (char *)ptr || rec->magic != PM_LARGE_LIVE ||
        rec_offset(rec) != 0 || size < rec->size || size > rec_usable(rec))
        return NULL;
    rec->size = size;
    rec_commit(rec, size);
    return ptr;
}

/* A shrink that _pm_large_realloc would make by mremap (to less than half
 * of the mapping), of a mapping a slot may hold, that would give back at
 * least as many pages that may be resident (committed) as it keeps: the
 * block moves instead (a copy of what it keeps), and the mapping, its
 * pages still resident, waits in a slot for the next request of its size.
 * Given back in place, those pages faulted in again at the next such
 * request: a 1 MiB buffer stepped down by 4 KiB, then allocated again,
 * cost 410-500 us a round (glibc 4 us).  A growing buffer's room is not
 * committed, so a buffer grown to 396 KiB and shrunk to fit (270 KiB) is
 * trimmed in place as before (moved, it cost a copy every time: 2.3 us
 * against 0.13).  A move copies at most half of SLOT_MAP_MAX; bigger
 * mappings still shrink in place. */
bool _pm_large_shrink_moves(const pm_large_t *rec, size_t size)
{
    bool overflow;
    size_t need = round_pages(size, &overflow);
    size_t usable = rec_usable(rec);
    return !PM_STRICT && !overflow && size < rec->size && rec_offset(rec) == 0 &&
           need < usable / 2 && need <= rec->committed / 2 && rec->map_size <= SLOT_MAP_MAX;
}

/* What malloc_usable_size says: the request rounded up to pages, not the
 * whole mapping, which may be much larger since a cached mapping serves a
 * request of any size (a program that uses all of its usable size would
 * otherwise make the slack resident again).  realloc still grows in place
 * as far as the mapping goes (_pm_large_realloc). */
size_t _pm_large_usable(const pm_large_t *rec)
{
    size_t n = ((rec->size ? rec->size : 1) + PM_PAGE_SIZE - 1) & ~(PM_PAGE_SIZE - 1);
    size_t usable = rec_usable(rec);
    return n < usable ? n : usable;
}

/* The clock's work (the cache's decay, the arena reserve's: cache_after_locked)
 * for a thread that its slots serve without the cache: it looks at the
 * clock every SLOT_COUNT_BATCH frees, so that a process that only
 * reuses a few buffers after a burst still gives the burst's memory back. */
static void slot_clock(void)
{
    uint64_t now = _pm_os_now_ms();
    if (now - atomic_load_explicit(&cache_tick_ms, memory_order_relaxed) < TICK_MS)
        return;
    pm_large_t *evicted = NULL;
    pm_mutex_lock(&cache_lock);
    window_roll_locked(now);
    bool tick = cache_tick_locked(now, &evicted);
    pm_mutex_unlock(&cache_lock);
    cache_after_locked(evicted, tick);
}

/* recs[0..k) (marked CACHED or about to be), oldest first, join the
 * cache under one hold of its lock; the first `frees` of them were just
 * freed (counted here, cache_counts), the others come from a slot. */
static void cache_put_many(pm_large_t *const *recs, uint32_t k, uint32_t frees)
{
    if (!k)
        return;
    pm_large_t *evicted = NULL;
    uint64_t now = _pm_os_now_ms();
    pm_mutex_lock(&cache_lock);
    window_roll_locked(now);
    for (uint32_t i = 0; i < frees; i++) {
        cache_count_locked(&cache_counts.frees, 1);
        cache_count_locked(&cache_counts.live, -recs[i]->map_size);
    }
    for (uint32_t i = 0; i < k; i++) {
        pm_peak_note(&use_peak, use_now_locked());   /* just before a decrease */
        use_locked -= recs[i]->committed;
        cache_link_locked(recs[i], now);
    }
    cache_shrink_locked(&evicted, now);
    bool tick = now - cache_tick_ms >= TICK_MS;
    if (tick)
        cache_tick_ms = now;
    pm_mutex_unlock(&cache_lock);
    cache_after_locked(evicted, tick);
}

/* rec (just freed, marked CACHED or about to be) joins the cache. */
static void cache_put_freed(pm_large_t *rec) { cache_put_many(&rec, 1, 1); }

static PM_NOINLINE void large_free_cache(pm_large_t *rec);

/* Whether rec's mapping of map bytes finds the slots full, in number or
 * in bytes. */
static inline bool slot_full(large_slot_t *t, size_t map)
{
    return slot_count(t) == SLOT_COUNT || t->bytes + map > SLOT_BYTES;
}

/* Whether the slots' counts are due for _pm_counters. */
static inline bool slot_counts_due(const large_slot_t *t)
{
    return t->seq - t->seq_then >= SLOT_COUNT_BATCH - 1;
}

/* A free into the slots when they are full (in number or in bytes): their
 * oldest mappings go on to the cache to make room for rec, which then
 * comes in.  Out of line, with the stack frame of its batch. */
static PM_NOINLINE void slot_put_full(large_slot_t *t, pm_large_t *rec, size_t map)
{
    pm_large_t *out[SLOT_COUNT];
    uint32_t k = 0;
    uint32_t held = slot_classes_held(t);
    while (slot_count(t) > SLOT_COUNT - SLOT_EVICT_BATCH ||
           t->bytes + map > SLOT_BYTES - SLOT_BYTES / 4)
        out[k++] = slot_evict_oldest(t, &held);   /* ends: map <= SLOT_MAP_MAX */
    slot_link(t, rec, map);
    slot_left_set(t);
    slot_bytes_tell(t);
    /* Out of the slots first: the cache's path may run anything. */
    cache_put_many(out, k, 0);
}

static PM_NOINLINE void slot_put_slow(large_slot_t *t, pm_large_t *rec, size_t map);

/* slot_put_slow's case once every SLOT_COUNT_BATCH frees: the counts go
 * to _pm_counters and the cache's clock is read (its tick may take the
 * cache's lock); then slot_put_slow again, the counts no longer due.  Out
 * of line, so that slot_put_slow keeps no stack frame (with the clock
 * inlined there, its prologue cost a loop of batches of 64 KiB buffers,
 * which fill the slots' bytes and come through it at nearly every free,
 * 3 instructions a malloc+free pair). */
static PM_NOINLINE void slot_put_counted(large_slot_t *t, pm_large_t *rec, size_t map)
{
    slot_counts_flush(t);
    slot_clock();
    slot_put_slow(t, rec, map);
}

/* A free into a slot once left has run out: the counts are due
 * (slot_put_counted; a loop that takes what it frees comes here for
 * nothing else), or full slots send a batch to the cache
 * (slot_put_full), or else rec comes in and left is set again.  Out of
 * line, with no stack frame.  The counts and the clock are not
 * slot_put_full's: a program that frees large blocks and never fills its
 * slots (a buffer malloc'd and freed in a loop) then runs none of the
 * eviction's code, which the hot list (preload/hot.ld) places in its
 * tail, outside the first 64 KiB window. */
static PM_NOINLINE void slot_put_slow(large_slot_t *t, pm_large_t *rec, size_t map)
{
    if (slot_counts_due(t))
        return slot_put_counted(t, rec, map);
    if (slot_full(t, map))
        return slot_put_full(t, rec, map);
    slot_link(t, rec, map);
    slot_left_set(t);
}

/* rec (live, at most SLOT_MAP_MAX, not in strict mode: its user address is
 * its base and its usable bytes its map_size) comes into the calling
 * thread's slots, newest. */
static inline void slot_put(large_slot_t *t, pm_large_t *rec)
{
    rec->magic = PM_LARGE_CACHED;
    size_t map = rec->map_size;
    if (pm_unlikely(t->left == 0 || t->bytes + map > SLOT_BYTES))
        return slot_put_slow(t, rec, map);
    t->left--;
    slot_link(t, rec, map);
}

/* Freed live mapping rec: a slot, if the caller may use one and it is
 * small enough, else the cache. */
static inline void large_free_to(pm_large_t *rec, bool slot_ok)
{
    if (pm_likely(slot_ok && rec->map_size <= SLOT_MAP_MAX && !PM_STRICT)) {
        slot_put(&large_slot, rec);
        return;
    }
    large_free_cache(rec);
}

void _pm_large_free(pm_large_t *rec, bool slot_ok) { large_free_to(rec, slot_ok); }

/* A bad free of a large block, reported out of line (no stack frame for
 * the slot's path). */
static PM_NOINLINE void slot_free_bad(uintptr_t entry, void *ptr)
{
    _pm_large_check(entry, ptr, "free");
}

void _pm_large_free_slot(uintptr_t entry, void *ptr)
{
    pm_large_t *rec = (pm_large_t *)(entry & ~PM_PAGE_TAGS);
    if (pm_unlikely(rec_user(rec) != (char *)ptr || rec->magic != PM_LARGE_LIVE))
        return slot_free_bad(entry, ptr);
    large_free_to(rec, true);
}

/* A mapping that does not wait in a slot: the cache, or the OS. */
static void large_free_cache(pm_large_t *rec)
{
    if (huge_aligned(rec->map_size) && !PM_STRICT && !rec->huge_asked) {
        huge_churn_note(rec->map_size);
        huge_ask(rec, rec_base(rec), rec->map_size);   /* wanted now: churn noted */
    }
    if (PM_STRICT) {   /* strict mode: straight back to the OS */
        atomic_fetch_add_explicit(&_pm_counters.large_frees, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&_pm_counters.large_live_bytes, rec->map_size,
                                  memory_order_relaxed);
        use_sub(rec->committed);
        rec_retire(rec);
        rec->next = NULL;
        unmap_list(rec);
        return;
    }
    cache_put_freed(rec);
}

void _pm_large_slot_flush(void)
{
    large_slot_t *t = &large_slot;
    pm_large_t *out[SLOT_COUNT];
    uint32_t k = 0;
    uint32_t held = slot_classes_held(t);
    while (slot_count(t))   /* in eviction order (the cache's newest are reused first) */
        out[k++] = slot_evict_oldest(t, &held);
    slot_counts_flush(t);
    /* Out of the slots first: the cache's path may run anything. */
    cache_put_many(out, k, 0);
}

void _pm_large_counts_flush(void) { slot_counts_flush(&large_slot); }

bool _pm_large_slot_fits(size_t size)
{
    size_t need = (size + PM_PAGE_SIZE - 1) & ~(PM_PAGE_SIZE - 1);   /* 0 if it wrapped */
    return slot_find(&large_slot, need, PM_PAGE_SIZE) != NULL;
}

void *_pm_large_realloc(pm_large_t *rec, void *ptr, size_t size, bool may_move)
{
    bool overflow;
    size_t need = round_pages(size, &overflow);
    if (overflow) {
        errno = ENOMEM;
        return NULL;
    }
    size_t usable = rec_usable(rec);
    if (PM_STRICT) {   /* only ever in place (pools/alloc.c): the guard stays where it is */
        rec->size = size;
        return ptr;
    }
    if (need <= usable) {
        if (size < rec->size && need < usable / 2 && rec_offset(rec) == 0 && retain_now()) {
            /* Shrinking a lot while the process holds many mappings: the
             * tail's pages go back, its address space stays (an mremap
             * would split the area: retained ranges, above). */
            if (rec->committed > need) {
                _pm_os_decommit(rec_base(rec) + need, rec->committed - need);
                use_sub(rec->committed - need);
                rec->committed = need;
            }
        } else if (size < rec->size && need < usable / 2 && rec_offset(rec) == 0) {
            /* Shrinking a lot: give the tail back (mremap never moves here).
             * Not when growing into the room a move left (below). */
            void *same = _pm_os_remap(rec_base(rec), rec->map_size, need, NULL);
            if (same == rec_base(rec)) {
                atomic_fetch_sub_explicit(&_pm_counters.large_live_bytes,
                                          rec->map_size - need, memory_order_relaxed);
                rec->map_size = need;
                if (rec->committed > need) {
                    use_sub(rec->committed - need);
                    rec->committed = need;
                }
            }
        }
        rec->size = size;
        rec_commit(rec, size);
        return ptr;
    }
    pm_assert(_pm_large_is_plain(rec));   /* over-aligned ones move by copy (pools/alloc.c) */
    /* Growing: in place if the pages after the mapping are free, else
     * moved (mapping_grow).  A move leaves room to grow (twice the size, up
     * to 64 MiB more): a buffer that keeps growing, as arrays that double
     * do, then grows in place for a while.  The room is address space only
     * until it is written. */
    size_t room = need <= ((size_t)64 << 20) ? need : ((size_t)64 << 20);
    if (need > (size_t)PTRDIFF_MAX - room)
        room = 0;
    size_t before = rec->map_size;
    char *moved = mapping_grow(rec, need, room, may_move);
    if (!moved) {
        if (may_move)
            errno = ENOMEM;
        return NULL;
    }
    atomic_fetch_add_explicit(&_pm_counters.large_live_bytes, rec->map_size - before,
                              memory_order_relaxed);
    rec->size = size;
    rec_commit(rec, size);
    return moved;
}

int _pm_large_trim(bool all)
{
    _pm_large_slot_flush();     /* the calling thread's: the others' are out of reach */
    pm_large_t *evicted = NULL;
    uint64_t now = _pm_os_now_ms();
    pm_mutex_lock(&cache_lock);
    if (all) {   /* everything, and the recent peak starts again from the use now */
        for (unsigned l = 0; l < CACHE_LISTS; l++)
            while (cache_newest[l])
                cache_evict_locked(cache_newest[l], &evicted);
        use_peak.cur = use_peak.prev = use_now_locked();
        use_peak.since_ms = now;
        phases = (pm_phases_t){0};   /* and no phase has come back yet */
    } else {
        window_roll_locked(now);
        cache_shrink_locked(&evicted, now);
    }
    pending_take_locked(&evicted);
    pm_mutex_unlock(&cache_lock);
    int released = evicted != NULL;
    unmap_list(evicted);
    retained_release(all);
    return released;
}

void _pm_large_fork_prepare(void) { pm_mutex_lock(&cache_lock); }
void _pm_large_fork_parent(void) { pm_mutex_unlock(&cache_lock); }
void _pm_large_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
    cache_lock = fresh;
}
