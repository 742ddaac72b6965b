/* heap.c -- thread heaps: ownership, frees from other threads, hand-over at
 * thread exit, and fork (floor 2).
 *
 * Ownership.  A heap is used by one thread at a time, its owner, which
 * allocates and frees its blocks without locks or atomic read-modify-write.
 * Blocks freed by other threads come back through two stacks, each pushed
 * with one CAS and taken whole by the owner with one exchange when its fast
 * path runs dry (_pm_pool_alloc_generic):
 *   - xthread_batches: a thread that has a heap of its own collects the
 *     blocks it frees for another heap in a batch record, up to
 *     PM_REMOTE_BATCH of them, and pushes the record (a record for each of
 *     up to PM_REMOTE_WAYS heaps at once).  One CAS per batch
 *     instead of one per block, and the owner's drain reads an array: the
 *     stores that put the blocks on their pools' lists are independent, so
 *     their misses on lines last written by the freeing thread overlap,
 *     where following a chain of blocks costs one dependent miss each.  A
 *     batch is pushed when it is full, when its way is wanted for a block of
 *     another heap and none is free, after PM_REMOTE_TICK allocation slow
 *     paths of the thread, at malloc_trim and at thread exit: a block waits
 *     at most that long, and a thread holds at most PM_REMOTE_WAYS x
 *     PM_REMOTE_BATCH of them.  The owner
 *     drains the blocks onto its thread cache while its stacks have room
 *     (free's push, checks included), so that its next mallocs pop them
 *     from an array: producer_consumer -28%, rptest_mix -18%; the rest go
 *     to their pools.
 *   - xthread_free: single blocks, linked through their first words (safe
 *     linking, pools.h): frees by threads without a heap, slow mode (where
 *     valgrind and the statistics want each free done at once), and a batch
 *     of one block.
 *
 * Hand-over.  When the owner exits (pthread key destructor, lifecycle.c) the
 * heap becomes ABANDONED: its lock now guards it.  It frees what it can,
 * returns empty pools and arenas, and joins the abandoned stack.  Threads
 * that free its blocks later take the lock and free them directly, a
 * batch at a time (as for a live owner: a thread with a heap collects
 * them first), so nothing waits for a new owner; the next thread that
 * needs a heap adopts
 * it whole, blocks and all.  Memory is therefore bounded by the largest
 * number of threads alive at once, not by the number of threads ever made.
 *
 * The race between a remote free and the owner's exit is closed by order:
 * the freeing thread pushes, then reads state; the exiting owner writes
 * state, then empties the stack (both sequentially consistent).  At least
 * one of them sees the other, so every pushed block is taken back.
 *
 * Fork.  The prepare handler takes every heap lock.  In the child, heaps of
 * threads that do not exist there may have been in the middle of an update:
 * they become ZOMBIE, never touched again, and frees of their blocks are
 * ignored (a bounded leak, in the child only).
 *
 * The backup heap serves threads that allocate after their heap was handed
 * over (other key destructors, glibc's own clean-up): it is permanently
 * ABANDONED, so every use takes its lock.
 */
#include "pools/pools.h"

#include <errno.h>
#include <string.h>

__thread pm_heap_t *_pm_tls_heap __attribute__((tls_model("initial-exec")));
/* The route of threads that may not use the fast paths: a heap whose class
 * lists are all empty, so malloc's fast path misses without a test of its
 * own (and no pool has it as owner, so free's fast path misses too). */
/* Where the route heap's and the backup heap's thread-cache stacks point
 * (pools.h, tc_top), and those of info byte 0 in every heap (pm_tc_push):
 * two NULL words, never written; the top is the second,
 * the end the first, so that malloc's pop finds NULL and free finds the
 * stack over its limit, the case that reads nothing and goes out of line. */
static void *tc_none[2];
#define TC_NONE_TOP (&tc_none[1])
#define TC_NONE_END (&tc_none[0])
pm_heap_t _pm_route_heap = {.pools = {[0 ... PM_CLASS_COUNT - 1] = &_pm_empty_pool},
                            .tc_top_none = TC_NONE_TOP,
                            .tc_end_none = TC_NONE_END,
                            .tc_top = {[0 ... PM_TC_CLASSES - 1] = TC_NONE_TOP},
                            .tc_end = {[0 ... PM_TC_CLASSES - 1] = TC_NONE_END},
                            .tc_first = {[0 ... PM_TC_CLASSES - 1] = PM_TC_NO_RUN},
                            .spans = {[0 ... PM_MEDIUM_COUNT - 1] = &_pm_empty_span}};
__thread pm_heap_t *_pm_tls_fast __attribute__((tls_model("initial-exec"))) = PM_ROUTE_GENERIC;

/* Called whenever _pm_tls_heap or _pm_slow changes for this thread.  A
 * change of _pm_slow made by another thread (pm_option_set of the
 * statistics) reaches this thread at its next slow path: the generic paths
 * of pool.c turn the route off, _pm_small_alloc_generic turns it back on. */
void _pm_heap_route(void)
{
    pm_heap_t *heap = _pm_tls_heap;
    bool mine = (uintptr_t)heap > (uintptr_t)PM_HEAP_DEAD;
    _pm_tls_fast = mine && !_pm_slow ? heap : PM_ROUTE_GENERIC;
    _pm_arena_set_mine = mine ? &heap->arenas : NULL;
}

static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static pm_heap_t *heaps_all;        /* every heap, linked by next_all */
static pm_heap_t *heaps_abandoned;  /* stack, linked by next_abandoned */
static uint64_t heaps_made;
static pm_heap_t backup_heap;
static _Atomic int backup_ready;

/* The most blocks class c's thread-cache stack may hold: small classes
 * about a page's worth, 32 to PM_TC_SMALL_MOST blocks, times group, the
 * classes it serves (a range's or a group's host while that is whole,
 * pools.h, pm_class_serves; its run of slots keeps the most room it has);
 * medium ones 8 KiB's worth, PM_TC_MEDIUM_LEAST to PM_TC_MEDIUM_MOST. */
static unsigned tc_limit(size_t c, size_t group)
{
    bool small = c < PM_CLASS_COUNT;
    size_t n = small ? group * 4096 / pm_class_size((unsigned)c)
                     : 8192 / pm_medium_size((unsigned)(c - PM_CLASS_COUNT));
    size_t least = small ? 32 * group : PM_TC_MEDIUM_LEAST;
    size_t most = small ? PM_TC_SMALL_MOST : PM_TC_MEDIUM_MOST;
    if (least > most)
        least = most;
    return (unsigned)(n < least ? least : n > most ? most : n);
}
static unsigned tc_limit_max(size_t c)
{
    return tc_limit(c, c < PM_CLASS_COUNT ? pm_class_serves_most((unsigned)c) : 1);
}
static unsigned tc_limit_now(size_t c)
{
    return tc_limit(c, c < PM_CLASS_COUNT ? pm_class_serves((unsigned)c) : 1);
}

/* The runs' total, PM_TC_SLOTS (pools.h), checked against the limits by
 * the first heap_init (under heaps_lock, before any heap with a cache
 * exists). */
static bool tc_slots_checked;

static void tc_slots_check(void)
{
    unsigned sum = 0;
    for (size_t c = 0; c < PM_TC_CLASSES; c++)
        sum += tc_limit_max(c) + 1;
    if (sum != PM_TC_SLOTS)   /* pools.h's sum is out of date */
        _pm_fatal("PM_TC_SLOTS (pools.h) does not match the thread cache's limits");
    tc_slots_checked = true;
}

/* Class c's run of tc_slots: its stack's NULL bottom word, then
 * tc_limit_max(c) words; PM_TC_NO_RUN's shared NULL word while it has none. */
static inline void **tc_bottom(pm_heap_t *heap, size_t c) { return &heap->tc_slots[heap->tc_first[c]]; }

/* Class c's stack may hold up to `limit` blocks (at least 1); a class
 * without a run none, its end below its top (pools.h). */
static void tc_set_limit(pm_heap_t *heap, size_t c, unsigned limit)
{
    heap->tc_end[c] = pm_tc_has_run(heap, c) ? tc_bottom(heap, c) + limit
                                          : &heap->tc_slots[PM_TC_NO_RUN - 1];
}
static unsigned tc_get_limit(pm_heap_t *heap, size_t c)
{
    return (unsigned)(heap->tc_end[c] - tc_bottom(heap, c));
}

/* Runs are taken when a class first needs one, not laid out in class
 * order: each class's run then started where the classes before it ended,
 * so that a thread touched a page of slots for every few classes it used,
 * however few of each it cached (33 KiB of slots a heap: python3 and
 * pm_bench's start-up had 10 pages of the heap's chunk resident, the
 * fields' 2 and nearly all 8 of the slots).  Taken in the order of first
 * use, the runs of a thread's classes lie together: most classes cache a
 * few blocks, in the first line or two of their run (pm_bench's start-up:
 * 6 pages; a thread of mixed sizes as glibc-thread's, 8; docs/DESIGN.md).
 * A run is never given back (the heap's chunk never is), so the runs of
 * all 108 classes fit: PM_TC_SLOTS. */
bool _pm_tc_run_take(pm_heap_t *heap, size_t c)
{
    if (heap->tc_top[c] == TC_NONE_TOP)   /* the route or backup heap: no cache */
        return false;
    if (pm_tc_has_run(heap, c))
        return true;
    unsigned at = heap->tc_runs_end;
    heap->tc_runs_end = (uint16_t)(at + tc_limit_max(c) + 1);
    pm_assert(heap->tc_runs_end <= PM_TC_RUNS_FROM + PM_TC_SLOTS);
    heap->tc_first[c] = (uint16_t)at;   /* its bottom word: NULL, never written before */
    heap->tc_top[c] = tc_bottom(heap, c);
    tc_set_limit(heap, c, tc_limit_now(c));
    return true;
}

/* A heap's stacks as a thread starts with them: their limits at their
 * largest, their counts of events cleared.  For a new heap (heap_init),
 * and for an adopted one, whose last thread (its stacks went home at its
 * exit) may have lowered them. */
static void tc_limits_reset(pm_heap_t *h)
{
    for (unsigned c = 0; c < PM_TC_CLASSES; c++) {
        if (h->tc_top[c] == TC_NONE_TOP)
            continue;
        tc_set_limit(h, c, tc_limit_now(c));
        h->tc_wanted[c] = 0;
        h->tc_stale[c] = 0;
        h->tc_events[c] = 0;
        h->tc_full_newest[c] = NULL;
        h->tc_full_run[c] = 0;
    }
}

/* A heap's fields; `cache`: whether tc_slots follow it (a heap made for a
 * thread), else its stacks are the no-cache sentinels (the backup heap).
 * One copy: GCC's clone for the backup heap (1.7 KB) followed the name
 * into the first window of the hot text (preload/hot.ld), where every
 * program maps it and none but a thread out of memory runs it. */
static PM_ONE_COPY void heap_init(pm_heap_t *h, int state, bool cache)
{
    for (unsigned c = 0; c < PM_CLASS_COUNT; c++)
        h->pools[c] = &_pm_empty_pool;
    for (unsigned m = 0; m < PM_MEDIUM_COUNT; m++) {
        h->spans[m] = &_pm_empty_span;
        h->spare_spans[m] = NULL;
    }
    h->spare_span_classes = 0;
    h->spare_span_pages = 0;
    atomic_store_explicit(&h->pools_live, 0, memory_order_relaxed);
    atomic_store_explicit(&h->spans_live, 0, memory_order_relaxed);
    atomic_store_explicit(&h->span_pages_live, 0, memory_order_relaxed);
    PM_VG_ATOMIC_WORDS(&h->pools_live, 3 * sizeof h->pools_live);   /* read by pm_stats_get */
    atomic_store_explicit(&h->xthread_free, NULL, memory_order_relaxed);
    atomic_store_explicit(&h->xthread_batches, NULL, memory_order_relaxed);
    atomic_store_explicit(&h->xthread_records, NULL, memory_order_relaxed);
    atomic_store_explicit(&h->state, state, memory_order_relaxed);
    PM_VG_ATOMIC_WORDS(&h->xthread_free, sizeof h->xthread_free);   /* heaps are never unmapped */
    PM_VG_ATOMIC_WORDS(&h->xthread_batches, sizeof h->xthread_batches);
    PM_VG_ATOMIC_WORDS(&h->xthread_records, sizeof h->xthread_records);
    PM_VG_ATOMIC_WORDS(&h->state, sizeof h->state);
    pthread_mutex_init(&h->lock, NULL);
    memset(&h->arenas, 0, sizeof h->arenas);
    h->next_abandoned = NULL;
    /* No class has a run yet (_pm_tc_run_take).  The slots are NULL
     * already: a heap's chunk is fresh from mmap (never reused), and they
     * are not written, so that the pages of slots no run reaches stay
     * unbacked. */
    if (!tc_slots_checked)
        tc_slots_check();
    h->tc_top_none = TC_NONE_TOP;   /* info byte 0 (pools.h, pm_tc_push) */
    h->tc_end_none = TC_NONE_END;
    h->tc_runs_end = PM_TC_RUNS_FROM;
    for (unsigned c = 0; c < PM_TC_CLASSES; c++) {
        h->tc_first[c] = PM_TC_NO_RUN;
        h->tc_top[c] = cache ? tc_bottom(h, c) : TC_NONE_TOP;
        h->tc_end[c] = TC_NONE_END;
    }
    tc_limits_reset(h);   /* the ends of a heap with a cache */
}


/* Caller holds heaps_lock. */
static pm_heap_t *heap_new_locked(int state)
{
    /* A chunk of its own: a heap, thread cache included, is larger than a
     * record of a kind may be.  Zeroed; never freed. */
    pm_heap_t *h = _pm_meta_alloc_own_chunk(sizeof(pm_heap_t) +
                                            (PM_TC_RUNS_FROM + PM_TC_SLOTS) * sizeof(void *));
    if (!h)
        return NULL;
    heap_init(h, state, true);
    h->id = ++heaps_made;
    h->next_all = heaps_all;
    heaps_all = h;
    return h;
}

pm_heap_t *_pm_heap_backup(void)
{
    if (!atomic_load_explicit(&backup_ready, memory_order_acquire)) {
        pm_mutex_lock(&heaps_lock);
        if (!atomic_load_explicit(&backup_ready, memory_order_relaxed)) {
            heap_init(&backup_heap, PM_HEAP_ABANDONED, false);   /* no thread's fast route */
            backup_heap.id = 0;
            backup_heap.next_all = heaps_all;
            heaps_all = &backup_heap;
            atomic_store_explicit(&backup_ready, 1, memory_order_release);
        }
        pm_mutex_unlock(&heaps_lock);
    }
    return &backup_heap;
}

pm_heap_t *_pm_heaps_first(void)
{
    pm_mutex_lock(&heaps_lock);
    pm_heap_t *h = heaps_all;
    pm_mutex_unlock(&heaps_lock);
    return h;
}

void _pm_heaps_counts(uint64_t *pools, uint64_t *spans, uint64_t *span_pages)
{
    *pools = *spans = *span_pages = 0;
    /* heaps are only ever added, at the head, and never freed */
    for (pm_heap_t *h = _pm_heaps_first(); h; h = h->next_all) {
        *pools += atomic_load_explicit(&h->pools_live, memory_order_relaxed);
        *spans += atomic_load_explicit(&h->spans_live, memory_order_relaxed);
        *span_pages += atomic_load_explicit(&h->span_pages_live, memory_order_relaxed);
    }
}

pm_heap_t *_pm_heap_acquire(void)
{
    pm_mutex_lock(&heaps_lock);
    pm_heap_t *h = heaps_abandoned;
    if (h) {
        heaps_abandoned = h->next_abandoned;
        h->next_abandoned = NULL;
        pm_mutex_lock(&h->lock);
        atomic_store_explicit(&h->state, PM_HEAP_LIVE, memory_order_seq_cst);
        pm_mutex_unlock(&h->lock);
        tc_limits_reset(h);
        atomic_fetch_sub_explicit(&_pm_counters.heaps_abandoned, 1, memory_order_relaxed);
    } else {
        h = heap_new_locked(PM_HEAP_LIVE);
    }
    pm_mutex_unlock(&heaps_lock);
    if (h)
        atomic_fetch_add_explicit(&_pm_counters.heaps_live, 1, memory_order_relaxed);
    return h;
}

pm_heap_t *_pm_heap_thread_init(void)
{
    _pm_process_init();
    pm_heap_t *heap = _pm_heap_acquire();
    if (!heap) {
        errno = ENOMEM;
        return NULL;
    }
    _pm_tls_heap = heap;
    _pm_heap_route();
    _pm_thread_init_late();   /* may allocate: the heap is already in place */
    return heap;
}

/* The heap owning the pool or span of a page map entry; NULL if the page
 * is neither. */
static pm_heap_t *entry_owner(uintptr_t entry)
{
    if (entry & PM_PAGE_POOL)
        return ((pm_pool_t *)(entry & ~PM_PAGE_TAGS))->heap;
    if (entry & PM_PAGE_SPAN)
        return pm_entry_span(entry)->heap;
    return NULL;
}

/* Frees block b of heap (its owner, or the holder of its lock while it is
 * abandoned), whose page map entry is `entry`: free's own inline code
 * (pools.h), or under memcheck the out-of-line versions, which tell
 * memcheck about the link word.  `vg` is pm_vg_on(). */
static inline void free_home(pm_heap_t *heap, uintptr_t entry, pm_block_t *b, bool vg)
{
    if (entry & PM_PAGE_POOL) {
        pm_pool_t *pool = (pm_pool_t *)(entry & ~PM_PAGE_TAGS);
        if (vg)
            _pm_pool_free_local(heap, pool, b, "free");
        else
            pm_small_free_local(heap, pool, b, "free", false);
    } else {
        pm_span_t *s = pm_entry_span(entry);
        if (vg)
            _pm_span_free_local(heap, s, b, "free");
        else
            pm_span_free_inline(heap, s, b);
    }
}

/* Frees every block of the stack into heap; the caller owns heap (or holds
 * its lock while it is abandoned).  Each link is checked before it is
 * followed (safe linking, pools.h): it must lead to NULL or to a block of
 * this heap. */
static void heap_drain(pm_heap_t *heap, pm_block_t *b)
{
    const bool vg = pm_vg_on();
    /* The entry of each block is looked up once: to check the link that
     * leads to it, then to free it.  The head was checked by the pusher. */
    uintptr_t entry = b ? pm_pagemap_get(b) : 0;
    while (b) {
        pm_block_t *next = pm_link_decode(b, vg);
        uintptr_t next_entry = next ? pm_pagemap_get(next) : 0;
        if (pm_unlikely(next && entry_owner(next_entry) != heap))
            _pm_fatal_link("corrupted remote free list of heap", heap, b);
        free_home(heap, entry, b, vg);
        b = next;
        entry = next_entry;
    }
}

/* ---- batches of remote frees (see the top of the file) ----
 * Records belong to the heap of the thread that made them (`from`), for
 * good: a drained record goes back to that heap's xthread_records stack
 * (one CAS, never a lock: a producer and a consumer pass records back and
 * forth without meeting on the records' lock), and the heap's thread takes
 * that stack whole when it runs out.  So a heap keeps at most the records
 * it had in flight at once, and they pass with the heap to its next owner. */
#define PM_REMOTE_TICK 64     /* allocation slow paths a batch may wait */

static pm_meta_kind_t batch_records = PM_META_KIND(sizeof(pm_remote_batch_t));
/* A thread fills up to PM_REMOTE_WAYS batches at once, one per owner: a
 * thread that frees blocks of several heaps in turn (a consumer of several
 * producers, a logger freeing every thread's messages) would otherwise push
 * a batch of one block at every change of owner.  With one batch, freeing
 * a million blocks that 2 (4) live threads made, in the order made, took
 * 50 (74) ns a free, a CAS each; jemalloc 14, tcmalloc 19, mimalloc 2 35.
 * An owner's batch is in way batch_way(owner) when it can be: free's inline
 * path looks there alone; batch_add looks at every way, then takes an
 * empty one, and pushes the batch of the owner's own way only when none
 * is empty.  Per way: the batch (NULL: none; it may hold no block), and the
 * heap its blocks belong to (NULL when it holds none).  _pm_batch_held:
 * bit w, way w holds a block (the inline checks of pools.h).  Then the
 * slow paths the oldest block has waited, and the thread's records ready
 * for use.  Only threads that have a heap of their own fill batches;
 * _pm_heap_batch_release empties all of this at thread exit, before the
 * heap is handed over. */
#define PM_REMOTE_WAYS 8
static __thread pm_remote_batch_t *batch_cur[PM_REMOTE_WAYS] __attribute__((tls_model("initial-exec")));
static __thread pm_heap_t *batch_owner[PM_REMOTE_WAYS] __attribute__((tls_model("initial-exec")));
__thread unsigned _pm_batch_held __attribute__((tls_model("initial-exec")));
static __thread unsigned batch_ticks __attribute__((tls_model("initial-exec")));
static __thread pm_remote_batch_t *batch_spares __attribute__((tls_model("initial-exec")));

/* Heaps are chunks of their own, apart by more than their size: a
 * multiplicative hash spreads them over the ways. */
static inline unsigned batch_way(const pm_heap_t *owner)
{
    return (unsigned)(((uintptr_t)owner * 0x9E3779B97F4A7C15ull) >> 61);
}
_Static_assert(PM_REMOTE_WAYS == 8, "batch_way keeps 3 bits");

/* Pushes the chain first..last (linked by next) onto heap's records. */
static void records_push(pm_heap_t *heap, pm_remote_batch_t *first, pm_remote_batch_t *last)
{
    pm_remote_batch_t *head = atomic_load_explicit(&heap->xthread_records, memory_order_relaxed);
    do {
        last->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&heap->xthread_records, &head, first,
                                                    memory_order_release, memory_order_relaxed));
}

/* An empty record for the calling thread, whose heap is `self`. */
static pm_remote_batch_t *batch_take(pm_heap_t *self)
{
    pm_remote_batch_t *r = batch_spares;
    if (!r && atomic_load_explicit(&self->xthread_records, memory_order_relaxed))
        r = atomic_exchange_explicit(&self->xthread_records, NULL, memory_order_acquire);
    if (r) {
        batch_spares = r->next;
        if (batch_spares)   /* the owner wrote it last: it comes while r fills */
            for (unsigned line = 0; line < sizeof *r; line += 64)
                __builtin_prefetch((const char *)batch_spares + line, 1);
        r->next = NULL;
        r->n = 0;
        return r;
    }
    if ((r = _pm_meta_alloc(&batch_records)))   /* zeroed; NULL when out of memory */
        r->from = self;
    return r;
}

/* Records whose blocks were freed go back to the heaps that filled them:
 * the calling thread's own at once, the others' gathered into one chain
 * per heap while they come from the same one, and pushed with one CAS
 * (batch_keep_end). */
typedef struct {
    pm_remote_batch_t *first, *last;
} batch_chain_t;

static void batch_keep_end(batch_chain_t *c)
{
    if (c->first)
        records_push(c->first->from, c->first, c->last);
    c->first = c->last = NULL;
}

static void batch_keep(batch_chain_t *c, pm_remote_batch_t *r)
{
    if (r->from == _pm_tls_heap) {
        r->next = batch_spares;
        batch_spares = r;
        return;
    }
    if (c->first && c->first->from != r->from)
        batch_keep_end(c);
    r->next = c->first;
    c->first = r;
    if (!c->last)
        c->last = r;
}

static void batch_keep_one(pm_remote_batch_t *r)
{
    batch_chain_t c = {NULL, NULL};
    batch_keep(&c, r);
    batch_keep_end(&c);
}

/* Frees the blocks of batch r (all of heap, checked to be out when they
 * were freed), then keeps r.  The caller owns heap (or holds its lock while
 * it is abandoned).  The addresses come from the record, allocator memory a
 * program cannot reach; each is still checked to be a block of this heap. */
static void heap_drain_batches(pm_heap_t *heap, pm_remote_batch_t *r)
{
    const bool vg = pm_vg_on();
    /* The owner's own drain: onto its thread cache (free's push, checks
     * included), where its next mallocs pop them from an array; what the
     * stacks have no room for goes to the pools as before.  Not into the
     * cache of a heap whose thread is not this one (an abandoned heap's
     * collect, by whoever holds its lock), nor in slow mode. */
    const bool cache = heap == _pm_tls_fast;
    batch_chain_t kept = {NULL, NULL};
    while (r) {
        pm_remote_batch_t *next = r->next;
        if (next)   /* written by another thread: its lines come while r's blocks are freed */
            for (unsigned line = 0; line < sizeof *next; line += 64)
                __builtin_prefetch((const char *)next + line);
        uint32_t n = r->n;
        if (pm_unlikely(n > PM_REMOTE_BATCH))
            _pm_fatal_link("corrupted remote free batch of heap", heap, r);
        for (uint32_t i = 0; i < n; i++) {
            void *b = r->blocks[i];
            if (i + 4 < n)
                __builtin_prefetch(r->blocks[i + 4], 1);   /* the link store ahead */
            uintptr_t entry = pm_pagemap_get(b);
            if (pm_unlikely(entry_owner(entry) != heap))
                _pm_fatal_link("corrupted remote free batch of heap", heap, b);
            size_t c = pm_entry_class(entry);
            if (cache && heap->tc_top[c] < heap->tc_end[c])
                pm_tc_push(heap, entry, b);
            else
                free_home(heap, entry, b, vg);
        }
        batch_keep(&kept, r);
        r = next;
    }
    batch_keep_end(&kept);
}

void _pm_heap_collect(pm_heap_t *heap)
{
    pm_remote_batch_t *r = atomic_exchange_explicit(&heap->xthread_batches, NULL,
                                                    memory_order_acquire);
    pm_block_t *b = atomic_exchange_explicit(&heap->xthread_free, NULL, memory_order_acquire);
    PM_VG_HAPPENS_AFTER(&heap->xthread_free);
    heap_drain(heap, b);
    heap_drain_batches(heap, r);
}

void _pm_heap_abandon(pm_heap_t *heap)
{
    pm_mutex_lock(&heap->lock);
    atomic_store_explicit(&heap->state, PM_HEAP_ABANDONED, memory_order_seq_cst);
    pm_remote_batch_t *batches = atomic_exchange_explicit(&heap->xthread_batches, NULL,
                                                          memory_order_seq_cst);
    pm_block_t *pending = atomic_exchange_explicit(&heap->xthread_free, NULL, memory_order_seq_cst);
    PM_VG_HAPPENS_AFTER(&heap->xthread_free);
    heap_drain(heap, pending);
    heap_drain_batches(heap, batches);
    _pm_pool_release_empty(heap);
    _pm_span_release_empty(heap);
    pm_mutex_unlock(&heap->lock);
    atomic_fetch_sub_explicit(&_pm_counters.heaps_live, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&_pm_counters.heaps_abandoned, 1, memory_order_relaxed);
    pm_mutex_lock(&heaps_lock);
    heap->next_abandoned = heaps_abandoned;
    heaps_abandoned = heap;
    pm_mutex_unlock(&heaps_lock);
}

/* Block b of abandoned heap owner (whose lock the caller holds), out. */
static void free_into_abandoned(pm_heap_t *owner, pm_block_t *b, const char *call)
{
    uintptr_t entry = pm_pagemap_get(b);
    if (entry & PM_PAGE_POOL)
        _pm_pool_free_abandoned(owner, (pm_pool_t *)(entry & ~PM_PAGE_TAGS), b, call);
    else
        _pm_span_free_abandoned(owner, pm_entry_span(entry), b, call);
}

/* Hands back to `owner`, a heap the calling thread does not own, either
 * block b (batch NULL) or the blocks of a batch; they were checked to be
 * out.  Whatever owner's state, every block ends up freed (or, ZOMBIE in a
 * fork child, left alone). */
static void heap_hand_back(pm_heap_t *owner, pm_block_t *b, pm_remote_batch_t *batch,
                           const char *call)
{
    for (;;) {
        int state = atomic_load_explicit(&owner->state, memory_order_seq_cst);
        if (state == PM_HEAP_LIVE) {
            if (batch) {
                pm_remote_batch_t *head = atomic_load_explicit(&owner->xthread_batches,
                                                               memory_order_relaxed);
                do {
                    batch->next = head;
                    PM_VG_HAPPENS_BEFORE(&owner->xthread_free);
                } while (!atomic_compare_exchange_weak_explicit(&owner->xthread_batches, &head,
                                                                batch, memory_order_seq_cst,
                                                                memory_order_relaxed));
            } else {
                pm_block_t *head = atomic_load_explicit(&owner->xthread_free, memory_order_relaxed);
                do {
                    pm_link_store(b, head, pm_vg_on());
                    PM_VG_HAPPENS_BEFORE(&owner->xthread_free);   /* our writes to b, then the owner's */
                } while (!atomic_compare_exchange_weak_explicit(&owner->xthread_free, &head, b,
                                                                memory_order_seq_cst,
                                                                memory_order_relaxed));
            }
            if (atomic_load_explicit(&owner->state, memory_order_seq_cst) != PM_HEAP_ABANDONED)
                return;
            /* The owner exited meanwhile and may have missed our blocks. */
            pm_mutex_lock(&owner->lock);
            if (atomic_load_explicit(&owner->state, memory_order_relaxed) == PM_HEAP_ABANDONED)
                _pm_heap_collect(owner);
            pm_mutex_unlock(&owner->lock);
            return;
        }
        if (state == PM_HEAP_ABANDONED) {
            pm_mutex_lock(&owner->lock);
            if (atomic_load_explicit(&owner->state, memory_order_relaxed) == PM_HEAP_ABANDONED) {
                if (batch)
                    for (uint32_t i = 0; i < batch->n; i++)
                        free_into_abandoned(owner, batch->blocks[i], call);
                else
                    free_into_abandoned(owner, b, call);
                pm_mutex_unlock(&owner->lock);
                if (batch)
                    batch_keep_one(batch);
                return;
            }
            pm_mutex_unlock(&owner->lock);
            continue;   /* adopted meanwhile: push to the new owner */
        }
        if (batch)      /* ZOMBIE (fork child): leave the blocks alone */
            batch_keep_one(batch);
        return;
    }
}

/* Pushes the batch of way w, if it holds any block: a batch of one goes as
 * a single block, and its record stays for the next batch. */
static void batch_flush_way(unsigned w)
{
    pm_remote_batch_t *r = batch_cur[w];
    pm_heap_t *owner = batch_owner[w];
    batch_owner[w] = NULL;
    _pm_batch_held &= ~(1u << w);
    if (_pm_batch_held == 0)
        batch_ticks = 0;
    if (!r || r->n == 0)
        return;
    if (r->n == 1) {
        r->n = 0;
        heap_hand_back(owner, r->blocks[0], NULL, "free");
        return;
    }
    batch_cur[w] = NULL;
    heap_hand_back(owner, NULL, r, "free");
}

/* Pushes every batch that holds a block. */
static void batch_flush(void)
{
    while (_pm_batch_held)
        batch_flush_way((unsigned)__builtin_ctz(_pm_batch_held));
    batch_ticks = 0;
}

void _pm_heap_batch_tick(void)
{
    if (++batch_ticks >= PM_REMOTE_TICK)
        batch_flush();
}

/* Thread exit, once _pm_tls_heap is PM_HEAP_DEAD: the batches go to their
 * owners, the thread's records stay with its heap. */
void _pm_heap_batch_release(pm_heap_t *heap)
{
    batch_flush();
    for (unsigned w = 0; w < PM_REMOTE_WAYS; w++)
        if (batch_cur[w]) {
            records_push(heap, batch_cur[w], batch_cur[w]);
            batch_cur[w] = NULL;
        }
    while (batch_spares) {
        pm_remote_batch_t *r = batch_spares;
        batch_spares = r->next;
        records_push(heap, r, r);
    }
}

/* The way for a block of owner: the one that holds owner's batch, else an
 * empty one (its own first), else its own, pushed. */
static unsigned batch_way_for(pm_heap_t *owner)
{
    unsigned own = batch_way(owner);
    for (unsigned w = 0; w < PM_REMOTE_WAYS; w++)
        if (batch_owner[w] == owner)
            return w;
    if (!(_pm_batch_held & (1u << own)))
        return own;
    if (_pm_batch_held != (1u << PM_REMOTE_WAYS) - 1)
        return (unsigned)__builtin_ctz(~_pm_batch_held);
    batch_flush_way(own);
    return own;
}

/* Adds b, a block of heap owner (live or abandoned), to one of the calling
 * thread's batches; false when no record could be had (b is then handed
 * back alone). */
static bool batch_add(pm_heap_t *owner, pm_block_t *b)
{
    unsigned w = batch_way_for(owner);
    pm_remote_batch_t *r = batch_cur[w];
    if (!r) {
        if (!(r = batch_take(_pm_tls_heap)))
            return false;
        batch_cur[w] = r;
    }
    batch_owner[w] = owner;
    _pm_batch_held |= 1u << w;
    r->blocks[r->n++] = b;
    if (r->n == PM_REMOTE_BATCH)
        batch_flush_way(w);
    return true;
}

/* Block b, owned by `owner`, is freed by a thread that does not own that
 * heap; the block was checked to be out.  In fast mode the thread batches
 * it (see the top of the file).  A thread that frees before it ever
 * allocated (a consumer of what others made) gets its heap now: the heap
 * is what hands its batch back when it exits. */
static void heap_free_remote(pm_heap_t *owner, pm_block_t *b, const char *call)
{
    /* An abandoned owner's blocks are batched too: heap_hand_back then
     * takes its lock once a batch.  One block at a time, freeing a million
     * blocks that an exited thread made (its results, handed to the main
     * thread) cost 250 instructions and 42-72 ns a free, two lock
     * round-trips each (tcmalloc 17-19, mimalloc 2 16-24). */
    int state = atomic_load_explicit(&owner->state, memory_order_relaxed);
    if (pm_likely(!_pm_slow) && (state == PM_HEAP_LIVE || state == PM_HEAP_ABANDONED) &&
        ((uintptr_t)_pm_tls_heap > (uintptr_t)PM_HEAP_DEAD ||
         (_pm_tls_heap == PM_HEAP_NONE && _pm_heap_thread_init())) &&
        batch_add(owner, b))
        return;
    heap_hand_back(owner, b, NULL, call);
}

/* The owner of small block b, which must be out. */
static pm_heap_t *pool_owner_checked(pm_pool_t *pool, pm_block_t *b, const char *call)
{
    pm_heap_t *owner = pool->heap;
    uint64_t bit = pm_live_bit(b);
    _Atomic uint64_t *w = pm_live_word(pool, b);
    if (!owner || ((uintptr_t)b & 7) ||
        !(atomic_load_explicit(w, memory_order_relaxed) & bit))
        _pm_pool_bad_free(pool, b, call);
    return owner;
}

/* Every free of a small block that the inline path did not take (through
 * alloc.c's door, which has called the hooks of slow mode): a block of
 * another thread's heap, a thread without a heap of its own, or slow mode. */
void _pm_heap_free_small(pm_pool_t *pool, pm_block_t *b, const char *call)
{
    pm_heap_t *owner = pool_owner_checked(pool, b, call);
    if (pm_unlikely(_pm_slow) && owner == _pm_tls_heap) {
        _pm_pool_free_local(owner, pool, b, call);
        return;
    }
    heap_free_remote(owner, b, call);
}

void _pm_heap_free_remote_span(pm_span_t *span, pm_block_t *b, const char *call)
{
    pm_heap_t *owner = span->heap;
    _pm_span_check((uintptr_t)span | PM_PAGE_SPAN, b, call);
    if (!owner)
        _pm_fatal_ptr(call, "invalid pointer", b);
    heap_free_remote(owner, b, call);
}

static PM_NOINLINE void remote_free_slow(pm_heap_t *owner, void *p)
{
    heap_free_remote(owner, p, "free");
}

/* free's inline path for a block of another heap (pools.h, pm_free_inline;
 * p is 8-aligned and its page is pool's or span's).  The common case --
 * fast mode, the thread's batch holds blocks of the same owner and has room
 * for one more without being pushed -- adds the block and returns, without
 * _pm_free_generic's door and with no stack frame.  The owner's state is
 * not read here: an owner that exits meanwhile gets the batch through
 * heap_hand_back, which frees into an abandoned heap under its lock. */
void _pm_heap_free_remote_fast(uintptr_t entry, void *p)
{
    if (pm_unlikely(_pm_slow)) {          /* the hooks of slow mode are at the door */
        _pm_free_generic(p, entry, "free");
        return;
    }
    pm_heap_t *owner;
    if (entry & PM_PAGE_POOL) {
        owner = pool_owner_checked(pm_entry_pool(entry), p, "free");
    } else {   /* _pm_span_check's test, as pm_span_free_inline makes it */
        pm_span_t *s = pm_entry_span(entry);
        if (pm_unlikely(!pm_block_out(p) || !(owner = s->heap)))
            _pm_span_bad_free(s, p, "free");
    }
    unsigned w = batch_way(owner);
    pm_remote_batch_t *r = batch_cur[w];
    if (pm_likely(batch_owner[w] == owner && r->n < PM_REMOTE_BATCH - 1)) {   /* owner: r holds a block */
        r->blocks[r->n++] = p;
        return;
    }
    remote_free_slow(owner, p);
}

/* ---- thread cache (pools.h, tc_top) ----
 * free's fast path caches every small or medium block a thread with a heap
 * frees, whichever heap owns it, after the checks the lists' push made
 * (live bit set, so a block start that is out or cached; no mark, so not
 * cached); malloc's takes the newest cached block of its class before the
 * list's.  What the lists did not give: a block freed is the next one
 * handed out (its line is warm), neither touches the header line but to
 * read it, and a block of another heap costs no batch while the thread
 * allocates its class.  A block freed onto a full stack goes the way free
 * went before: to the list if it is the thread's own, to its owner's batch
 * if not; the stack keeps its older blocks.  Its limit adapts below. */

/* Frees block p (a small or medium block that is out, page-map entry
 * `entry`) the way free went before the cache: the thread's own to its
 * pool's or span's list, another heap's to its owner's batch. */
static void tc_free_home(pm_heap_t *heap, uintptr_t entry, void *p)
{
    if (entry & PM_PAGE_POOL) {
        pm_pool_t *pool = pm_entry_pool(entry);
        if (pool->heap == heap) {
            pm_small_free_local(heap, pool, p, "free", false);
            return;
        }
    } else {
        pm_span_t *s = pm_entry_span(entry);
        if (s->heap == heap) {
            pm_span_free_inline(heap, s, p);
            return;
        }
    }
    _pm_heap_free_remote_fast(entry, p);
}

/* Sends block b of the calling thread's stack (mark checked, then wiped)
 * back to its pool or owner. */
static void tc_send_back(pm_heap_t *heap, pm_block_t *b)
{
    if (pm_unlikely(b->link != pm_tc_tag(b)))
        _pm_tc_corrupt_ret(heap, b);
    b->link = 0;
    tc_free_home(heap, pm_pagemap_get(b), b);
}

/* Pool state changes by frees (emptied, back on the list) with no malloc
 * finding the stack empty, before its limit starts to halve: more than a
 * batch of a few pools' worth of blocks makes. */
#define TC_EVENTS_MAX 32
/* Pool state changes in a row that find the stack full and untouched
 * before its limit drops to one block (_pm_tc_pool_event). */
#define TC_FULL_RUN 8

/* Halves class c's limit, down to one block. */
static void tc_halve(pm_heap_t *heap, size_t c)
{
    unsigned limit = tc_get_limit(heap, c);
    tc_set_limit(heap, c, limit > 1 ? limit / 2 : 1);
}

/* p onto class c's stack, which is below its end, marked as cached. */
static inline void tc_push_below_end(pm_heap_t *heap, size_t c, void *p)
{
    void **top = heap->tc_top[c];
    *++top = p;
    heap->tc_top[c] = top;
    ((pm_block_t *)p)->link = pm_tc_tag(p);
}

/* Blocks in class c's stack. */
static unsigned tc_count(const pm_heap_t *heap, size_t c)
{
    return (unsigned)(heap->tc_top[c] - tc_bottom((pm_heap_t *)heap, c));
}

/* Sends back the k oldest blocks of class c's stack. */
static void tc_drop_oldest(pm_heap_t *heap, size_t c, unsigned k)
{
    void **bottom = tc_bottom(heap, c) + 1;
    unsigned n = tc_count(heap, c);
    /* Out of the stack first: the pools' slow paths may run meanwhile. */
    void *old[PM_TC_SMALL_MOST];
    memcpy(old, bottom, k * sizeof *bottom);
    memmove(bottom, bottom + k, (n - k) * sizeof *bottom);
    heap->tc_top[c] = bottom - 1 + (n - k);
    for (unsigned i = 0; i < k; i++)
        tc_send_back(heap, old[i]);
}

void _pm_tc_push_slow(pm_heap_t *heap, uintptr_t entry, void *p)
{
    if (heap == PM_ROUTE_GENERIC) {   /* no cache: the way of a block of another heap */
        _pm_heap_free_remote_fast(entry, p);
        return;
    }
    size_t c = pm_entry_class(entry);
    /* p's own checks first, so that a bad free is reported as such. */
    if (entry & PM_PAGE_POOL) {
        pm_pool_t *pool = pm_entry_pool(entry);
        if (!(atomic_load_explicit(pm_live_word(pool, p), memory_order_relaxed) & pm_live_bit(p)))
            _pm_pool_bad_free(pool, p, "free");
    } else {
        pm_span_t *s = pm_entry_span(entry);
        if (!pm_block_out(p))
            _pm_span_bad_free(s, p, "free");
    }
    if (((pm_block_t *)p)->link == pm_tc_tag(p))
        _pm_tc_double_free_ret(p);
    if (pm_unlikely(!pm_tc_has_run(heap, c)) && _pm_tc_run_take(heap, c)) {   /* its first block */
        tc_push_below_end(heap, c, p);
        return;
    }
    /* The stack is over its limit (lowered by _pm_tc_pool_event): the
     * blocks above it go back.  Or it is full and p is another heap's
     * block, the PM_TC_STALE_MAX-th since the count was reset: unless a
     * malloc found the stack empty meanwhile, a thread that frees others'
     * blocks and allocates little of the class (a consumer) halves the
     * limit, and again every PM_TC_STALE_MAX / 2 of them, down to one
     * block.  Then p goes the way free went before the cache, to its pool
     * or its owner, and the stack keeps its older blocks for the next
     * mallocs: a block is handled once. */
    if (heap->tc_stale[c] >= PM_TC_STALE_MAX) {   /* counted by pm_tc_push */
        if (heap->tc_wanted[c]) {
            heap->tc_wanted[c] = 0;
            heap->tc_stale[c] = 0;
        } else {
            heap->tc_stale[c] = PM_TC_STALE_MAX / 2;   /* the next halving, half as far */
            tc_halve(heap, c);
        }
    }
    unsigned n = tc_count(heap, c), limit = tc_get_limit(heap, c);
    if (n > limit)
        tc_drop_oldest(heap, c, n - limit);
    tc_free_home(heap, entry, p);
}

/* Frees of the thread's own blocks reach its pools (the stack was full)
 * and change a pool's state TC_EVENTS_MAX times with no malloc finding the
 * stack empty: frees outrun mallocs here (the end of a phase).  The limit
 * halves, and again every TC_EVENTS_MAX / 2 such changes, down to one block;
 * the blocks above it go back at the next free of the class
 * (_pm_tc_push_slow), so that pools and arenas empty as they did without
 * the cache.  Mallocs that miss the pools double it again (_pm_tc_grow). */
void _pm_tc_pool_event(pm_heap_t *heap, size_t c)
{
    void **top = heap->tc_top[c];
    if (top == TC_NONE_TOP || !pm_tc_has_run(heap, c))   /* no cache, or no block cached yet */
        return;
    /* A run: TC_FULL_RUN events in a row that find the stack full, its
     * newest block the one the last found (no malloc took from it, no
     * free added to it), so that the frees of the class reach its pools
     * with nothing in between.  The end of a phase, a program freeing a
     * big structure: the limit drops to one block at once, and the blocks
     * above it go back at the next free (_pm_tc_push_slow), so that the
     * full stack the rest of the run meets is compared with rather than
     * each block's mark read (pm_tc_push).  Halving by the count below
     * took hundreds of frees a class; a batch that overflows the stack by
     * a few pools' worth does not make a run. */
    bool full = top == heap->tc_end[c];
    if (full && *top == heap->tc_full_newest[c]) {
        if (++heap->tc_full_run[c] >= TC_FULL_RUN) {
            heap->tc_full_run[c] = 0;
            tc_set_limit(heap, c, 1);
        }
    } else {
        heap->tc_full_newest[c] = full ? *top : NULL;
        heap->tc_full_run[c] = 0;
    }
    if (heap->tc_wanted[c]) {
        heap->tc_wanted[c] = 0;
        heap->tc_events[c] = 0;
    } else if (++heap->tc_events[c] >= TC_EVENTS_MAX) {
        heap->tc_events[c] = TC_EVENTS_MAX / 2;     /* the next halving, half as far */
        tc_halve(heap, c);
    }
}

void _pm_tc_grow(pm_heap_t *heap, size_t c)
{
    if (heap->tc_top[c] == TC_NONE_TOP || !pm_tc_has_run(heap, c))   /* no cache, or no run */
        return;
    unsigned limit = tc_get_limit(heap, c), max = tc_limit_now(c);
    if (limit < max)
        tc_set_limit(heap, c, limit * 2 < max ? limit * 2 : max);
}

void _pm_tc_push_marked(pm_heap_t *heap, uintptr_t entry, void *p)
{
    if (((pm_block_t *)p)->link == pm_tc_tag(p))
        _pm_tc_double_free_ret(p);
    tc_push_below_end(heap, pm_entry_class(entry), p);   /* pm_tc_push tested the end */
}

void _pm_tc_flush(pm_heap_t *heap)
{
    for (size_t c = 0; c < PM_TC_CLASSES; c++)
        if (tc_count(heap, c))
            tc_drop_oldest(heap, c, tc_count(heap, c));
}

void *_pm_tc_corrupt_ret(pm_heap_t *heap, const pm_block_t *b)
{
    /* a write after free over the mark, or a block cached twice */
    _pm_fatal_link2("corrupted thread cache of heap", heap, "mark in block", b, NULL);
}

void _pm_tc_double_free_ret(const pm_block_t *b)
{
    _pm_fatal_ptr("free", _pm_freed_word("free"), b);
}

size_t _pm_heaps_trim(void)
{
    size_t n = 0;
    pm_heap_t *self = _pm_tls_heap;
    if ((uintptr_t)self > (uintptr_t)PM_HEAP_DEAD) {
        _pm_heap_collect(self);         /* onto the thread cache, as much as it takes */
        _pm_tc_flush(self);             /* and from there home (other heaps' into our batch) */
        batch_flush();
        n += _pm_pool_release_empty(self);
        n += _pm_span_release_empty(self);
        n += _pm_arena_decommit_free(&self->arenas);
    }
    for (pm_heap_t *h = _pm_heaps_first(); h; h = h->next_all) {
        if (atomic_load_explicit(&h->state, memory_order_acquire) != PM_HEAP_ABANDONED)
            continue;
        pm_mutex_lock(&h->lock);
        if (atomic_load_explicit(&h->state, memory_order_relaxed) == PM_HEAP_ABANDONED) {
            _pm_heap_collect(h);
            n += _pm_pool_release_empty(h);
            n += _pm_span_release_empty(h);
            n += _pm_arena_decommit_free(&h->arenas);
        }
        pm_mutex_unlock(&h->lock);
    }
    return n;
}

/* ---- fork ---- */
void _pm_heaps_fork_prepare(void)
{
    pm_mutex_lock(&heaps_lock);
    for (pm_heap_t *h = heaps_all; h; h = h->next_all)
        pm_mutex_lock(&h->lock);
}

void _pm_heaps_fork_parent(void)
{
    for (pm_heap_t *h = heaps_all; h; h = h->next_all)
        pm_mutex_unlock(&h->lock);
    pm_mutex_unlock(&heaps_lock);
}

void _pm_heaps_fork_child(void)
{
    pm_heap_t *self = _pm_tls_heap;
    uint64_t live = 0;
    for (pm_heap_t *h = heaps_all; h; h = h->next_all) {
        pthread_mutex_init(&h->lock, NULL);
        if (h == self)
            live++;
        else if (atomic_load_explicit(&h->state, memory_order_relaxed) == PM_HEAP_LIVE)
            atomic_store_explicit(&h->state, PM_HEAP_ZOMBIE, memory_order_relaxed);
    }
    atomic_store_explicit(&_pm_counters.heaps_live, live, memory_order_relaxed);
    pthread_mutex_init(&heaps_lock, NULL);
}
