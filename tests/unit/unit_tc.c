/* The thread cache's stacks (pools.h, tc_top; heap.c, _pm_tc_run_take):
 * each of the 108 classes has a run of the heap's slots of its own, as
 * long as its largest limit (a page of blocks for a small class, 8 to 127;
 * 8 KiB's worth for a medium one, 2 to 31), taken when the heap first
 * caches a block of the class, after the runs taken before it, so that the
 * runs tile the slots in the order the classes came; a class without one
 * caches nothing; and a class's stack hands back the blocks freed onto it,
 * newest first, with no other class's blocks among them (never-used
 * blocks carved onto a stack are taken off first).  Every class's
 * stack is filled past its limit before any is emptied, so that a run
 * that overlapped its neighbour would hand back the neighbour's blocks. */
#include "pm_test.h"
#include "pools/pools.h"
#include <pthread.h>

#define EXTRA 20                                  /* frees past a full stack */
#define MOST (PM_TC_SMALL_MOST + EXTRA)

static size_t class_size(unsigned c)
{
    return c < PM_CLASS_COUNT ? pm_class_size(c) : pm_medium_size(c - PM_CLASS_COUNT);
}

/* A class's room: its run of slots (whole: a range's host's is its
 * range's 8, 16 or 32 classes', a host's its group's 2 or 4, pools.h,
 * pm_class_range), or the limit a heap starts with once every range and
 * group is split (as here). */
static unsigned expected_room(unsigned c, bool whole)
{
    size_t group = !whole || c >= PM_CLASS_COUNT || c < 8 ? 1
                   : c == 15                           ? 8
                   : c == 31                           ? 16
                   : c == 63                           ? 32
                   : pm_class_host(c) != c             ? 1
                   : c < 32                            ? 2
                                                       : 4;
    size_t n = c < PM_CLASS_COUNT ? group * 4096 / class_size(c) : 8192 / class_size(c);
    size_t least = c < PM_CLASS_COUNT ? 32 * group : PM_TC_MEDIUM_LEAST;
    size_t most = c < PM_CLASS_COUNT ? PM_TC_SMALL_MOST : PM_TC_MEDIUM_MOST;
    if (least > most)
        least = most;
    return (unsigned)(n < least ? least : n > most ? most : n);
}
static unsigned expected_limit(unsigned c) { return expected_room(c, false); }
static unsigned expected_run(unsigned c) { return expected_room(c, true); }

/* The bottom word of class c's run (PM_TC_NO_RUN's word if it has none). */
static void **tc_run_bottom(pm_heap_t *heap, unsigned c) { return &heap->tc_slots[heap->tc_first[c]]; }

static void *blocks[PM_TC_CLASSES][MOST];
static void **bottom[PM_TC_CLASSES];
static unsigned limit[PM_TC_CLASSES];

/* A stack may hold never-used blocks, carved onto it when its pool was
 * (pool.c, pool_carve_cached): taken off here with mallocs, until its top
 * is its NULL bottom word, and freed at the end. */
static void *aside[PM_TC_CLASSES * PM_TC_SMALL_MOST];
static size_t naside;

static void drain(pm_heap_t *heap, unsigned c)
{
    while (*heap->tc_top[c] != NULL && naside < sizeof aside / sizeof aside[0])
        aside[naside++] = pm_malloc(class_size(c));
}

/* Blocks of main's that another thread frees come home in a batch; main's
 * next slow path drains it onto main's stacks (heap.c, heap_drain_batches):
 * the next mallocs of the class hand exactly those blocks back. */
#define HOME 12
static void *home[HOME];

static void *free_home_blocks(void *arg)
{
    (void)arg;
    pm_free(pm_malloc(24));      /* a heap of its own: it batches its remote frees */
    for (int i = 0; i < HOME; i++)
        pm_free(home[i]);
    return NULL;                 /* its batch goes home at its exit */
}

static void remote_frees_come_home_cached(pm_heap_t *heap)
{
    const size_t size = 200;
    unsigned c = pm_request_class(size);
    for (int i = 0; i < HOME; i++)
        home[i] = pm_malloc(size);
    drain(heap, c);
    pthread_t t;
    pthread_create(&t, NULL, free_home_blocks, NULL);
    pthread_join(t, NULL);
    void *slow = pm_malloc(440);  /* a class never used: its slow path collects */
    unsigned found = 0;
    while (*heap->tc_top[c] != NULL && found < 2 * HOME) {
        void *p = pm_malloc(size);
        for (int i = 0; i < HOME; i++)
            if (p == home[i]) {
                home[i] = NULL;
                found++;
            }
        aside[naside++] = p;
    }
    CHECK("another thread's frees come home onto the owner's stack", found == HOME);
    aside[naside++] = slow;
    drain(heap, pm_request_class(440));
}

/* How a class's new pools are carved onto its stack (pool.c,
 * pool_carve_cached), in a thread of its own (a fresh heap): its first
 * pool a few blocks at a time (a thread that takes a few and exits gives
 * back few never-used ones), the next ones whole at once. */
static size_t stack_count(pm_heap_t *heap, unsigned c)
{
    size_t n = 0;
    for (void **p = heap->tc_top[c]; *p != NULL; p--)
        n++;
    return n;
}

#define CARVE_BLOCKS 130
static void *carve_steps(void *arg)
{
    (void)arg;
    const size_t size = 64;   /* 64 blocks a pool */
    unsigned c = pm_request_class(size);
    static void *b[CARVE_BLOCKS];
    b[0] = pm_malloc(size);
    pm_heap_t *heap = _pm_tls_fast;
    CHECK("the carving thread has a heap with a cache", heap != PM_ROUTE_GENERIC && heap != NULL);
    if (heap == PM_ROUTE_GENERIC || heap == NULL) {
        pm_free(b[0]);
        return NULL;
    }
    size_t first = stack_count(heap, c);
    CHECK("a class's first pool: a few blocks carved at first", first >= 1 && first <= 4);
    size_t most = 0, at = 0;
    for (size_t i = 1; i < CARVE_BLOCKS; i++) {
        b[i] = pm_malloc(size);
        size_t n = stack_count(heap, c);
        if (n > most) {
            most = n;
            at = i;
        }
    }
    CHECK("the class's second pool: the rest of it carved at once", most == 63 && at == 64);
    for (size_t i = 0; i < CARVE_BLOCKS; i++)
        pm_free(b[i]);
    return NULL;
}

/* The carve's live bits (pool.c, carve_live_starts): in every pool of
 * every small class a thread fills, each block handed out is out (its
 * start's live bit set), and no bit is set but at a block's start (the
 * bits of blocks carved onto the stack are set too: cached blocks are
 * out).  A table's bit at a block's interior would let free take an
 * interior pointer; a missing one would report the block's free as
 * invalid. */
#define CARVE_POOLS 3
static void *carve_live(void *arg)
{
    (void)arg;
    static void *b[CARVE_POOLS * 512];
    int out = 1, starts = 1;
    for (unsigned c = 0; c < PM_CLASS_COUNT; c++) {
        size_t bs = pm_class_size(c), n = CARVE_POOLS * (PM_POOL_SIZE / bs);
        for (size_t i = 0; i < n; i++) {
            b[i] = pm_malloc(bs);
            out &= (atomic_load(pm_page_live_word(b[i])) & pm_live_bit(b[i])) != 0;
        }
        for (size_t i = 0; i < n; i++) {
            char *page = (char *)((uintptr_t)b[i] & ~(uintptr_t)(PM_POOL_SIZE - 1));
            size_t pbs = pm_pool_of_page(page)->block_size;   /* bs, or more with MIN_ALIGN=16 */
            for (size_t off = 0; off < PM_POOL_SIZE; off += 8) {
                bool live = (atomic_load(pm_page_live_word(page + off)) & pm_live_bit(page + off)) != 0;
                starts &= !live || (off % pbs == 0 && off + pbs <= PM_POOL_SIZE);
            }
        }
        for (size_t i = 0; i < n; i++)
            pm_free(b[i]);
    }
    CHECK("carve: every block handed out is out", out);
    CHECK("carve: no live bit but at a block's start", starts);
    return NULL;
}

/* A pool whose blocks all come back in one bulk free (_pm_pool_free_run,
 * the collector's) goes back to its never-carved state (bump 0) and, not
 * being its list's head, waits as a spare.  Taken back, it is an ordinary
 * spare, not an untouched page of a run (pool.c, pool_new): the spare
 * counts and pools_live come out as they went in. */
#define BULK_SIZE 72                     /* a class nothing else here uses: 56 a pool */
#define BULK_CAP 56
static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

static void *bulk_reset_spare(void *arg)
{
    (void)arg;
    static void *b[3 * BULK_CAP];
    b[0] = pm_malloc(BULK_SIZE);
    pm_heap_t *heap = _pm_tls_fast;
    CHECK("the bulk thread has a heap with a cache", heap != PM_ROUTE_GENERIC && heap != NULL);
    if (heap == PM_ROUTE_GENERIC || heap == NULL)
        return NULL;
    for (int i = 1; i < 2 * BULK_CAP; i++)
        b[i] = pm_malloc(BULK_SIZE);
    /* b[0 .. BULK_CAP) fill the first pool, in address order; the second
     * pool is the list's head */
    char *page = (char *)((uintptr_t)b[0] & ~(uintptr_t)(PM_POOL_SIZE - 1));
    int whole = 1;
    for (int i = 0; i < BULK_CAP; i++)
        whole &= (char *)b[i] == page + (size_t)i * BULK_SIZE;
    CHECK("the first pool's blocks are the first ones handed out", whole);
    pm_pool_t *pool = pm_pool_of_page(page);
    uint64_t mask[PM_POOL_GRANULES / 64] = {0};
    for (int i = 0; i < BULK_CAP; i++)
        mask[pm_live_index(b[i])] |= pm_live_bit(b[i]);
    uint32_t spares = heap->spare_pool_count, runs = heap->spare_run_count;
    uint64_t pools = snap().pools_live;
    CHECK("the bulk free takes the whole pool", _pm_pool_free_run(heap, pool, mask, b, BULK_CAP));
    CHECK("the emptied pool waits as a spare, never carved again",
          heap->spare_pool_count == spares + 1 && pool->bump == 0);
    /* past the head pool and the blocks carved onto the stack: the spare */
    for (int i = 2 * BULK_CAP; i < 3 * BULK_CAP; i++)
        b[i] = pm_malloc(BULK_SIZE);
    CHECK("taken back as an ordinary spare",
          heap->spare_pool_count == spares && heap->spare_run_count == runs);
    CHECK("and counted once in pools_live", snap().pools_live == pools);
    for (int i = BULK_CAP; i < 3 * BULK_CAP; i++)
        pm_free(b[i]);
    return NULL;
}

/* A heap made while the ranges are whole starts each range's host with
 * its range's room: a range's blocks all go onto the host's stack
 * (small_loop overflowed a host's stack with one class's room). */
static pthread_barrier_t whole_checked, whole_release;   /* its heap lives until main is done */
static void *whole_group_limits(void *arg)
{
    (void)arg;
    void *p = pm_malloc(1);
    pm_heap_t *heap = _pm_tls_fast;
    int ok = 1, hosted = 1;
    for (unsigned c = 8; c < PM_CLASS_COUNT; c++) {
        pm_free(pm_malloc(class_size(c)));   /* a block of c's range's host cached: its run */
        if (pm_class_range(c) == c)
            ok &= (unsigned)(heap->tc_end[c] - tc_run_bottom(heap, c)) == expected_run(c);
        else   /* served by its range's host, c caches nothing itself */
            hosted &= heap->tc_first[c] == PM_TC_NO_RUN;
    }
    CHECK("a whole range's host starts with the range's room", ok);
    CHECK("class 15 hosts 8 classes: 127 blocks", heap->tc_end[15] - tc_run_bottom(heap, 15) == 127);
    CHECK("a class its range's host serves takes no run", hosted);
    pthread_barrier_wait(&whole_checked);
    pthread_barrier_wait(&whole_release);
    pm_free(p);
    return NULL;
}

/* The end of a phase: a thread frees, in a row, far more blocks of a class
 * than its stack holds.  Pool events that find the stack full and
 * untouched since the last one make a run (heap.c, _pm_tc_pool_event), and
 * the limit drops to one block, which free compares with instead of
 * reading the block's mark (pools.h, pm_tc_push).  The next thread to need
 * a heap adopts this one with the limits a new heap starts with (heap.c,
 * tc_limits_reset). */
#define PHASE_BLOCKS 3000
#define PHASE_SIZE 48
static pm_heap_t *phase_heap;
static unsigned stack_limit(pm_heap_t *heap, unsigned c)
{
    return (unsigned)(heap->tc_end[c] - (heap->tc_top[c] - stack_count(heap, c)));
}

static void *phase_end(void *arg)
{
    (void)arg;
    static void *b[PHASE_BLOCKS];
    unsigned c = pm_request_class(PHASE_SIZE);
    for (int i = 0; i < PHASE_BLOCKS; i++)
        b[i] = pm_malloc(PHASE_SIZE);
    pm_heap_t *heap = _pm_tls_fast;
    CHECK("the phase thread has a heap with a cache", heap != PM_ROUTE_GENERIC && heap != NULL);
    if (heap == PM_ROUTE_GENERIC || heap == NULL)
        return NULL;
    CHECK("its limit starts above one block", stack_limit(heap, c) > 1);
    for (int i = 0; i < PHASE_BLOCKS; i++)
        pm_free(b[i]);
    CHECK("after the frees, a full stack", heap->tc_top[c] == heap->tc_end[c]);
    CHECK("whose limit is one block", stack_limit(heap, c) == 1);
    phase_heap = heap;
    return NULL;
}

static void *phase_next(void *arg)
{
    (void)arg;
    pm_free(pm_malloc(1));
    pm_heap_t *heap = _pm_tls_fast;
    unsigned c = pm_request_class(PHASE_SIZE);
    CHECK("the next thread adopts the phase thread's heap", heap == phase_heap);
    if (heap == phase_heap)
        CHECK("with the limit a new heap starts with", stack_limit(heap, c) == expected_limit(c));
    return NULL;
}

int main(void)
{
    pthread_t whole;
    pthread_barrier_init(&whole_checked, NULL, 2);
    pthread_barrier_init(&whole_release, NULL, 2);
    pthread_create(&whole, NULL, whole_group_limits, NULL);
    pthread_barrier_wait(&whole_checked);
    /* Every class serves its own requests here (pools.h, pm_class_range
     * and pm_medium_range): the checks below take blocks of each class by
     * its size.  The small ranges split first, then the hosts' groups. */
    for (unsigned pass = 0; pass < 2; pass++)
        for (unsigned c = 8; c < PM_CLASS_COUNT; c++)
            while (pm_class_serves(c) > 1)
                _pm_class_split(c);
    for (unsigned m = 0; m < PM_MEDIUM_COUNT; m++)
        if (pm_medium_range(m) == m)
            _pm_medium_split(m);
    pthread_t bulk;
    pthread_create(&bulk, NULL, bulk_reset_spare, NULL);
    pthread_join(bulk, NULL);
    pthread_t carver;
    pthread_create(&carver, NULL, carve_steps, NULL);
    pthread_join(carver, NULL);
    pthread_create(&carver, NULL, carve_live, NULL);
    pthread_join(carver, NULL);

    void *first = pm_malloc(1);                   /* the thread's heap */
    pm_heap_t *heap = _pm_tls_fast;
    CHECK("the thread has a heap with a cache", heap != PM_ROUTE_GENERIC && heap != NULL);
    if (heap == PM_ROUTE_GENERIC || heap == NULL)
        return pm_test_finish();
    /* The first malloc of a class carved the rest of its new pool onto the
     * class's stack (pool.c, pool_carve_cached): the next mallocs hand out
     * the pool's next blocks, in address order. */
    size_t carved = 0;
    int in_order = 1;
    for (char *prev = first; *heap->tc_top[0] != NULL && naside < PM_TC_SMALL_MOST; carved++) {
        char *p = pm_malloc(class_size(0));
        in_order &= p == prev + class_size(0);
        aside[naside++] = prev = p;
    }
    CHECK("a new pool's blocks are carved onto its class's stack", carved > 0);
    CHECK("they come back in address order", in_order);
    drain(heap, 0);
    remote_frees_come_home_cached(heap);          /* then every stack empty again */

    /* Layout: each class takes its run when its first block is cached
     * (here: its first free, or its first pool's carve onto the stack),
     * after the runs taken before; the runs of all the classes tile the
     * slots. */
    unsigned without = 0, unused = 0;
    for (unsigned c = 0; c < PM_TC_CLASSES; c++)
        if (heap->tc_first[c] == PM_TC_NO_RUN) {
            without++;
            unused = c;
        }
    CHECK("a class not used yet has no run", without > 0);
    CHECK("whose stack is empty, its end below its top",
          heap->tc_top[unused] == &heap->tc_slots[PM_TC_NO_RUN] &&
              heap->tc_end[unused] == heap->tc_top[unused] - 1 &&
              heap->tc_slots[PM_TC_NO_RUN] == NULL);
    unsigned next = heap->tc_runs_end, run_order = 1;
    for (unsigned c = PM_TC_CLASSES; c-- > 0;) {   /* the classes not used yet, last first */
        bool had = heap->tc_first[c] != PM_TC_NO_RUN;
        pm_free(pm_malloc(class_size(c)));
        if (!had) {
            run_order &= heap->tc_first[c] == next;
            next += expected_run(c) + 1;
        }
        drain(heap, c);
    }
    CHECK("a class's run follows the last one taken", run_order);
    unsigned at = PM_TC_RUNS_FROM, tiles = 0;
    for (bool found = true; found && at < PM_TC_RUNS_FROM + PM_TC_SLOTS;) {
        found = false;
        for (unsigned c = 0; c < PM_TC_CLASSES && !found; c++)
            if (heap->tc_first[c] == at) {
                at += expected_run(c) + 1;
                tiles++;
                found = true;
            }
    }
    CHECK("the runs of all the classes tile the slots",
          tiles == PM_TC_CLASSES && at == PM_TC_RUNS_FROM + PM_TC_SLOTS && heap->tc_runs_end == at);
    for (unsigned c = 0; c < PM_TC_CLASSES; c++) {
        bottom[c] = heap->tc_top[c];
        limit[c] = (unsigned)(heap->tc_end[c] - bottom[c]);
        CHECK("each stack starts empty, at its run's NULL word",
              bottom[c] == tc_run_bottom(heap, c) && *bottom[c] == NULL);
        CHECK("each limit starts at its class's largest", limit[c] == expected_limit(c));
    }

    /* Every class: its limit and EXTRA more, allocated and written. */
    for (unsigned c = 0; c < PM_TC_CLASSES; c++) {
        size_t size = class_size(c);
        for (unsigned i = 0; i < limit[c] + EXTRA; i++) {
            blocks[c][i] = pm_malloc(size);
            CHECK("a block of the class asked for", pm_malloc_usable_size(blocks[c][i]) == size);
            memset(blocks[c][i], (int)(c + i), size);
        }
        drain(heap, c);
    }
    /* All freed, oldest first: each stack fills up, the rest go home. */
    for (unsigned c = 0; c < PM_TC_CLASSES; c++)
        for (unsigned i = 0; i < limit[c] + EXTRA; i++)
            pm_free(blocks[c][i]);
    for (unsigned c = 0; c < PM_TC_CLASSES; c++) {
        CHECK("a full stack", heap->tc_top[c] == heap->tc_end[c]);
        CHECK("its bottom stays NULL", *bottom[c] == NULL);
    }
    /* Each class's next mallocs take its stack back, newest first: the
     * first `limit` blocks freed, in reverse. */
    unsigned wrong = 0, foreign = 0;
    for (unsigned c = 0; c < PM_TC_CLASSES; c++) {
        for (unsigned k = limit[c]; k-- > 0;) {
            void *p = pm_malloc(class_size(c));
            if (p != blocks[c][k])
                wrong++;
            if (pm_malloc_usable_size(p) != class_size(c))
                foreign++;
            blocks[c][k] = p;
        }
        CHECK("an emptied stack", heap->tc_top[c] == bottom[c]);
    }
    CHECK("every stack hands back its own blocks, newest first", wrong == 0);
    CHECK("no stack hands out another class's block", foreign == 0);
    for (unsigned c = 0; c < PM_TC_CLASSES; c++)
        for (unsigned k = 0; k < limit[c]; k++)
            pm_free(blocks[c][k]);
    for (size_t i = 0; i < naside; i++)
        pm_free(aside[i]);
    pm_free(first);
    pthread_barrier_wait(&whole_release);
    pthread_join(whole, NULL);
    pthread_t phase;
    pthread_create(&phase, NULL, phase_end, NULL);
    pthread_join(phase, NULL);
    pthread_create(&phase, NULL, phase_next, NULL);
    pthread_join(phase, NULL);
    return pm_test_finish();
}
