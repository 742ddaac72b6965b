/* arena.c -- 256 KiB arenas and the pages carved from them (floor 1).
 *
 * An arena is one 256 KiB-aligned mapping: pages 0-1 hold pm_arena_t and
 * the descriptors of the other pages (arenas.h), pages 2..63 are pools (one
 * page) and medium spans (runs of 1..16 pages).  A free page is found with one count-trailing-zeros on
 * free_pages, lowest first, so the pages an arena has never used stay
 * untouched (never faulted in) until it is nearly full.
 *
 * Each heap files its arenas by free page count in the arena set it embeds
 * (pm_arena_set_t: by_nfree[n], with a bitmask of non-empty lists) and takes pools from the fullest arena that has one.
 * This is CPython's usable_arenas ordering (bpo-1123430, Python 2.5): new
 * pools concentrate in few arenas, so the others empty out and go back to the
 * OS.  Here the choice costs O(1): ctz of the mask.
 *
 * An arena whose pools are all free leaves its heap for a global reserve,
 * newest first, where the next heap that needs an arena takes the newest
 * (its pages are the most likely to be still in cache and faulted in).  The
 * reserve keeps ARENA_RESERVE (4) arenas as long as they are not needed, and
 * up to ARENA_CACHE bytes (16 MiB) more for ARENA_DECAY_MS (10 s, as
 * jemalloc's dirty decay): older ones are unmapped whenever an arena joins
 * or leaves the reserve, and by malloc_trim; ones beyond the byte bound at
 * once.  The decay is counted from the free, sleeps included, and applied
 * at the next event, which is often the program's next burst: with 1 s, a
 * program that sleeps a second between bursts (rptest) unmapped what it was
 * about to fault in again (17,000 faults a run against 9,400 with 10 s).
 * So a program that frees and rebuilds many objects in a loop (a batch, a
 * garbage collection) reuses its arenas instead of unmapping and faulting
 * them in again each time, while memory it stops using goes back to the OS.
 * After a phase far bigger than that (out_peak, below), the reserve
 * keeps ARENA_RESERVE arenas only.
 */
#include "arenas/arenas.h"

#include <errno.h>
#include <string.h>

/* The reserve: a list from newest (reserve_newest, following next) to
 * oldest (reserve_oldest, following prev); reserve_count arenas. */
static pthread_mutex_t reserve_lock = PTHREAD_MUTEX_INITIALIZER;
static pm_arena_t *reserve_newest, *reserve_oldest;
static size_t reserve_count;

/* Arenas in use (owned by a heap: mapped and not in the reserve), and
 * their recent peak (arenas.h) over windows of ARENA_DECAY_MS, noted under
 * reserve_lock as an arena leaves its heap.  When the peak is more than
 * PHASE_OVER times what the reserve may hold and fewer than an eighth of
 * it are still in use, a big phase has ended (a server's request that
 * built and dropped 100 MiB of objects): the reserve keeps ARENA_RESERVE
 * arenas and no more, rather than ARENA_CACHE bytes until the decay, which
 * a process that then goes idle (no arena event, no large call) would
 * keep resident for good, once per process of a multi-process server.
 * A smaller phase, rebuilt at once (a batch, a collection), keeps its
 * arenas for reuse as before; of a bigger one the cache would have saved
 * at most a quarter of the faults. */
#define PHASE_OVER 4

/* Phases that come back (as the large cache's, large.c).  A big phase
 * (a recent peak of arenas out above what the reserve may keep) drops
 * once more arenas have left it than the reserve may keep (so the reserve
 * gives arenas back); the drop's low point is the fewest out since.  When
 * the arenas out climb back over half-way from that low point to the peak
 * within ARENA_DECAY_MS of the drop, the program rebuilds what it drops (a
 * batch job or a server that builds and frees 64 MiB of objects per
 * request), and for CYCLE_HOLD decay periods from then the reserve keeps
 * what its phases free: up to the recent peak less what is out (the decay
 * still applies; at most CYCLE_CAP times ARENA_CACHE until the thirty-
 * second session, when rounds of 4 million blocks of 64..176 bytes, 500
 * MB, unmapped and faulted in half of their arenas again every round: 160
 * ns a block against 27 with the peak kept, tcmalloc 39, mimalloc 2 27,
 * their peak RSS the same).  With 16 MiB
 * kept, a loop that allocated 64 MiB of 512-byte blocks and freed them
 * unmapped three quarters of its arenas and faulted them in again at every
 * round: 1.7 us a malloc+free (glibc 0.12, tcmalloc 0.12, mimalloc 3
 * 0.02).  The low point is measured, not assumed: a heap keeps arenas out
 * after it freed everything (the pools and spans at its lists' heads, its
 * spares, a few live blocks scattered over many arenas); with 16..1024-byte
 * objects, 47 of 283 arenas stayed out, and a test for "under an eighth of
 * the peak" saw no drop, so every round unmapped and faulted in 170 arenas
 * again (1.0 us a malloc+free against 0.065 once kept).  A process that
 * ends one big phase and waits (a PostgreSQL backend after its sort) never
 * qualifies. */
#define CYCLE_HOLD 10
#define CYCLE_CAP 16
static pm_phases_t phases;        /* of the arenas out (arenas.h) */

/* Arenas ARENA_CACHE holds. */
static inline size_t cache_arenas(void)
{
    return (size_t)_pm_option_values[PM_OPTION_ARENA_CACHE] / PM_ARENA_SIZE;
}

static void phase_watch_locked(uint64_t now, size_t out, size_t peak, size_t most)
{
    if (peak <= most)
        return;   /* the reserve keeps such a phase anyway */
    pm_phases_watch(&phases, now, out, peak, most,
                    (uint64_t)_pm_option_values[PM_OPTION_ARENA_DECAY_MS], CYCLE_HOLD);
}

/* The page pass (set_page_pass): looked for every PAGE_PASS_RETURNS page
 * runs a set's arenas get back, run once per ARENA_DECAY_MS. */
#define PAGE_PASS_RETURNS 64
static _Atomic size_t arenas_out;
static pm_recent_peak_t out_peak;

/* POOLMALLOC_ARENA_THP: once a heap's arenas would pass that many bytes
 * (arena_thp_wanted), its new arenas come from chunks of THP_CHUNK bytes,
 * aligned to it, that ask for transparent huge pages (madvise
 * MADV_HUGEPAGE); the rest of the chunk waits here, mapped but untouched,
 * for the next new arenas of any heap (under reserve_lock; malloc_trim
 * unmaps it, and so does the decay once it has waited a decay period).  A
 * fault then maps 2 MiB, one TLB entry, where a 4 KiB fault cost 11-15 us
 * on the 2-core VM of the figures: python's demo workload 0.28-0.33 ->
 * 0.27-0.29 s (mimalloc 2, whose arenas ask for huge pages, 0.26-0.29),
 * sqlite 1.34 -> 1.22.  What is touched becomes resident in 2 MiB steps,
 * and a chunk's arenas are all touched once heaps use them: the pages of
 * an arena that its heap leaves free (a span's run it cannot use:
 * pools/span.c, span_new) become resident too, and a small heap would pay
 * up to a chunk for a few pages.  Hence the bound: 8 MiB by default, below
 * which arenas are plain 4 KiB pages (0: never; 1: from the first). */
#define THP_CHUNK ((size_t)2 << 20)
static char *chunk_next;          /* the next arena of the current chunk */
static size_t chunk_left;         /* arenas left there */
static uint64_t chunk_made_ms;    /* when it was mapped: the rest is resident once
                                     its first arena was written, and given back
                                     after ARENA_DECAY_MS (_pm_arena_reserve_decay) */

/* A new arena's mapping from a huge-page chunk, or NULL (then a plain
 * one is made). */
static char *arena_map_thp(void)
{
    char *base = NULL;
    pm_mutex_lock(&reserve_lock);
    if (chunk_left) {
        base = chunk_next;
        chunk_next += PM_ARENA_SIZE;
        chunk_left--;
    }
    pm_mutex_unlock(&reserve_lock);
    if (base)
        return base;
    char *c = _pm_os_map(THP_CHUNK, THP_CHUNK);
    if (!c)
        return NULL;
    _pm_os_hugepages(c, THP_CHUNK);
    pm_mutex_lock(&reserve_lock);
    bool keep = !chunk_left;   /* else another thread's chunk came first */
    if (keep) {
        chunk_next = c + PM_ARENA_SIZE;
        chunk_left = THP_CHUNK / PM_ARENA_SIZE - 1;
        chunk_made_ms = _pm_os_now_ms();
    }
    pm_mutex_unlock(&reserve_lock);
    if (!keep)
        _pm_os_unmap(c + PM_ARENA_SIZE, THP_CHUNK - PM_ARENA_SIZE);
    return c;
}

/* Whether set's next new arena comes from a huge-page chunk: once the
 * heap's own arenas pass the bound, not the process's.  A chunk's pages
 * become resident whether used or not, and threads with middling heaps
 * full of holes would keep their chunks' holes resident: mimalloc-bench's
 * rptestN (two threads whose working sets of 16 B..16 KiB blocks are
 * replaced at random, 10.6 MiB in use in 16 MiB of arenas) peaked at a
 * median of 29.2 MB over 5 runs with the process's arenas as the measure,
 * 16.6 with the heap's, 18.3 without huge pages. */
static bool arena_thp_wanted(const pm_arena_set_t *set)
{
    size_t from = (size_t)_pm_option_values[PM_OPTION_ARENA_THP];
    return from && ((size_t)set->arenas + 1) * PM_ARENA_SIZE > from;
}

/* The arena's header is in slot 1; slot 0 stays empty (arenas.h). */
static inline char *arena_base(const pm_arena_t *a)
{
    return (char *)((uintptr_t)a & ~(uintptr_t)(PM_ARENA_SIZE - 1));
}

static inline pm_arena_t *arena_of(const void *p)
{
    return (pm_arena_t *)(((uintptr_t)p & ~(uintptr_t)(PM_ARENA_SIZE - 1)) + PM_ARENA_SLOT);
}

#define ARENA_META_BITS (((uint64_t)1 << PM_ARENA_META_PAGES) - 1)

/* ---- the heap's lists by free count ---- */
static void arena_unlink_locked(pm_arena_set_t *set, pm_arena_t *a)
{
    PM_UNLINK_CHECK(a, set->by_nfree[a->nfree], "arena list");
    if (a->prev)
        a->prev->next = a->next;
    else
        set->by_nfree[a->nfree] = a->next;
    if (a->next)
        a->next->prev = a->prev;
    if (!set->by_nfree[a->nfree])
        set->arenas_with_free &= ~((uint64_t)1 << a->nfree);
    a->next = a->prev = NULL;
}

static void arena_link_locked(pm_arena_set_t *set, pm_arena_t *a)
{
    pm_assert(a->nfree == (uint32_t)pm_popcount64(a->free_pages));
    pm_assert(!(a->free_pages & ARENA_META_BITS) && a->owner == set);
    a->prev = NULL;
    a->next = set->by_nfree[a->nfree];
    if (a->next)
        a->next->prev = a;
    set->by_nfree[a->nfree] = a;
    set->arenas_with_free |= (uint64_t)1 << a->nfree;
}

/* ---- getting and giving back whole arenas ---- */

static void reserve_unlink_locked(pm_arena_t *a)
{
    PM_UNLINK_CHECK(a, reserve_newest, "arena reserve");
    if (a->prev)
        a->prev->next = a->next;
    else
        reserve_newest = a->next;
    if (a->next)
        a->next->prev = a->prev;
    else
        reserve_oldest = a->prev;
    a->next = a->prev = NULL;
    reserve_count--;
    atomic_fetch_sub_explicit(&_pm_counters.arenas_reserved, 1, memory_order_relaxed);
}

/* Takes off the reserve, oldest first, the arenas beyond `keep` that are
 * older than the decay time (all beyond keep when `all`); returns them
 * linked by next, to be unmapped after the lock is released. */
static pm_arena_t *reserve_expire_locked(size_t keep, bool all)
{
    pm_arena_t *list = NULL;
    uint64_t now = reserve_count > keep && !all ? _pm_os_now_ms() : 0;
    uint64_t decay = (uint64_t)_pm_option_values[PM_OPTION_ARENA_DECAY_MS];
    size_t most = keep + cache_arenas();
    if (now) {
        size_t out = atomic_load_explicit(&arenas_out, memory_order_relaxed);
        pm_peak_roll(&out_peak, now, decay, out);
        size_t peak = pm_peak_get(&out_peak);
        phase_watch_locked(now, out, peak, most);
        if (pm_phases_cycling(&phases, now)) {   /* phases come back (above) */
            size_t cap = keep + CYCLE_CAP * cache_arenas();
            cap = peak > cap ? peak : cap;
            size_t want = peak > out ? peak - out : 0;
            want = want < cap ? want : cap;
            most = want > most ? want : most;
        } else if (peak > PHASE_OVER * most && out * 8 < peak) {
            most = keep;   /* a big phase has ended (above) */
        }
    }
    while (reserve_count > keep) {
        pm_arena_t *a = reserve_oldest;
        if (!all && now - a->empty_since_ms < decay && reserve_count <= most)
            break;
        reserve_unlink_locked(a);
        a->next = list;
        list = a;
    }
    return list;
}

/* Arenas go back to the OS UNMAP_BATCH at a time, with one munmap per run
 * of neighbours: those of one list (malloc_trim, the decay), and those a
 * thread gives back while it frees in bulk (between _pm_arena_bulk_begin
 * and _pm_arena_bulk_end: a collection's teardown), which wait here, off the
 * reserve and already unknown to the allocator, until the batch is full or
 * the bulk ends.  Arenas emptied one after the other are mostly neighbours
 * (they were mapped one after the other), and one munmap of a run costs the
 * kernel half as much as one per arena, which splits the area each time.
 * Per thread, so no lock. */
#define UNMAP_BATCH 16
typedef struct unmap_batch_s {
    unsigned depth;         /* nested bulk sections */
    unsigned n;
    void *base[UNMAP_BATCH];
} unmap_batch_t;
static __thread unmap_batch_t unmap_batch __attribute__((tls_model("initial-exec")));

static void unmap_batch_flush(unmap_batch_t *b)
{
    size_t n = b->n, sizes[UNMAP_BATCH];
    b->n = 0;
    for (size_t i = 0; i < n; i++)
        sizes[i] = PM_ARENA_SIZE;
    /* An arena munmap refuses (at vm.max_map_count) stays mapped with its
     * pages given back (base/os.h): only its address space is lost. */
    _pm_os_unmap_sized(b->base, sizes, n);
    atomic_fetch_add_explicit(&_pm_counters.arenas_released, n, memory_order_relaxed);
    atomic_fetch_sub_explicit(&_pm_counters.arenas_live, n, memory_order_relaxed);
}

static size_t arenas_unmap(pm_arena_t *list)
{
    unmap_batch_t *b = &unmap_batch;
    size_t n = 0;
    while (list) {
        pm_arena_t *a = list;
        list = a->next;
        a->magic = 0;
        n++;
        b->base[b->n++] = arena_base(a);
        if (b->n == UNMAP_BATCH)
            unmap_batch_flush(b);
    }
    if (!b->depth && b->n)
        unmap_batch_flush(b);
    return n;
}

void _pm_arena_bulk_begin(void) { unmap_batch.depth++; }

void _pm_arena_bulk_end(void)
{
    unmap_batch_t *b = &unmap_batch;
    if (--b->depth == 0 && b->n)
        unmap_batch_flush(b);
}

static pm_arena_t *arena_new(pm_arena_set_t *set)
{
    pm_arena_t *a = NULL, *expired = NULL;
    bool fresh = false;   /* a new mapping: none of its pages used yet */
    bool huge = false;    /* from a huge-page chunk (arena_map_thp) */
    size_t keep = (size_t)_pm_option_values[PM_OPTION_ARENA_RESERVE];
    pm_mutex_lock(&reserve_lock);
    if (reserve_newest) {
        a = reserve_newest;
        reserve_unlink_locked(a);
    } else {   /* a new mapping: the climb of a phase that comes back is seen here */
        uint64_t now = _pm_os_now_ms();
        size_t out = atomic_load_explicit(&arenas_out, memory_order_relaxed) + 1;
        pm_peak_roll(&out_peak, now, (uint64_t)_pm_option_values[PM_OPTION_ARENA_DECAY_MS], out);
        phase_watch_locked(now, out, pm_peak_get(&out_peak), keep + cache_arenas());
    }
    if (reserve_count > keep)
        expired = reserve_expire_locked(keep, false);
    pm_mutex_unlock(&reserve_lock);
    arenas_unmap(expired);
    if (!a) {
        char *base = arena_thp_wanted(set) ? arena_map_thp() : NULL;
        huge = base != NULL;
        if (!base)
            base = _pm_os_map(PM_ARENA_SIZE, PM_ARENA_SIZE);
        if (!base)
            return NULL;
        a = arena_of(base);
        fresh = true;
        _pm_large_cache_yield(PM_ARENA_SIZE);
        atomic_fetch_add_explicit(&_pm_counters.arenas_mapped, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&_pm_counters.arenas_live, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&arenas_out, 1, memory_order_relaxed);
    a->free_pages = ~ARENA_META_BITS;   /* every page but the slots' */
    /* A fresh arena's pages are clean, but not a huge-page chunk's: they
     * are resident once any arena of the chunk is written, so that nothing
     * is faulted in ahead there for nothing (pool_pages_populate, span.c's
     * span_fresh) and the page pass gives free ones back.  A reserve
     * arena's pages given back before it joined the reserve stay clean. */
    if (fresh)
        a->clean_pages = huge ? 0 : a->free_pages;
    a->aged_pages = 0;
    a->kept_pages = 0;
    a->nfree = PM_ARENA_USABLE;
    a->magic = PM_ARENA_MAGIC;
    a->owner = set;
    set->arenas++;
    arena_link_locked(set, a);
    return a;
}

/* a is already off the heap's lists. */
static void arena_release(pm_arena_t *a)
{
    size_t keep = (size_t)_pm_option_values[PM_OPTION_ARENA_RESERVE];
    bool at_once = _pm_option_values[PM_OPTION_ARENA_DECAY_MS] == 0;
    a->owner = NULL;
    a->empty_since_ms = at_once ? 0 : _pm_os_now_ms();
    pm_mutex_lock(&reserve_lock);
    pm_peak_note(&out_peak, atomic_fetch_sub_explicit(&arenas_out, 1, memory_order_relaxed));
    a->prev = NULL;
    a->next = reserve_newest;
    if (reserve_newest)
        reserve_newest->prev = a;
    else
        reserve_oldest = a;
    reserve_newest = a;
    reserve_count++;
    atomic_fetch_add_explicit(&_pm_counters.arenas_reserved, 1, memory_order_relaxed);
    pm_arena_t *expired = reserve_count > keep ? reserve_expire_locked(keep, at_once) : NULL;
    pm_mutex_unlock(&reserve_lock);
    arenas_unmap(expired);
}

size_t _pm_arena_trim_reserve(size_t keep)
{
    pm_mutex_lock(&reserve_lock);
    /* malloc_trim: the recent peak starts again from what is out now, and
     * no phase has come back yet */
    out_peak.cur = out_peak.prev = atomic_load_explicit(&arenas_out, memory_order_relaxed);
    out_peak.since_ms = _pm_os_now_ms();
    phases = (pm_phases_t){0};
    char *left = chunk_next;   /* the untouched rest of a huge-page chunk */
    size_t nleft = chunk_left;
    chunk_left = 0;
    pm_arena_t *list = reserve_expire_locked(keep, true);
    pm_mutex_unlock(&reserve_lock);
    if (nleft)
        _pm_os_unmap(left, nleft * PM_ARENA_SIZE);
    return arenas_unmap(list);     /* system calls after unlocking */
}

__thread pm_arena_set_t *_pm_arena_set_mine __attribute__((tls_model("initial-exec")));

/* The decay of the reserve without an arena joining or leaving it: called
 * by the large path's clock (large.c, at most every 100 ms), so that a
 * process whose pools stop changing (one gone idle after a burst) still
 * gives back what has decayed. */
size_t _pm_arena_reserve_decay(void)
{
    size_t keep = (size_t)_pm_option_values[PM_OPTION_ARENA_RESERVE];
    uint64_t now = _pm_os_now_ms(), decay = (uint64_t)_pm_option_values[PM_OPTION_ARENA_DECAY_MS];
    pm_mutex_lock(&reserve_lock);
    pm_arena_t *list = reserve_count > keep ? reserve_expire_locked(keep, false) : NULL;
    /* the rest of a huge-page chunk no new arena wanted for a decay period
     * (arena_map_thp): resident, for nothing (unit_idle_decay) */
    char *left = chunk_next;
    size_t nleft = chunk_left && now - chunk_made_ms >= decay ? chunk_left : 0;
    if (nleft)
        chunk_left = 0;
    pm_mutex_unlock(&reserve_lock);
    if (nleft)
        _pm_os_unmap(left, nleft * PM_ARENA_SIZE);
    pm_arena_set_t *set = _pm_arena_set_mine;
    if (set) {
        if (now - set->decommit_ms >= decay) {
            set->decommit_ms = now;
            _pm_arena_decommit_free(set);
        }
    }
    return arenas_unmap(list);
}

/* ---- page runs: pools (one page) and spans (1..16 pages) ---- */

/* Pool pages taken from where the arena has never been used (or gave the
 * pages back) are faulted in together with the clean free pages that
 * follow them, by one madvise(MADV_POPULATE_WRITE), instead of one fault
 * at a time as the pool and the program first write them: the pool's page
 * is written at once (its first block), and the next pools of a growing
 * heap come from the pages that follow (lowest first).  A fault costs 11-15
 * us a page on the 2-core VM of the figures, a populate 5.6-6.6 us a page
 * in runs of 16: 640,000 blocks of 100 bytes made in 0.13 s instead of
 * 0.21 (docs/DESIGN.md).  What it costs in memory is bounded:
 *  - how far ahead grows with the set's pages in use, a 64th of them up to
 *    POOLMALLOC_ARENA_POPULATE (15 pages, 60 KiB; 0: none), so that a heap
 *    of a few hundred blocks makes nothing ahead;
 *  - no more are made while pages made ahead wait untaken (the set's
 *    ahead_pages), since takes go to the fullest arena first and a heap
 *    that churns would otherwise leave them in one arena after another
 *    (espresso, about 370 pages in use, had 130-200 KiB more resident at
 *    its peak with a 32nd ahead; 8-68 KiB with a 64th and this bound);
 *  - they are not clean but free and dirty, so the page pass gives them
 *    back if the heap does not take them within one to two decay periods.
 * Spans are left alone here: a medium block is often written only in part
 * (a buffer's capacity); pools/span.c faults a span in at once for a class
 * it has seen written whole (span_fresh). */
static void pool_pages_populate(pm_arena_set_t *set, pm_arena_t *a, unsigned page, uint64_t run)
{
    unsigned most = set->pages_out / 64, ahead = 0;
    if (most > (unsigned)_pm_option_values[PM_OPTION_ARENA_POPULATE])
        most = (unsigned)_pm_option_values[PM_OPTION_ARENA_POPULATE];
    /* the clean pages after the first: the run's (its other pools, spares
     * until their class needs them) and the free ones after it */
    uint64_t ready = (a->clean_pages & (a->free_pages | run)) >> page >> 1;
    while (ahead < most && (ready >> ahead) & 1)
        ahead++;
    if (!ahead)
        return;   /* a page alone: its own fault costs as much */
    _pm_os_populate(arena_base(a) + (size_t)page * PM_PAGE_SIZE, (size_t)(1 + ahead) * PM_PAGE_SIZE);
    uint64_t made = (((uint64_t)1 << ahead) - 1) << (page + 1);
    a->clean_pages &= ~made;
    set->ahead_arena = a;
    set->ahead_pages = made & ~run;   /* the run's pages are taken now */
}

/* Lowest page starting a run of k free pages in `free`, or -1. */
static int run_find(uint64_t free, unsigned k)
{
    uint64_t x = free;
    for (unsigned i = 1; i < k; i++)
        x &= free >> i;
    return x ? __builtin_ctzll(x) : -1;
}

/* The run search, inlined into the pools' entry (one page each, often:
 * k == 1 folds the run search into one ctz, and the pages that follow it
 * are only looked at for a class that holds many pools) and the spans'.
 * Fullest arena first: lists by_nfree[n] for n = least, least + 1, ...  A
 * run of k pages may not exist even where k pages are free; a bounded
 * number of arenas is looked at before a new one is mapped.  The first
 * with a run of k pages gives it; if none, the first of them with a run
 * of `least` (<= k: spans, span_new) gives that, extended up to `most`. */
static inline __attribute__((always_inline)) void *pages_take(pm_arena_set_t *set, unsigned k,
                                                              unsigned least, unsigned most,
                                                              unsigned *got, bool *clean,
                                                              bool held_only)
{
    pm_arena_t *a = NULL, *shorter = NULL;
    int page = -1, shorter_page = -1;
    uint64_t usable = set->arenas_with_free & ~(((uint64_t)1 << least) - 1);
    unsigned looked = 0;
    while (usable && page < 0 && looked < 16) {
        unsigned n = (unsigned)__builtin_ctzll(usable);
        usable &= usable - 1;
        for (pm_arena_t *c = set->by_nfree[n]; c && looked < 16; c = c->next, looked++) {
            if (n >= k && (page = run_find(c->free_pages, k)) >= 0) {
                a = c;
                break;
            }
            if (least < k && !shorter && (shorter_page = run_find(c->free_pages, least)) >= 0)
                shorter = c;
        }
    }
    if (page < 0 && shorter) {
        a = shorter;
        page = shorter_page;
        k = least;   /* extended below, up to most */
    }
    if (page < 0) {
        if (held_only || !(a = arena_new(set)))
            return NULL;
        page = run_find(a->free_pages, k);
    }
    if (most > k)   /* and the free pages that follow it */
        while (k < most && (unsigned)page + k < PM_ARENA_PAGES && (a->free_pages >> (page + k)) & 1)
            k++;
    *got = k;
    uint64_t bits = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << page;
    if (set->ahead_arena == a)
        set->ahead_pages &= ~bits;
    if (clean)
        *clean = (a->clean_pages & bits) == bits;
    else if ((a->clean_pages & bits) && !set->ahead_pages)   /* pools' */
        pool_pages_populate(set, a, (unsigned)page, bits);
    set->pages_out += k;
    arena_unlink_locked(set, a);
    a->free_pages &= ~bits;
    a->clean_pages &= ~bits;
    a->aged_pages &= ~bits;
    a->nfree -= k;
    arena_link_locked(set, a);
    return arena_base(a) + (size_t)page * PM_PAGE_SIZE;
}

void *_pm_arena_pages_take(pm_arena_set_t *set, unsigned k, unsigned least, unsigned *got,
                           bool *clean, bool held_only)
{
    return pages_take(set, k, least, k, got, clean, held_only);
}

void *_pm_arena_pool_pages_take(pm_arena_set_t *set, unsigned most, unsigned *got, bool held_only)
{
    return pages_take(set, 1, 1, most, got, NULL, held_only);
}

static void set_page_pass(pm_arena_set_t *set);

static inline __attribute__((always_inline)) void pages_return(pm_arena_set_t *set, void *first,
                                                               unsigned k)
{
    if (pm_unlikely(++set->returns % PAGE_PASS_RETURNS == 0))
        set_page_pass(set);
    pm_arena_t *a = arena_of(first);
    unsigned page = (unsigned)(((uintptr_t)first - (uintptr_t)arena_base(a)) >> PM_PAGE_SHIFT);
    set->pages_out -= k;
    arena_unlink_locked(set, a);
    a->free_pages |= (((uint64_t)1 << k) - 1) << page;
    a->nfree += k;
    if (a->nfree == PM_ARENA_USABLE) {
        if (set->ahead_arena == a) {
            set->ahead_arena = NULL;
            set->ahead_pages = 0;
        }
        set->arenas--;
        arena_release(a);    /* last pool or span gone: the arena leaves the heap */
        return;
    }
    arena_link_locked(set, a);
}

void _pm_arena_pages_return(pm_arena_set_t *set, void *first, unsigned k)
{
    pages_return(set, first, k);
}

void _pm_arena_page_return(pm_arena_set_t *set, void *page) { pages_return(set, page, 1); }

/* Gives the runs of pages set in `pages` of arena a back to the OS; their
 * number. */
static size_t arena_decommit(pm_arena_t *a, uint64_t pages)
{
    size_t n = 0;
    a->clean_pages |= pages;
    if (a->owner && a->owner->ahead_arena == a)
        a->owner->ahead_pages &= ~pages;
    while (pages) {
        unsigned first = (unsigned)__builtin_ctzll(pages);
        unsigned len = (unsigned)__builtin_ctzll(~(pages >> first));
        _pm_os_decommit(arena_base(a) + (size_t)first * PM_PAGE_SIZE, (size_t)len * PM_PAGE_SIZE);
        pages &= ~((len == 64 ? ~(uint64_t)0 : (((uint64_t)1 << len) - 1)) << first);
        n += len;
    }
    return n;
}

/* The page pass: the pages of the set's arenas that have stayed free (and
 * dirty) since its last pass, one to two ARENA_DECAY_MS periods, go back to
 * the OS.  Run from pages_return every PAGE_PASS_RETURNS page runs given back
 * (one clock read), at most once per period: a heap whose blocks come and
 * go keeps the pages it reuses, and gives back those it stopped using,
 * which only the large path's clock gave back before, once per
 * ARENA_DECAY_MS (10 s), and only for a thread that made large calls: a
 * burst of 23 MiB of small blocks, one in 64 kept (every arena stays in
 * use), freed, then two quiet periods: 22.7 MiB above the start without
 * the pass, 7.8 with it (unit_page_decay).  Pages reused within a period
 * keep their place and their contents (batch_lifo, random_mix, larson
 * read the same).  The period is the reserve's, for the reserve's reason:
 * a program that sleeps between bursts (rptest) would fault in again what
 * a shorter one gave back (rptestN read 0.137-0.210 with a tenth of it,
 * 0.143-0.187 with all of it, 0.124-0.207 without the pass; 4 runs each). */
static void set_page_pass(pm_arena_set_t *set)
{
    uint64_t now = _pm_os_now_ms();
    uint64_t period = (uint64_t)_pm_option_values[PM_OPTION_ARENA_DECAY_MS];
    if (now - set->page_pass_ms < period)
        return;
    set->page_pass_ms = now;
    for (unsigned k = 1; k < PM_ARENA_PAGES; k++)
        for (pm_arena_t *a = set->by_nfree[k]; a; a = a->next) {
            uint64_t dirty = a->free_pages & ~a->clean_pages;
            arena_decommit(a, dirty & a->aged_pages);
            a->aged_pages = dirty & ~a->aged_pages;
        }
}

/* Gives the free pages of heap's arenas back to the OS (madvise: they stay
 * mapped and read back as zeros).  Pages already given back are skipped.
 * Returns the number of pages. */
size_t _pm_arena_decommit_free(pm_arena_set_t *set)
{
    size_t n = 0;
    for (unsigned k = 1; k < PM_ARENA_PAGES; k++) {
        for (pm_arena_t *a = set->by_nfree[k]; a; a = a->next) {
            n += arena_decommit(a, a->free_pages & ~a->clean_pages);
            a->aged_pages = 0;
        }
    }
    return n;
}

void _pm_arena_kept(const void *page, int k)
{
    pm_arena_t *a = arena_of(page);
    a->kept_pages = (uint32_t)((int)a->kept_pages + k);
    pm_assert(a->kept_pages + a->nfree <= PM_ARENA_USABLE);
}

bool _pm_arena_idle_after(const void *page, unsigned k)
{
    pm_arena_t *a = arena_of(page);
    return a->kept_pages != 0 && a->kept_pages + a->nfree + k == PM_ARENA_USABLE;
}

/* ---- fork: the reserve lock is the only lock here ---- */
void _pm_arena_fork_prepare(void) { pm_mutex_lock(&reserve_lock); }
void _pm_arena_fork_parent(void) { pm_mutex_unlock(&reserve_lock); }
void _pm_arena_fork_child(void) { pthread_mutex_init(&reserve_lock, NULL); }
