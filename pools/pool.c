/* pool.c -- pools of equal blocks, the slow paths of small malloc and free
 * (floor 2).
 *
 * A pool is one 4 KiB page serving one size class, `capacity` blocks from
 * the page's first byte; the blocks of classes that are multiples of 16
 * bytes are 16-aligned because the page is.  Its 128-byte header is out of
 * band, in the arena's slot for the page (pools.h, pm_pool_s: the fast
 * paths' fields, a bitmap with one bit per 8-byte granule, the slow paths'
 * fields).  Like obmalloc, a pool hands out
 * blocks from two places: `free`, the list of blocks given back, and the
 * never-used tail [bump, limit), carved into the list all at once when the
 * list first runs dry (the pool is one page: nothing more is touched).
 *
 * Pool states and transitions (see pools.h, pm_pool_s, for the invariant):
 *
 *        take from arena         last free block
 *   EMPTY ---------------> USED ----------------> FULL
 *     ^                    |  ^                    |
 *     |   last block back  |  |   1/8 of it free   |
 *     +--------------------+  +--------------------+
 *
 * (Under memcheck, the tail is carved one block at a time: the page is
 * no-access to memcheck until a block is handed out.)
 *
 * A USED pool is on its class list in its heap; the head of that list is
 * where the fast path allocates; it is never EMPTY while it is the head (it
 * holds a pin, see pool_link_front).  An EMPTY pool goes back to its arena
 * (CPython does the same), except up to PM_SPARE_POOLS per heap kept as
 * spares (see pool_emptied).  Kept pools are released at thread exit, by
 * malloc_trim, and when they are all their arena has in use.
 */
#include "pools/pools.h"

#include <errno.h>
#include <string.h>

/* free == 1 (an end of list) forever: every empty class list points here */
pm_pool_t _pm_empty_pool = {.free = (pm_block_t *)1};

/* The pool invariant (pools.h, pm_pool_s), walked in full: PM_DEBUG >= 2 only. */
__attribute__((unused)) static bool pool_is_valid(const pm_pool_t *pool)
{
    size_t nfree = 0;
    for (const pm_block_t *b = pool->free; pm_pool_is_block(b); b = pm_link_decode(b, false))
        if (++nfree > pool->capacity ||
            ((uintptr_t)b & ~(PM_POOL_SIZE - 1)) != (uintptr_t)pm_pool_page(pool))
            return false;
    size_t uncarved = (size_t)(pool->limit - pool->bump) / pool->block_size;
    size_t live = 0;
    for (size_t i = 0; i < PM_POOL_GRANULES / 64; i++)
        live += (size_t)pm_popcount64(atomic_load_explicit(&pool->live[i],
                                                           memory_order_relaxed));
    int32_t out = pool->used + pool->bias;
    return (size_t)out + nfree + uncarved == pool->capacity && live == (size_t)out;
}
#define pool_check(pool) pm_assert(PM_DEBUG < 2 || pm_vg_on() || pool_is_valid(pool))

/* ---- class lists ----
 * `used` is out (blocks handed out) minus `bias`, and free's fast path takes
 * the slow path when used drops to 0 or below.  The bias encodes the pool's
 * place:
 *   - the head of its class list (where malloc allocates): bias -1, a pin
 *     that keeps it from ever reaching 0, so a malloc/free loop that empties
 *     and refills it never leaves the fast path;
 *   - another pool on the list: bias 0, the slow path when it empties;
 *   - FULL (off the list): bias capacity - rejoin, so that the slow path
 *     runs when `rejoin` blocks have come back (1/8 of the pool, but at
 *     least 4, or half of a pool of fewer than 8 blocks), and the pool
 *     rejoins the list with that many to hand out.  A pool that got a
 *     single block back would only send the next malloc to the slow path
 *     again (programs that free long-lived objects at random do that
 *     constantly); the floor of 4 matters for the classes over 128 bytes,
 *     whose pools hold 8 to 31 blocks (random_mix, object_churn, larson:
 *     5-6% less time, peak RSS 0.5-4% more);
 *   - spare or fresh, nothing out: bias PM_POOL_UNLISTED. */
static inline void pool_set_bias(pm_pool_t *pool, int32_t bias)
{
    pool->used += pool->bias - bias;
    pool->bias = bias;
}

static inline int32_t pool_full_bias(const pm_pool_t *pool)
{
    int32_t cap = (int32_t)pool->capacity;
    int32_t rejoin = cap / 8 > 4 ? cap / 8 : (cap + 1) / 2 < 4 ? (cap + 1) / 2 : 4;
    return (int32_t)pool->capacity - rejoin;
}

static inline bool pool_is_head(const pm_heap_t *heap, const pm_pool_t *pool)
{
    return heap->pools[pool->size_class] == pool;
}

static inline int32_t pool_out(const pm_pool_t *pool) { return pool->used + pool->bias; }

static void pool_emptied(pm_heap_t *heap, pm_pool_t *pool);

static void pool_link_front(pm_heap_t *heap, pm_pool_t *pool)
{
    pm_pool_t *old = heap->pools[pool->size_class];
    pool->prev = NULL;
    pool->next = old == &_pm_empty_pool ? NULL : old;
    if (pool->next)
        pool->next->prev = pool;
    heap->pools[pool->size_class] = pool;
    pool->listed = 1;
    pool_set_bias(pool, -1);                    /* the pin moves to pool */
    if (old != &_pm_empty_pool) {
        pool_set_bias(old, 0);
        if (old->used == 0)
            pool_emptied(heap, old);
    }
}

/* A FULL pool that got 1/8 of its blocks back rejoins its list second,
 * after the head: the head goes on serving malloc, and the pool goes on
 * collecting frees (without the slow path, now that it is listed) until
 * malloc gets to it.  Put first, it would serve its few blocks at once and
 * go FULL again, two slow paths per rejoin for a program that frees at
 * random (larson). */
static void pool_link_second(pm_heap_t *heap, pm_pool_t *pool)
{
    pm_pool_t *head = heap->pools[pool->size_class];
    if (head == &_pm_empty_pool) {
        pool_link_front(heap, pool);
        return;
    }
    pool->prev = head;
    pool->next = head->next;
    if (pool->next)
        pool->next->prev = pool;
    head->next = pool;
    pool->listed = 1;
    pool_set_bias(pool, 0);
    if (pool->used == 0)        /* everything came back at once (_pm_pool_free_run) */
        pool_emptied(heap, pool);
}

/* Takes pool off its list; `bias` is its new one (pool_full_bias or
 * PM_POOL_UNLISTED). */
static void pool_unlink(pm_heap_t *heap, pm_pool_t *pool, int32_t bias)
{
    PM_UNLINK_CHECK(pool, heap->pools[pool->size_class], "pool list");
    if (pool->prev) {
        pool->prev->next = pool->next;
    } else {                                    /* the head: the pin moves on */
        heap->pools[pool->size_class] = pool->next ? pool->next : &_pm_empty_pool;
        if (pool->next)
            pool_set_bias(pool->next, -1);
    }
    if (pool->next)
        pool->next->prev = pool->prev;
    pool->next = pool->prev = NULL;
    pool->listed = 0;
    pool_set_bias(pool, bias);
}

/* A page fresh from the arena becomes an empty pool of class c. */
static int pool_init(pm_heap_t *heap, pm_pool_t *pool, unsigned c)
{
    char *page = pm_pool_page(pool);
    if (pm_vg_any()) {
        /* The page may have been part of a span, its bytes no-access to
         * memcheck since a block there was freed: every block is no-access
         * until it is handed out.  The live bitmap is read by freeing
         * threads with atomics alone. */
        PM_VG_NOACCESS(page, PM_POOL_SIZE);
        PM_VG_ATOMIC_WORDS(pool->live, sizeof pool->live);
    }
    size_t size = pm_class_size(c);
    pool->free = pm_vg_on() ? PM_POOL_END_VG : pm_pool_end(page);   /* empty list */
    pool->used = -PM_POOL_UNLISTED;     /* nothing out, off the lists */
    pool->bias = PM_POOL_UNLISTED;
    pool->size_class = (uint16_t)c;
    pool->block_size = (uint16_t)size;
    pool->capacity = (uint16_t)(PM_POOL_SIZE / size);
    pool->bump = 0;
    pool->limit = pool->capacity * (uint32_t)size;
    pool->reserved = 0;
    pool->heap = heap;
    pool->next = pool->prev = NULL;
    pool->listed = 0;
    memset((void *)pool->live, 0, sizeof pool->live);
    if (PM_STRICT)   /* every block, carved or not, is always filled while free */
        _pm_strict_fill(page, PM_POOL_SIZE);
    /* Published last: from here on free() recognises the page as ours. */
    return pm_pagemap_set_run(page, 1, (uintptr_t)pool | PM_PAGE_POOL | pm_entry_info(c), 0);
}

/* A pool's page back to the heap's arenas (pool_new takes them). */
static void pool_page_return(pm_heap_t *heap, pm_pool_t *pool)
{
    pm_heap_count(&heap->pools_live, -1);
    _pm_arena_page_return(&heap->arenas, pm_pool_page(pool));
}

/* Gives pool's page back to its arena (it is no spare). */
static void pool_release_raw(pm_heap_t *heap, pm_pool_t *pool)
{
    if (pool->listed)
        pool_unlink(heap, pool, PM_POOL_UNLISTED);
    PM_VG_ATOMIC_WORDS_END(pool->live, sizeof pool->live);   /* the page may hold blocks next */
    pm_pagemap_set_run(pm_pool_page(pool), 1, 0, 0);
    heap->pool_count[pool->size_class]--;
    pool->size_class = UINT16_MAX;
    pool->heap = NULL;
    pool_page_return(heap, pool);
}

/* ... and the same when the arena would then hold spares only. */
static void pool_release(pm_heap_t *heap, pm_pool_t *pool)
{
    pm_heap_release_idle(heap, pm_pool_page(pool), 1);
    pool_release_raw(heap, pool);
}

/* Takes the spare *at (a link of a spare list) off its list. */
static pm_pool_t *pool_spare_unlink(pm_heap_t *heap, pm_pool_t **at)
{
    pm_pool_t *pool = *at;
    *at = pool->next;
    pool->next = NULL;
    if (pool->run_spare) {   /* never touched: the rest of a run (pool_new) */
        pool->run_spare = 0;
        heap->spare_run_count--;
        pm_heap_count(&heap->pools_live, 1);   /* counted from now on */
    } else {
        heap->spare_pool_count--;
    }
    _pm_arena_kept(pm_pool_page(pool), -1);
    return pool;
}

/* The class's most recent spare, off the spare list (NULL if none). */
static pm_pool_t *pool_spare_take(pm_heap_t *heap, unsigned c)
{
    return heap->spare_pools[c] ? pool_spare_unlink(heap, &heap->spare_pools[c]) : NULL;
}

/* A pool that is not its list's head has no block out any more.  It waits
 * off the list as a spare of its class, its free list intact, while the
 * heap keeps fewer than PM_SPARE_POOLS, so that a batch that spans a few
 * pools and is freed does not return them to their arena and take them
 * back (and carve them again) every round (64 mallocs of 512 bytes, then
 * their frees: 8 pools).  Spares are released by malloc_trim and at thread
 * exit (_pm_pool_release_empty), and when they are all their arena has in
 * use (pm_heap_release_idle): a spare must not keep an arena from going
 * back to the OS.  An abandoned heap keeps none. */
static void pool_emptied(pm_heap_t *heap, pm_pool_t *pool)
{
    unsigned c = pool->size_class;
    if (heap->spare_pool_count < PM_SPARE_POOLS &&
        atomic_load_explicit(&heap->state, memory_order_relaxed) == PM_HEAP_LIVE) {
        if (pool->listed)
            pool_unlink(heap, pool, PM_POOL_UNLISTED);
        pool->next = heap->spare_pools[c];
        heap->spare_pools[c] = pool;
        heap->spare_pool_count++;
        _pm_arena_kept(pm_pool_page(pool), 1);
        pm_heap_release_idle(heap, pm_pool_page(pool), 0);
        return;
    }
    pool_release(heap, pool);
}

void _pm_pool_release_spares_in(pm_heap_t *heap, const void *page)
{
    uintptr_t arena = (uintptr_t)page & ~(uintptr_t)(PM_ARENA_SIZE - 1);
    for (unsigned c = 0; c < PM_CLASS_COUNT && heap->spare_pool_count + heap->spare_run_count; c++) {
        for (pm_pool_t **at = &heap->spare_pools[c]; *at;) {
            if (((uintptr_t)*at & ~(uintptr_t)(PM_ARENA_SIZE - 1)) == arena)
                pool_release_raw(heap, pool_spare_unlink(heap, at));
            else
                at = &(*at)->next;
        }
    }
}

/* Links every never-used block of pool into its free list (the list is
 * empty): a pool is one page, so this touches no page the first block did
 * not, and the fast path then pops them one by one. */
static void pool_carve_shuffled(pm_pool_t *pool);

static void pool_carve(pm_pool_t *pool)
{
    if (PM_STRICT) {
        pool_carve_shuffled(pool);
        return;
    }
    size_t bs = pool->block_size;
    char *page = pm_pool_page(pool);
    char *b = page + pool->bump, *end = page + pool->limit;
    pool->free = (pm_block_t *)b;
    for (; b + bs < end; b += bs)
        ((pm_block_t *)b)->link = pm_link_encode((pm_block_t *)b, b + bs);
    ((pm_block_t *)b)->link = pm_link_encode((pm_block_t *)b, pm_pool_end(page));
    pool->bump = pool->limit;
}

/* Strict mode: the same, in random order, so that which block follows which
 * (and which neighbour an overflow reaches) cannot be predicted from the
 * order of allocation (hardened_malloc's slot randomisation).  The order
 * comes from splitmix64 over the secret, the page and a per-thread count. */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void pool_carve_shuffled(pm_pool_t *pool)
{
    static __thread uint64_t carves __attribute__((tls_model("initial-exec")));
    size_t bs = pool->block_size;
    char *page = pm_pool_page(pool);
    unsigned n = (pool->limit - pool->bump) / (unsigned)bs, first = pool->bump / (unsigned)bs;
    uint16_t order[PM_POOL_GRANULES];
    uint64_t r = _pm_secret ^ (uintptr_t)page ^ (++carves << 32);
    for (unsigned i = 0; i < n; i++)
        order[i] = (uint16_t)(first + i);
    for (unsigned i = n - 1; i > 0 && n > 1; i--) {   /* Fisher-Yates */
        r = splitmix64(r);
        unsigned j = (unsigned)(r % (i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = (uint16_t)t;
    }
    pm_block_t *next = pm_pool_end(page);
    for (unsigned i = n; i-- > 0;) {
        pm_block_t *b = (pm_block_t *)(page + (size_t)order[i] * bs);
        b->link = pm_link_encode(b, next);
        next = b;
    }
    pool->free = next;
    pool->bump = pool->limit;
}

/* The never-used blocks of pool (class c, no free block left), carved
 * straight onto the calling thread's cache instead of into the pool's
 * list: the first is returned, the next ones (up to the room on class c's
 * stack) go on the stack, marked as free's push marks a block and counted
 * out as cached blocks are, highest address first, so that malloc pops
 * them in address order.  Each then costs a store of its address and of
 * its mark here and the cache's pop, where it cost the link's encoding at
 * the carve and the pool's pop with its decoding, check and live-bit
 * update; and the pops read addresses from an array, independent loads,
 * where the pool's pop read each next block from the one before (100,000
 * blocks of 64 bytes allocated, then freed: batch_lifo and batch_fifo
 * 9-12% faster).  NULL (nothing carved) when
 * the stack has no room, or the heap is not the thread's fast route (slow
 * mode, an abandoned heap): those keep to the list.  In a class's first
 * pool, as many are carved as the pool has given out so far,
 * POOL_CARVE_CACHED_LEAST to _MOST: a thread that takes a few blocks of a
 * class and exits (thread_churn/200) gave back up to 127 never-used ones
 * at its exit when the whole room was filled (+15%).  Once the class holds
 * more pools, up to _MOST at once: a batch takes a pool of 64-byte blocks
 * in one carve instead of five (100,000 mallocs of 64 bytes, then their
 * frees: 127 -> 115 instructions a pair; batch_lifo, batch_fifo and
 * batch_random 2-4% faster). */
#define POOL_CARVE_CACHED_LEAST 4
#define POOL_CARVE_CACHED_MOST 64

/* The live bits of all the block starts of a pool of class c, by live
 * word (pools.h: granule g of the page is bit g / 8 of word g % 8), made
 * by the compiler: the carve below cuts the range it hands out from them,
 * at most 8 words for the whole carve, where it set each block's bit in
 * turn (about 6 of the 12 instructions a block cost).  100,000 mallocs,
 * then their frees, last first (batch_lifo), instructions a pair: 8 bytes
 * 96.8 -> 91.6, 64 bytes 104.2 -> 97.1, 256 bytes 139.1 -> 134.2, 512
 * bytes 185.9 -> 184.2 (callgrind); batch_random/64 11.8 -> 11.3 ns. */
#define CARVE_BIT(bs, w, k)                                                                   \
    ((64u * (k) + 8u * (w)) % (bs) == 0 && 64u * (k) + 8u * (w) + (bs) <= PM_POOL_SIZE        \
         ? (uint64_t)1 << (k)                                                                 \
         : 0)
#define CARVE_BITS8(bs, w, k)                                                                 \
    (CARVE_BIT(bs, w, k) | CARVE_BIT(bs, w, (k) + 1) | CARVE_BIT(bs, w, (k) + 2) |            \
     CARVE_BIT(bs, w, (k) + 3) | CARVE_BIT(bs, w, (k) + 4) | CARVE_BIT(bs, w, (k) + 5) |      \
     CARVE_BIT(bs, w, (k) + 6) | CARVE_BIT(bs, w, (k) + 7))
#define CARVE_WORD(bs, w)                                                                     \
    (CARVE_BITS8(bs, w, 0) | CARVE_BITS8(bs, w, 8) | CARVE_BITS8(bs, w, 16) |                 \
     CARVE_BITS8(bs, w, 24) | CARVE_BITS8(bs, w, 32) | CARVE_BITS8(bs, w, 40) |               \
     CARVE_BITS8(bs, w, 48) | CARVE_BITS8(bs, w, 56))
#define CARVE_CLASS(c)                                                                        \
    {CARVE_WORD(8u * ((c) + 1), 0), CARVE_WORD(8u * ((c) + 1), 1),                            \
     CARVE_WORD(8u * ((c) + 1), 2), CARVE_WORD(8u * ((c) + 1), 3),                            \
     CARVE_WORD(8u * ((c) + 1), 4), CARVE_WORD(8u * ((c) + 1), 5),                            \
     CARVE_WORD(8u * ((c) + 1), 6), CARVE_WORD(8u * ((c) + 1), 7)},
#define CARVE_CLASS8(c)                                                                       \
    CARVE_CLASS(c) CARVE_CLASS((c) + 1) CARVE_CLASS((c) + 2) CARVE_CLASS((c) + 3)             \
        CARVE_CLASS((c) + 4) CARVE_CLASS((c) + 5) CARVE_CLASS((c) + 6) CARVE_CLASS((c) + 7)
static const uint64_t carve_live_starts[PM_CLASS_COUNT][8] = {
    CARVE_CLASS8(0) CARVE_CLASS8(8) CARVE_CLASS8(16) CARVE_CLASS8(24)
    CARVE_CLASS8(32) CARVE_CLASS8(40) CARVE_CLASS8(48) CARVE_CLASS8(56)};
_Static_assert(PM_CLASS_COUNT == 64 && PM_CLASS_SPACING == 8 && PM_POOL_GRANULES == 512,
               "the table's classes and live words");

/* Bits 0..k-1 (k <= 64). */
static inline uint64_t carve_bits_below(uint32_t k)
{
    return k >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << k) - 1;
}

static pm_block_t *pool_carve_cached(pm_heap_t *heap, pm_pool_t *pool, unsigned c)
{
    /* (the run's test first: the call only at the class's first pool) */
    if (heap != _pm_tls_fast || (!pm_tc_has_run(heap, c) && !_pm_tc_run_take(heap, c)))
        return NULL;
    void **top = heap->tc_top[c], **end = heap->tc_end[c];
    if (top >= end)
        return NULL;
    size_t bs = pool->block_size;
    size_t left = (pool->limit - pool->bump) / bs, room = (size_t)(end - top);
    size_t given = pool->bump / bs;     /* as many again as the pool gave out so far */
    size_t want = heap->pool_count[c] > 1 ? POOL_CARVE_CACHED_MOST
                  : given < POOL_CARVE_CACHED_LEAST ? POOL_CARVE_CACHED_LEAST
                  : given > POOL_CARVE_CACHED_MOST ? POOL_CARVE_CACHED_MOST : given;
    if (room > want)
        room = want;
    size_t n = left - 1 < room ? left : room + 1;   /* the first block and those cached */
    char *first = pm_pool_page(pool) + pool->bump;
    pool->bump += (uint32_t)(n * bs);
    for (size_t i = 1; i < n; i++) {     /* block i into slot n - i above the top */
        pm_block_t *b = (pm_block_t *)(first + i * bs);
        b->link = pm_tc_tag(b);
        top[n - i] = b;
    }
    /* The live bits of blocks 1..n-1, byte offsets [lo, hi) of the page.
     * Granule 8k + w (bit k of word w) is in it for k from ceil((lo - 8w)
     * / 64) to ceil((hi - 8w) / 64) - 1: with lo = 64 q + r, the first is
     * q + 1 for the words w < r / 8 and q for the others (as for hi). */
    uint32_t lo = pool->bump - (uint32_t)((n - 1) * bs), hi = pool->bump;
    uint64_t lo_q = carve_bits_below(lo >> 6), lo_q1 = carve_bits_below((lo >> 6) + 1);
    uint64_t hi_q = carve_bits_below(hi >> 6), hi_q1 = carve_bits_below((hi >> 6) + 1);
    unsigned lo_w = (lo & 63) >> 3, hi_w = (hi & 63) >> 3;
    /* Block starts are multiples of bs: only the words that are multiples
     * of g = gcd(bs / 8, 8) hold any (one word from 64 bytes a block). */
    size_t g = (bs >> 3) & -(bs >> 3);
    if (g > 8)
        g = 8;
    for (unsigned w = 0; w < 8; w += (unsigned)g) {   /* word w: that of any address whose bits 3-5 are w */
        uint64_t bits = carve_live_starts[c][w] & (w < hi_w ? hi_q1 : hi_q) & ~(w < lo_w ? lo_q1 : lo_q);
        if (bits) {
            _Atomic uint64_t *word = pm_live_word(pool, (const void *)(uintptr_t)(w << 3));
            atomic_store_explicit(word, atomic_load_explicit(word, memory_order_relaxed) | bits,
                                  memory_order_relaxed);
        }
    }
    heap->tc_top[c] = top + (n - 1);
    pool->used += (int32_t)(n - 1);
    return (pm_block_t *)first;
}

/* A new pool of class c at the head of heap's list; NULL if out of memory.
 * A class that holds many pools (RUN_FROM, twice, four times as many:
 * 512 KiB of one class and more) takes the page one page's take would give
 * and up to 1, 3 or RUN_MOST - 1 free pages that follow it
 * (_pm_arena_pool_pages_take: it never passes over a free page for a run
 * elsewhere).  The others' pools wait as spares of the class, the next
 * page on top (a pool's header is out of band: a waiting page is not
 * touched), are not counted in pools_live nor against PM_SPARE_POOLS
 * until taken, and go back to the arena with the other spares
 * (malloc_trim, thread exit, an arena that holds nothing else).  Objects
 * allocated one after the other and used in that order (a list, a tree
 * built in order) then lie on consecutive pages, which the hardware
 * prefetches across, rather than between other classes' pools:
 * locality_fresh's walk (nodes of 48 bytes, strings of other classes
 * allocated between them) took 1.31 ns a node, 1.08 with the runs
 * (mimalloc 2 0.98; 0.94 without the strings).  From 16 pools, runs cost
 * larsonN about 1 MB of its 25 (a run keeps free pages from the classes
 * that would have reused them) and espresso 0.15 MB; from 128, nothing
 * measurable.  Out of line: it would weigh on the carving path's
 * prologue. */
#define RUN_FROM 128
#define RUN_MOST 8
static PM_NOINLINE pm_pool_t *pool_new(pm_heap_t *heap, unsigned c)
{
    uint32_t held = heap->pool_count[c];
    unsigned most = PM_STRICT ? 1   /* (strict mode fills a pool's page at its init) */
                    : held >= 4 * RUN_FROM ? RUN_MOST : held >= 2 * RUN_FROM ? 4
                    : held >= RUN_FROM ? 2 : 1;
    unsigned k;
    /* The pages of spare spans serve before a new arena (span.c, span_new). */
    char *base = _pm_arena_pool_pages_take(&heap->arenas, most, &k, heap->spare_span_pages != 0);
    if (!base && heap->spare_span_pages) {
        _pm_span_release_spares(heap);
        base = _pm_arena_pool_pages_take(&heap->arenas, most, &k, false);
    }
    if (!base)
        return NULL;
    for (unsigned i = 0; i < k; i++) {
        if (pool_init(heap, pm_pool_of_page(base + i * PM_PAGE_SIZE), c) != 0) {
            _pm_pagemap_set(base, i, 0);
            for (unsigned j = 0; j < k; j++)
                pm_pool_of_page(base + j * PM_PAGE_SIZE)->heap = NULL;
            _pm_arena_pages_return(&heap->arenas, base, k);
            return NULL;
        }
    }
    pm_heap_count(&heap->pools_live, 1);   /* the others once they leave the spares */
    heap->pool_count[c] += k;
    if (heap->pool_count[c] >= PM_CLASS_SPLIT_POOLS && pm_class_serves(c) > 1)
        _pm_class_split(c);   /* sizes the program uses much (pools.h, pm_class_range) */
    for (unsigned i = k - 1; i > 0; i--) {
        pm_pool_t *spare = pm_pool_of_page(base + i * PM_PAGE_SIZE);
        spare->next = heap->spare_pools[c];
        heap->spare_pools[c] = spare;
        spare->run_spare = 1;   /* not bump 0: a pool a bulk free emptied has that too */
        heap->spare_run_count++;
        _pm_arena_kept(base + i * PM_PAGE_SIZE, 1);
    }
    pm_pool_t *pool = pm_pool_of_page(base);
    pool_link_front(heap, pool);
    return pool;
}

/* pm_pool_pop under memcheck, out of line: the request's argument block
 * would otherwise cost the carving path below a stack frame. */
static PM_NOINLINE void pool_pop_vg(pm_pool_t *pool, pm_block_t *b)
{
    if (!pm_pool_pop(pool, b, true))
        _pm_pool_corrupt(pool, b);
    if (!pm_pool_is_block(pool->free))
        pool->free = PM_POOL_END_VG;
}

/* ---- slow path of malloc ----
 * Also the only way blocks leave a pool in slow mode (and for allocator
 * metadata): everything the inline pop does is repeated here. */
static PM_NOINLINE void *pool_alloc_slow(pm_heap_t *heap, unsigned c);

/* The most common miss of a program that frees at random (larson: 9 in 10
 * of them): the head has no free block and nothing left to carve, and the
 * pool after it has a free block.  The head goes FULL, the next pool
 * becomes the head, and its first free block is popped: what the loop of
 * pool_alloc_slow does, without a call, so without its stack frame (a
 * switch cost about 130 instructions there, 50 here). */
static inline void *pool_switch(pm_heap_t *heap, pm_pool_t *head, pm_pool_t *next)
{
    if (pm_unlikely(next->prev != head))
        _pm_fatal_ptr("malloc", "corrupted pool list at", head);
    heap->pools[head->size_class] = next;       /* pool_unlink, for the head */
    next->prev = NULL;
    pool_set_bias(next, -1);                    /* the pin moves on */
    head->next = NULL;
    head->listed = 0;
    pool_set_bias(head, pool_full_bias(head));  /* USED -> FULL */
    pm_block_t *b = next->free;
    if (!pm_pool_pop(next, b, false))
        _pm_pool_corrupt(next, b);
    b->link = 0;                                /* no link left for the program to read */
    if (atomic_load_explicit(pm_live_word(next, b), memory_order_relaxed) & pm_live_bit(b))
        _pm_pool_corrupt(next, b);              /* a link led to a block that is out */
    next->used++;
    pm_live_set(next, b);
    pool_check(head);
    pool_check(next);
    return b;
}

void *_pm_pool_alloc_generic(pm_heap_t *heap, unsigned c)
{
    pm_pool_t *head = heap->pools[c], *next = head->next;   /* the sentinel's next is NULL */
    if (pm_likely(!PM_STRICT && next != NULL && !pm_pool_is_block(head->free) &&
                  head->bump >= head->limit && pm_pool_is_block(next->free) &&
                  pm_heap_chores_none(heap)))
        return pool_switch(heap, head, next);
    return pool_alloc_slow(heap, c);
}

static void *pool_alloc_slow(pm_heap_t *heap, unsigned c)
{
    if (pm_unlikely(_pm_slow))
        _pm_tls_fast = PM_ROUTE_GENERIC;  /* slow mode was switched on by another thread */
    if (pm_heap_has_remote(heap))
        _pm_heap_collect(heap);       /* blocks freed by other threads come home */
    pm_heap_batch_tick();             /* and ours go to theirs now and then */
    for (;;) {
        pm_pool_t *pool = heap->pools[c];
        if (pool == &_pm_empty_pool && heap->spare_pools[c] != NULL) {
            pool = pool_spare_take(heap, c);
            pool_link_front(heap, pool);
        } else if (pool == &_pm_empty_pool && !(pool = pool_new(heap, c))) {
            errno = ENOMEM;
            return NULL;
        }
        pm_block_t *b = NULL;
        bool vg = pm_vg_on();
        if (!pm_pool_is_block(pool->free) && pool->bump < pool->limit && !vg) {
            /* never-used blocks: onto the thread cache, or into the list */
            if (PM_STRICT || !(b = pool_carve_cached(heap, pool, c)))
                pool_carve(pool);
        }
        if (b) {
            /* the first of the blocks carved onto the cache: out below */
        } else if (pm_pool_is_block(b = pool->free)) {
            if (vg) {
                pool_pop_vg(pool, b);
            } else {
                if (!pm_pool_pop(pool, b, false))
                    _pm_pool_corrupt(pool, b);
                b->link = 0;                   /* no link left for the program to read */
            }
        } else if (pool->bump < pool->limit) {
            /* under memcheck, one block at a time: the page is no-access */
            b = (pm_block_t *)(pm_pool_page(pool) + pool->bump);
            pool->bump += pool->block_size;
        } else {
            pool_unlink(heap, pool, pool_full_bias(pool));   /* USED -> FULL */
            continue;
        }
        if (atomic_load_explicit(pm_live_word(pool, b), memory_order_relaxed) & pm_live_bit(b))
            _pm_pool_corrupt(pool, b);                 /* a link led to a block that is out */
        if (PM_STRICT)
            _pm_strict_taken(b, pool->block_size);
        pool->used++;
        pm_live_set(pool, b);
        pool_check(pool);
        return b;
    }
}

/* ---- slow path of free: the pool was FULL, or is now EMPTY ---- */
void _pm_pool_free_generic(pm_heap_t *heap, pm_pool_t *pool)
{
    if (pm_unlikely(_pm_slow))
        _pm_tls_fast = PM_ROUTE_GENERIC;
    pool_check(pool);
    pm_assert(pool->heap == heap);
    _pm_tc_pool_event(heap, pool->size_class);
    if (!pool->listed)
        pool_link_second(heap, pool);         /* FULL -> USED, with 1/8 free */
    else if (pool->used == 0)
        pool_emptied(heap, pool);             /* USED -> EMPTY (never the head) */
}

void _pm_pool_free_local(pm_heap_t *heap, pm_pool_t *pool, pm_block_t *b, const char *call)
{
    pm_small_free_local(heap, pool, b, call, pm_vg_on());
}

/* Frees the n blocks of blocks[] (n >= 1, all in pool, whose owner heap is
 * the calling thread's, fast mode) in one go: mask has their live bits.
 * The live bits are cleared a word at a time and `used` drops by n once.
 * When they are all the pool still has out, no link is written at all: the
 * pool goes back to its uncarved state (free list empty, bump at the first
 * block), as a fresh pool would be, and then empties as one free would
 * empty it.  Returns false, having changed nothing, when some block is not
 * out or appears twice: the caller then frees them one by one, which names
 * the bad one. */
bool _pm_pool_free_run(pm_heap_t *heap, pm_pool_t *pool, const uint64_t mask[8],
                       void *const *blocks, size_t n)
{
    size_t bits = 0;
    for (unsigned w = 0; w < PM_POOL_GRANULES / 64; w++) {
        uint64_t live = atomic_load_explicit(&pool->live[w], memory_order_relaxed);
        if ((live & mask[w]) != mask[w])
            return false;
        bits += (size_t)pm_popcount64(mask[w]);
    }
    if (bits != n)
        return false;
    for (unsigned w = 0; w < PM_POOL_GRANULES / 64; w++)
        if (mask[w])
            atomic_store_explicit(&pool->live[w],
                                  atomic_load_explicit(&pool->live[w], memory_order_relaxed) &
                                      ~mask[w],
                                  memory_order_relaxed);
    if ((size_t)pool_out(pool) == n && !PM_STRICT) {
        /* nothing left out: the blocks need no links (pools.h invariant,
         * out + free + uncarved == capacity, with uncarved == capacity) */
        pool->free = pm_pool_end(pm_pool_page(pool));   /* fast mode: never under memcheck */
        pool->bump = 0;
    } else {
        pm_block_t *head = pool->free;
        for (size_t i = 0; i < n; i++) {
            pm_block_t *b = blocks[i];
            b->link = pm_link_encode(b, head);
            head = b;
        }
        pool->free = head;
    }
    pool->used -= (int32_t)n;
    if (pool->used <= 0)        /* emptied, or off its list: pm_small_free_local's test */
        _pm_pool_free_generic(heap, pool);
    return true;
}

/* Frees block b of pool into its heap, which is ABANDONED (the caller holds
 * its lock): no thread allocates from it, so nothing is kept for reuse, not
 * even the list head's pool, and an empty pool goes back at once. */
void _pm_pool_free_abandoned(pm_heap_t *heap, pm_pool_t *pool, pm_block_t *b, const char *call)
{
    bool head = pool_is_head(heap, pool);     /* pinned: the free cannot release it */
    pm_small_free_local(heap, pool, b, call, pm_vg_on());
    if (head && pool_out(pool) == 0)
        pool_release(heap, pool);
}

size_t _pm_pool_release_empty(pm_heap_t *heap)
{
    size_t n = 0;
    for (unsigned c = 0; c < PM_CLASS_COUNT; c++) {
        for (pm_pool_t *spare; (spare = pool_spare_take(heap, c)) != NULL; n++)
            pool_release_raw(heap, spare);
        pm_pool_t *pool = heap->pools[c];
        while (pool != &_pm_empty_pool && pool) {
            pm_pool_t *next = pool->next;
            if (pool_out(pool) == 0) {
                pool_release_raw(heap, pool);
                n++;
            }
            pool = next;
        }
    }
    return n;
}

/* The link in free block b of pool failed its check on pop (pools.h,
 * pm_pool_pop).  The message names the pool's page. */
void _pm_pool_corrupt(pm_pool_t *pool, const pm_block_t *b)
{
    _pm_fatal_link("corrupted free list in pool", pm_pool_page(pool), b);
}

void *_pm_pool_corrupt_ret(pm_pool_t *pool, const pm_block_t *b) { _pm_pool_corrupt(pool, b); }

/* p is in pool's page but its live bit is clear (or p is misaligned):
 * a block start that is not out is a double free, anything else is not a
 * pointer malloc returned. */
void _pm_pool_bad_free(pm_pool_t *pool, void *p, const char *call)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)pm_pool_page(pool);
    /* (a block start beyond bump was handed out before the pool went back
     * to its uncarved state: _pm_pool_free_run) */
    if (off % pool->block_size == 0 && off < pool->limit)
        _pm_fatal_ptr(call, _pm_freed_word(call), p);
    _pm_fatal_ptr(call, "invalid pointer", p);
}

void _pm_pool_bad_free_ret(pm_pool_t *pool, void *p, const char *call)
{
    _pm_pool_bad_free(pool, p, call);
}
