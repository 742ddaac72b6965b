/* The large path's reuse of cached mappings (arenas/large.c): a freed
 * mapping of any size serves a later request of any size, without a new
 * mapping; the pages past a smaller request stay resident within the
 * recent peak of use and are dropped beyond it; a smaller cached
 * mapping is grown with mremap; the cache holds no more than the recent
 * peak of use; a doubling buffer stops mapping after its first round; a
 * thread's last freed mappings (up to 64, 3 MiB in all) wait in its slots,
 * are counted right (an over-aligned block's too), and reach the cache
 * when newer ones push them out,
 * when the thread exits or trims; a process that frees
 * all its large blocks keeps a loop's buffer within a quarter of
 * LARGE_CACHE, and only 2 MiB after a phase that used more; a small
 * buffer grown past its mapping takes one that waits in the slots; the
 * cache holds hundreds of small mappings; a big phase that comes back
 * within the decay time is kept, for ten decay periods, even beyond four
 * times LARGE_CACHE and 4096 mappings; the cache gives its mappings back
 * when the heap of small blocks maps new arenas.
 * Behaviour only (counters and the resident set), never timing. */
#include "pm_test.h"
#include "pools/pools.h"
#include <pthread.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>

#define MiB ((size_t)1 << 20)

static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

static void touch(char *p, size_t n, int v)
{
    for (size_t i = 0; i < n; i += 4096)
        p[i] = (char)v;
    p[n - 1] = (char)v;
}

/* n blocks of 64 KiB into b[], block i written with i on every page. */
static void make_64k(char **b, int n)
{
    for (int i = 0; i < n; i++) {
        b[i] = pm_malloc(64 << 10);
        touch(b[i], 64 << 10, i);
    }
}

/* A thread with a heap frees a 200 KiB block and exits. */
static void *slot_thread(void *arg)
{
    pm_free(pm_malloc(16));
    pm_free(arg);
    return NULL;
}

/* A thread with a heap frees the 16 blocks of arg and exits. */
static void *free_all_thread(void *arg)
{
    char **b = arg;
    pm_free(pm_malloc(16));
    for (int i = 0; i < 16; i++)
        pm_free(b[i]);
    return NULL;
}

/* A thread that allocates nothing but large blocks: it has no heap until
 * its first free, which gives it one, so that its slot serves the loop. */
static void *large_only_thread(void *arg)
{
    pm_stats_t *out = arg;
    for (int i = 0; i < 100; i++) {
        char *p = pm_malloc(64 << 10);
        p[0] = (char)i;
        pm_free(p);
    }
    pm_stats_get(out);
    return NULL;
}

int main(void)
{
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 3600 * 1000);   /* nothing decays here */

    /* 0. First, while the recent peak of use is still the process's whole
     *    history: a loop over one 12 MiB buffer (within a quarter of the
     *    default LARGE_CACHE, 16 MiB) keeps it cached with nothing else
     *    live.  Then a phase of 3 x 8 MiB live at once (beyond the
     *    quarter), all freed: the cache keeps at most 2 MiB, so its 8 MiB
     *    mappings go back to the OS (a server after a big query). */
    CHECK("default large cache", pm_option_get(PM_OPTION_LARGE_CACHE) == (long)64 << 20);
    pm_stats_t z0 = snap();
    char *loop = pm_malloc(12 * MiB);
    for (int i = 0; i < 3; i++) {
        touch(loop, 12 * MiB, i);
        pm_free(loop);
        pm_stats_t z = snap();
        CHECK("loop buffer within the quarter: cached whole",
              z.large_cached_count == 1 && z.large_cached_bytes >= 12 * MiB);
        char *again = pm_malloc(12 * MiB);
        CHECK("loop buffer: the same mapping again", again == loop);
        loop = again;
    }
    pm_stats_t z1 = snap();
    CHECK("loop buffer: one mapping made", z1.large_misses == z0.large_misses + 1);
    pm_free(loop);
    char *phase[3];
    for (int i = 0; i < 3; i++) {
        phase[i] = pm_malloc(8 * MiB);
        touch(phase[i], 8 * MiB, 7);
    }
    for (int i = 0; i < 3; i++)
        pm_free(phase[i]);
    pm_stats_t z2 = snap();
    CHECK("after a phase beyond the quarter, at most 2 MiB cached",
          z2.large_cached_bytes <= 2 * MiB && z2.large_released >= z1.large_released + 3);

    /* 1. A big mapping (above a quarter of LARGE_CACHE, which used to be
     *    unmapped at once) is cached while the process holds as much in
     *    live blocks, and serves the same size again. */
    char *hold = pm_malloc(32 * MiB);
    touch(hold, 32 * MiB, 9);
    char *a = pm_malloc(30 * MiB);
    touch(a, 30 * MiB, 1);
    pm_free(a);
    pm_stats_t s0 = snap();
    CHECK("30 MiB freed: cached", s0.large_cached_count == 1 && s0.large_cached_bytes >= 30 * MiB);
    a = pm_malloc(30 * MiB);
    pm_stats_t s1 = snap();
    CHECK("30 MiB again: a hit", s1.large_hits == s0.large_hits + 1 && s1.large_misses == s0.large_misses);
    CHECK("30 MiB again: the cache is empty", s1.large_cached_count == 0);

    /* 2. A smaller request takes it too.  While the process stays within
     *    its recent peak of use (here hold and a were live together), the
     *    pages past the request stay resident: a later, larger request
     *    needs no faults (mimalloc-bench's malloc-large). */
    touch(a, 30 * MiB, 2);
    pm_free(a);
    double rss_cached = pm_test_rss_mib();
    s0 = snap();
    char *b = pm_malloc(4 * MiB);
    s1 = snap();
    double rss_reused = pm_test_rss_mib();
    CHECK("4 MiB from the 30 MiB mapping: a hit", b == a && s1.large_hits == s0.large_hits + 1 &&
                                                     s1.large_misses == s0.large_misses);
    CHECK("within the peak, its slack stays resident", rss_cached - rss_reused < 4.0);
    CHECK("usable size is the request, not the mapping", pm_malloc_usable_size(b) == 4 * MiB);
    b[4 * MiB - 1] = 3;
    pm_free(hold);
    pm_stats_t s2 = snap();
    CHECK("the cache stays within LARGE_CACHE", s2.large_cached_bytes <= ((size_t)64 << 20));
    char *b2 = pm_realloc(b, 12 * MiB);
    CHECK("realloc grows in place into the rest of the mapping", b2 == b && b2[4 * MiB - 1] == 3);
    pm_free(b2);
    pm_malloc_trim(0);

    /* 2b. Past the recent peak, the slack goes: p and q (8 + 30 MiB) were
     *    live together; q is freed (peak 38 MiB), a new mapping s raises the
     *    use to 10 MiB (q cannot serve it: over-aligned), and then a 4 MiB
     *    request takes q: keeping its 26 MiB of slack would make 40. */
    pm_option_set(PM_OPTION_LARGE_CACHE, (long)1 << 30);  /* so that q is cached at all */
    char *p = pm_malloc(8 * MiB);
    touch(p, 8 * MiB, 4);
    char *q = pm_malloc(30 * MiB);
    touch(q, 30 * MiB, 5);
    size_t align = 64 * MiB;
    while (((uintptr_t)q & (align - 1)) == 0)
        align *= 2;
    pm_free(q);
    char *sa = pm_aligned_alloc(align, 2 * MiB);
    CHECK("an over-aligned block: a new mapping", sa && sa != q);
    touch(sa, 2 * MiB, 6);
    rss_cached = pm_test_rss_mib();
    char *r = pm_malloc(4 * MiB);
    rss_reused = pm_test_rss_mib();
    CHECK("4 MiB took the cached 30 MiB mapping", r == q);
    CHECK("past the peak, its slack was dropped from the resident set",
          rss_cached - rss_reused >= 20.0);
    pm_free(r);
    pm_free(sa);
    pm_free(p);
    pm_option_set(PM_OPTION_LARGE_CACHE, (long)64 << 20);
    pm_malloc_trim(0);

    /* 3. A larger request grows a smaller cached mapping (its pages move);
     *    calloc of it is still all zeros. */
    char *c = pm_malloc(8 * MiB);
    memset(c, 0xab, 8 * MiB);
    pm_free(c);
    s0 = snap();
    char *z = pm_calloc(1, 16 * MiB);
    s1 = snap();
    CHECK("16 MiB grown from the 8 MiB mapping: no miss", s1.large_misses == s0.large_misses &&
                                                            s1.large_hits == s0.large_hits + 1);
    CHECK("the grown mapping left the cache", s1.large_cached_count == 0);
    int zero = 1;
    for (size_t i = 0; i < 16 * MiB; i++)
        zero &= z[i] == 0;
    CHECK("calloc of a grown mapping is zeroed", zero);
    CHECK("live bytes count the grown mapping", s1.large_live_bytes >= 16 * MiB);
    pm_free(z);
    pm_malloc_trim(0);

    /* 4. The cache holds at most the recent peak of use less the use now.
     *    A 40 KiB mapping is cached; a 48 KiB request cannot take it (too
     *    small, and too small to be worth growing) and maps; when that is
     *    freed the peak was 48 KiB, so only one of the two may stay. */
    pm_free(pm_malloc(40 << 10));
    _pm_large_slot_flush();   /* the thread's slot (7) keeps its last mapping: to the cache */
    s0 = snap();
    CHECK("40 KiB cached", s0.large_cached_count == 1);
    pm_free(pm_malloc(48 << 10));
    _pm_large_slot_flush();
    s1 = snap();
    CHECK("48 KiB had to map", s1.large_misses == s0.large_misses + 1);
    CHECK("the older mapping went back to the OS", s1.large_released == s0.large_released + 1);
    CHECK("one mapping cached, within the peak", s1.large_cached_count == 1 &&
                                                   s1.large_cached_bytes == (48 << 10));
    pm_malloc_trim(0);

    /* 5. A buffer doubling from 16 bytes to 1 MiB (realloc_double): after
     *    the first round, the rounds map and unmap nothing, and the buffer
     *    takes the waiting mapping by 16 KiB (at 8 KiB, unless its medium
     *    block already holds 8 KiB: 4 KiB grown with room takes a block of
     *    its range's host, 8 KiB, pools/pools.h, pm_medium_range), where it
     *    then grows in place (pools/alloc.c, realloc_move), its contents
     *    with it. */
    for (int round = 0; round < 51; round++) {
        if (round == 1)
            s0 = snap();
        char *p = pm_malloc(16);
        p[0] = 1;
        char *at16k = NULL;
        for (size_t n = 32; n <= MiB; n *= 2) {
            p = pm_realloc(p, n);
            CHECK("doubling realloc", p != NULL && p[0] == 1 && p[n / 2 - 1] == (n > 32 ? 2 : p[15]));
            p[n - 1] = 2;
            if (n == 16384)
                at16k = p;
        }
        if (round > 0)
            CHECK("doubling: a large mapping from 16 KiB on", p == at16k);
        pm_free(p);
    }
    s1 = snap();
    CHECK("doubling rounds: no new mapping", s1.large_misses == s0.large_misses);
    CHECK("doubling rounds: nothing unmapped", s1.large_released == s0.large_released);
    CHECK("doubling rounds: every large block from the cache",
          s1.large_hits - s0.large_hits == 50);

    /* 6. Big-block churn (malloc-large's shape): 5..25 MiB, four alive,
     *    written page by page.  The pages are reused: far fewer faults
     *    than pages written, and only a few mappings ever made. */
    pm_malloc_trim(0);
    unsigned long long rng = 42;
    char *live[4] = {0};
    s0 = snap();
    struct rusage ru0, ru1;
    size_t pages = 0;
    getrusage(RUSAGE_SELF, &ru0);
    for (int i = 0; i < 60; i++) {
        pm_free(live[i % 4]);
        size_t n = 5 * MiB + (size_t)(pm_test_rand(&rng) % (20 * MiB));
        live[i % 4] = pm_malloc(n);
        touch(live[i % 4], n, i);
        pages += n / 4096;
    }
    getrusage(RUSAGE_SELF, &ru1);
    s1 = snap();
    for (int i = 0; i < 4; i++)
        pm_free(live[i]);
    long faults = ru1.ru_minflt - ru0.ru_minflt;
    CHECK("churn: fewer faults than 3/4 of the pages written", (size_t)faults * 4 < pages * 3);
    CHECK("churn: few new mappings", s1.large_misses - s0.large_misses <= 12);

    pm_malloc_trim(0);
    CHECK("trim empties the cache", snap().large_cached_count == 0);
    CHECK("live bytes back to zero", snap().large_live_bytes == 0);

    /* 7. The thread's slot (it has one since its first large free): a loop over
     *    one 64 KiB buffer is served by the slot, not the cache, and every
     *    call is still counted; trim sends the slot's mapping to the cache
     *    and then to the OS. */
    s0 = snap();
    for (int i = 0; i < 1000; i++) {
        char *p = pm_malloc(64 << 10);
        p[0] = (char)i;
        pm_free(p);
    }
    s1 = snap();
    CHECK("slot: one mapping made", s1.large_misses == s0.large_misses + 1);
    CHECK("slot: 999 hits", s1.large_hits == s0.large_hits + 999);
    CHECK("slot: every call counted", s1.large_allocs == s0.large_allocs + 1000 &&
                                          s1.large_frees == s0.large_frees + 1000);
    CHECK("slot: the mapping waits outside the cache, not live",
          s1.large_cached_count == 0 && s1.large_live_bytes == 0);
    pm_malloc_trim(0);
    s2 = snap();
    CHECK("slot: trim gives its mapping back", s2.large_released == s1.large_released + 1 &&
                                                   s2.large_cached_count == 0);
    /* The same for an over-aligned block smaller than its alignment: its
     *    mapping is a whole alignment (64 KiB for 5000 bytes), which the
     *    slot hands back, as a new mapping would be no smaller (that
     *    waste once kept it in the slot, and every call went to the cache
     *    and its lock, a mapping taken and another pushed out). */
    pm_malloc_trim(0);
    s0 = snap();
    void *first = NULL;
    int same = 1;
    for (int i = 0; i < 1000; i++) {
        void *p = NULL;
        if (pm_posix_memalign(&p, 64 << 10, 5000) != 0 || ((uintptr_t)p & 0xffff) != 0) {
            CHECK("aligned slot: posix_memalign(64 KiB, 5000) gives an aligned block", 0);
            break;
        }
        ((char *)p)[4999] = (char)i;
        if (!first)
            first = p;
        same &= p == first;
        pm_free(p);
    }
    s1 = snap();
    CHECK("aligned slot: the same block each time", same);
    CHECK("aligned slot: one mapping made, 999 hits", s1.large_misses == s0.large_misses + 1 &&
                                                       s1.large_hits == s0.large_hits + 999);
    CHECK("aligned slot: none went through the cache", s1.large_cached_count == 0);
    /* A few buffers in turn (8 of 64..92 KiB, allocated, then freed): the
     *    slots serve nearly all of them (a malloc takes the newest mapping
     *    of its slot class, else of the nearest class above; a few
     *    requests that find none make a mapping),
     *    and keep them all: none reaches the cache (with one slot, seven
     *    of the eight went through the cache's lock at every round). */
    pm_malloc_trim(0);
    s0 = snap();
    char *few[65];
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 8; i++) {
            few[i] = pm_malloc((size_t)(64 + 4 * i) << 10);
            few[i][0] = (char)i;
        }
        for (int i = 0; i < 8; i++)
            pm_free(few[i]);
    }
    s1 = snap();
    CHECK("slots: few mappings made", s1.large_misses - s0.large_misses <= 16);
    CHECK("slots: nearly all hits", s1.large_hits - s0.large_hits >= 784);
    CHECK("slots: none cached, none live", s1.large_cached_count == 0 && s1.large_live_bytes == 0);
    /* The slots count their traffic in batches (and a free's fast path
     * keeps no count of the mappings waiting): the totals are exact once
     * read. */
    CHECK("slots: every malloc and free counted",
          s1.large_allocs - s0.large_allocs == 800 && s1.large_frees - s0.large_frees == 800 &&
              (s1.large_hits - s0.large_hits) + (s1.large_misses - s0.large_misses) == 800);
    /* A request that the last mapping freed (128 KiB) would serve with more
     * waste than the request takes the best fit among the slots (64 KiB). */
    pm_malloc_trim(0);
    char *x = pm_malloc(64 << 10), *y = pm_malloc(128 << 10);
    pm_free(x);
    pm_free(y);
    s1 = snap();
    x = pm_malloc(40 << 10);
    s2 = snap();
    CHECK("slots: the best fit serves a smaller request", s2.large_misses == s1.large_misses &&
                                                             s2.large_hits == s1.large_hits + 1 &&
                                                             s2.large_cached_count == 0);
    pm_free(x);
    /* Slot classes (four to a doubling, arenas/large.c): a new mapping has
     * its request's class's size, so that once freed it serves any request
     * of that class from the slot, at its own address; malloc_usable_size
     * still says the request's pages; realloc grows within the class's room
     * in place; and a mapping made for a request of another class (one
     * page more than 80 KiB: a 96 KiB mapping) is not handed to a smaller
     * class's request while that class's own mapping waits. */
    pm_malloc_trim(0);
    s1 = snap();
    x = pm_malloc((64 << 10) + 1);                         /* 17 pages: the 80 KiB class */
    y = pm_malloc((80 << 10) + 1);                         /* 21 pages: the 96 KiB class */
    CHECK("slot classes: usable size is the request's pages",
          pm_malloc_usable_size(x) == (68 << 10) && pm_malloc_usable_size(y) == (84 << 10));
    char *grown = pm_realloc(x, 80 << 10);
    CHECK("slot classes: realloc within the class stays", grown == x);
    touch(x, 80 << 10, 1);
    pm_free(y);
    pm_free(x);
    s2 = snap();
    char *back = pm_malloc(72 << 10);
    char *back2 = pm_malloc(96 << 10);
    pm_stats_t s3 = snap();
    CHECK("slot classes: each request gets its class's mapping back",
          back == x && back2 == y && s3.large_misses == s1.large_misses + 2 &&
              s3.large_hits == s2.large_hits + 2 && s3.large_cached_count == 0);
    pm_free(back);
    pm_free(back2);
    /* A sixty-fifth mapping freed finds the 64 slots full (arenas/large.c)
     * and pushes a batch of eight out to the cache, in one go: first the
     * 24 KiB one (a class of its own, the class that took one in least
     * recently), then the seven oldest of the 64 others, of 32 KiB (2 MiB
     * in all, within the 3 MiB the slots may hold).  The cache keeps them
     * all: what the slots and it held at the peak, less the slots' 57.
     * With 32 slots the thirty-third free sent eight out, and a loop over
     * 64 such blocks took the cache's lock at every round. */
    pm_malloc_trim(0);
    s1 = snap();
    for (int i = 0; i < 65; i++)
        few[i] = pm_malloc(i == 0 ? 24 << 10 : 32 << 10);
    for (int i = 0; i < 64; i++)
        pm_free(few[i]);
    s2 = snap();
    CHECK("slots: sixty-four wait", s2.large_cached_count == 0 &&
                                        s2.large_released == s1.large_released);
    pm_free(few[64]);
    s2 = snap();
    CHECK("slots: eight, oldest first, go to the cache when a sixty-fifth comes",
          s2.large_cached_count == 8 && s2.large_cached_bytes == (24 << 10) + 7 * (32 << 10) &&
              s2.large_released == s1.large_released);
    /* Two 1 MiB blocks (new mappings: nothing cached is big enough, nor
     * worth growing) freed: the first comes in beside the 57 (2,848 KiB),
     * the second would make 3,872 and pushes out the 32 KiB ones, oldest
     * first, until what stays and it fill no more than three quarters of
     * the 3 MiB: 49 of them.  So 49 went to the cache in all (it may give
     * some back to the OS at once: it holds no more than the recent
     * peak). */
    s1 = snap();
    x = pm_malloc(1 << 20);
    y = pm_malloc(1 << 20);
    pm_free(x);
    pm_free(y);
    s2 = snap();
    CHECK("slots: at most 64 and 3 MiB wait",
          s2.large_misses == s1.large_misses + 2 && s2.large_hits == s1.large_hits &&
              s2.large_cached_count - s1.large_cached_count +
                      (s2.large_released - s1.large_released) == 49 &&
              s2.large_live_bytes == 0);
    pm_malloc_trim(0);
    CHECK("slots: trim gives them all back", snap().large_cached_count == 0);
    /* Mappings waiting in full slots count as use (the cache's budget keeps
     * live blocks, slots and cache within the recent peak) but not towards
     * twice the use: after a phase beyond a quarter of LARGE_CACHE (8 MiB
     * here: so beyond 2 MiB), with 3 MiB of 1 MiB mappings waiting in the
     * slots and nothing live, the cache keeps 2 MiB (SLACK_KEEP) of the six
     * 2 MiB blocks freed, not twice the slots' 3 MiB. */
    long cache_before = pm_option_get(PM_OPTION_LARGE_CACHE);
    pm_option_set(PM_OPTION_LARGE_CACHE, 8L << 20);
    char *one[4], *two[6];
    for (int i = 0; i < 4; i++) {
        one[i] = pm_malloc(1 << 20);
        touch(one[i], 1 << 20, 1);
    }
    for (int i = 0; i < 6; i++) {
        two[i] = pm_malloc(2 << 20);
        touch(two[i], 2 << 20, 2);
    }
    for (int i = 0; i < 4; i++)   /* the fourth finds the slots full (3 MiB) */
        pm_free(one[i]);
    for (int i = 0; i < 6; i++)
        pm_free(two[i]);
    s2 = snap();
    CHECK("slots: not counted twice in the cache's budget", s2.large_cached_bytes <= (2 << 20));
    pm_option_set(PM_OPTION_LARGE_CACHE, cache_before);
    pm_malloc_trim(0);
    /* realloc down to less than half of a mapping a slot takes (768 KiB to
     * 200 KiB) moves the block and keeps the mapping, pages and all, in a
     * slot: the next request of the old size gets it back without a new
     * mapping (shrunk in place, its tail went back to the OS and was
     * faulted in again).  A shrink to more than half stays in place. */
    pm_malloc_trim(0);
    char *big0 = pm_malloc(768 << 10);
    touch(big0, 768 << 10, 5);
    char *half = pm_realloc(big0, 500 << 10);
    CHECK("shrink to more than half: in place", half == big0);
    s0 = snap();
    char *small = pm_realloc(half, 200 << 10);
    int kept = small != NULL;
    for (size_t i = 0; kept && i < (200u << 10); i += 4096)
        kept = small[i] == 5;
    CHECK("shrink to less than half: moved, contents kept", small != big0 && kept);
    char *again = pm_malloc(768 << 10);
    s1 = snap();
    CHECK("shrink: the old mapping serves the old size again",
          again == big0 && s1.large_misses == s0.large_misses + 1 &&
              s1.large_released == s0.large_released);
    pm_free(small);
    pm_free(again);
    /* A buffer grown by realloc (moved onto a mapping with room to grow,
     * unless it grew in place) and then shrunk to fit is trimmed in place,
     * not copied: the room was never committed. */
    pm_malloc_trim(0);
    char *grow = pm_malloc(100 << 10);
    touch(grow, 100 << 10, 7);
    grow = pm_realloc(grow, 300 << 10);
    touch(grow, 300 << 10, 7);
    char *fit = pm_realloc(grow, 200 << 10);
    CHECK("shrink to fit of a grown buffer: in place", fit == grow && fit[0] == 7);
    pm_free(fit);
    pm_malloc_trim(0);
    /* Growing a few bytes at a time within the mapping (realloc's fast path
     * for large blocks): in place, the usable size follows the request,
     * and past the mapping the block still moves or grows with its
     * contents. */
    char *steps = pm_malloc(1 << 20);
    touch(steps, 1 << 20, 8);
    pm_free(steps);
    _pm_large_slot_flush();               /* the 1 MiB mapping to the cache */
    char *b0 = pm_malloc(20000);          /* served by it, whole */
    memset(b0, 9, 20000);
    int in_place = 1, usable_ok = 1;
    char *g = b0;
    for (size_t n = 20000; n <= (900u << 10); n += 999) {
        g = pm_realloc(g, n);
        in_place &= g == b0;
        usable_ok &= pm_malloc_usable_size(g) == ((n + 4095) & ~(size_t)4095);
    }
    CHECK("growth within the mapping: in place", in_place && g[0] == 9 && g[19999] == 9);
    CHECK("growth within the mapping: usable size follows", usable_ok);
    g = pm_realloc(g, 3 << 20);
    CHECK("growth past the mapping keeps the contents", g && g[0] == 9 && g[19999] == 9);
    pm_free(g);
    pm_malloc_trim(0);
    /* Mappings the cache gives up wait to be unmapped in batches (up to 16
     * of up to 1 MiB): malloc_trim unmaps every one of them at once. */
    long cache_was = pm_option_get(PM_OPTION_LARGE_CACHE);
    pm_option_set(PM_OPTION_LARGE_CACHE, 0);
    char *twenty[20];
    for (int i = 0; i < 20; i++) {
        twenty[i] = pm_malloc(100 << 10);
        touch(twenty[i], 100 << 10, 1);
    }
    for (int i = 0; i < 20; i++)
        pm_free(twenty[i]);
    pm_malloc_trim(0);
    int gone = 1;
    for (int i = 0; i < 20; i++)
        gone &= msync(twenty[i], 4096, MS_ASYNC) == -1 && errno == ENOMEM;
    CHECK("trim: no evicted mapping left to unmap", gone);
    pm_option_set(PM_OPTION_LARGE_CACHE, cache_was);
    /* A thread's slot reaches the cache when the thread exits. */
    pm_malloc_trim(0);
    s0 = snap();
    pthread_t t;
    char *big = pm_malloc(200 << 10);
    CHECK("thread", pthread_create(&t, NULL, slot_thread, big) == 0 && pthread_join(t, NULL) == 0);
    s1 = snap();
    CHECK("slot: an exiting thread's mapping is cached", s1.large_cached_count == 1 &&
                                                           s1.large_live_bytes == 0);
    CHECK("slot: and its calls counted", s1.large_frees == s0.large_frees + 1);
    pm_malloc_trim(0);
    CHECK("slot: nothing left", snap().large_cached_count == 0);
    /* A thread without a heap uses its slot from its first free on. */
    s0 = snap();
    pm_stats_t inside;
    CHECK("thread", pthread_create(&t, NULL, large_only_thread, &inside) == 0 &&
                        pthread_join(t, NULL) == 0);
    s1 = snap();
    CHECK("large only: the thread got a heap", inside.heaps_live == s0.heaps_live + 1);
    CHECK("large only: its mapping waits in its slot, not the cache",
          inside.large_cached_count == 0 && inside.large_misses == s0.large_misses + 1);
    CHECK("large only: cached when it exits", s1.large_cached_count == 1 &&
                                                 s1.large_frees == s0.large_frees + 100);
    pm_malloc_trim(0);
    CHECK("large only: nothing left", snap().large_cached_count == 0);
    /* A thread that takes mappings from the cache with no free into its
     * slots between two misses (a taker) brings up to 7 more of the
     * nearby classes into its slots at the second (refills): a producer
     * of buffers another thread frees then takes the cache's lock once a
     * batch, not at every malloc.  Here 16 buffers of 64..124 KiB, freed
     * by a thread that exits (its slots go to the cache); then a free into
     * the main thread's slots (`own`), so that its next miss is not a
     * taker's; that miss takes one, the next takes one and refills 7, the
     * next 7 find them in the slots, and every call is counted once. */
    pm_malloc_trim(0);
    char *own = pm_malloc(40 << 10);
    char *given[16];
    for (int i = 0; i < 16; i++) {
        given[i] = pm_malloc((size_t)(64 + 4 * i) << 10);
        touch(given[i], (size_t)(64 + 4 * i) << 10, i);
    }
    CHECK("thread", pthread_create(&t, NULL, free_all_thread, given) == 0 && pthread_join(t, NULL) == 0);
    pm_free(own);   /* into the slots: the next miss is not a taker's */
    s0 = snap();
    CHECK("refill: the consumer's mappings are cached", s0.large_cached_count == 16);
    char *took[9];
    took[0] = pm_malloc(64 << 10);
    s1 = snap();
    CHECK("refill: none after a free into the slots", s1.large_cached_count == 15);
    took[1] = pm_malloc(64 << 10);
    s1 = snap();
    CHECK("refill: one taken, seven into the slots", s1.large_cached_count == 7 &&
                                                       s1.large_misses == s0.large_misses);
    for (int i = 2; i < 9; i++) {
        took[i] = pm_malloc(64 << 10);
        touch(took[i], 64 << 10, i);
    }
    s1 = snap();
    CHECK("refill: the slots serve the next seven", s1.large_cached_count == 7 &&
                                                       s1.large_misses == s0.large_misses);
    for (int i = 0; i < 9; i++)
        pm_free(took[i]);
    s1 = snap();
    CHECK("refill: every malloc and free counted once",
          s1.large_allocs - s0.large_allocs == 9 && s1.large_frees - s0.large_frees == 9 &&
              s1.large_hits - s0.large_hits == 9 && s1.large_live_bytes == s0.large_live_bytes);
    pm_malloc_trim(0);
    CHECK("refill: nothing left", snap().large_cached_count == 0);

    /* 8. Small buffers grown past their mapping, round after round, while
     *    others come and go (mimalloc-bench's espresso: 24 KiB buffers
     *    grown to 36, then 55 KiB, among 20 KiB ones): the growth takes a
     *    mapping an earlier round freed, which waits in the thread's slots,
     *    instead of a new one each round (which made espresso's resident
     *    set creep by 40 KiB a round until the slots were full); the
     *    contents go with it. */
    pm_malloc_trim(0);
    size_t sz0 = 24 * 1024 - 100, sz1 = 36 * 1024, sz2 = 55 * 1024;
    for (int round = 0; round < 100; round++) {
        if (round == 4)
            s0 = snap();
        char *p = pm_malloc(sz0);
        memset(p, round, sz0);
        char *other = pm_malloc(20000);   /* the pages next to p, often */
        p = pm_realloc(p, sz1);
        CHECK("grown past its mapping", p != NULL && p[0] == (char)round && p[sz0 - 1] == (char)round);
        memset(p + sz0, round + 1, sz1 - sz0);
        p = pm_realloc(p, sz2);
        CHECK("grown again", p != NULL && p[sz0 - 1] == (char)round && p[sz1 - 1] == (char)(round + 1));
        pm_free(other);
        pm_free(p);
    }
    s1 = snap();
    CHECK("grown buffers: no new mapping after the first rounds", s1.large_misses == s0.large_misses);
    pm_malloc_trim(0);

    /* 9. The cache holds many small mappings, not 128 at most: 600 blocks
     *    of 64 KiB (37.5 MiB, within a quarter of a 1 GiB LARGE_CACHE),
     *    freed, all stay (in the slots or the cache), and serve the next
     *    600 with no new mapping. */
    enum { MANY = 600, PHASE = 320 };
    static char *many[MANY];
    pm_option_set(PM_OPTION_LARGE_CACHE, (long)1 << 30);
    for (int round = 0; round < 2; round++) {
        s0 = snap();
        make_64k(many, MANY);
        s1 = snap();
        if (round == 1)
            CHECK("many: the second round maps nothing", s1.large_misses == s0.large_misses &&
                                                          s1.large_hits - s0.large_hits == MANY);
        for (int i = 0; i < MANY; i++) {
            CHECK("many: contents", many[i][0] == (char)i);
            pm_free(many[i]);
        }
        s2 = snap();
        if (round == 0)
            CHECK("many: more than 128 mappings cached", s2.large_cached_count > 400 &&
                                                           s2.large_released == s1.large_released);
    }
    pm_option_set(PM_OPTION_LARGE_CACHE, (long)64 << 20);
    pm_malloc_trim(0);

    /* 10. Phases that come back.  320 blocks of 64 KiB (20 MiB, beyond a
     *     quarter of LARGE_CACHE) made and freed: the first time the cache
     *     keeps 2 MiB, as after any big phase; made again at once (within
     *     the decay time), the phase has come back, so when it is freed
         *     the cache keeps it (here beyond LARGE_CACHE, 16 MiB: up to four
     *     times that), and the third round maps nothing (a request of
     *     another size meanwhile takes none of them).  Once no
     *     phase has come back for ten decay periods, a phase freed keeps 2
     *     MiB again.  A decay period of 1 s: with 250 ms a round written on
     *     a loaded machine (5120 faults) outlasted it, and the first
     *     mappings a round had freed were unmapped as unused before the
     *     next round reached them (the third round mapped some, once). */
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 1000);
    pm_option_set(PM_OPTION_LARGE_CACHE, 16L << 20);   /* kept beyond it: up to four times */
    for (int round = 0; round < 4; round++) {
        if (round == 3)
            usleep(12000 * 1000);   /* ten decay periods and more */
        s0 = snap();
        make_64k(many, PHASE);
        s1 = snap();
        if (round == 2)
            CHECK("phases: the third round maps nothing", s1.large_misses == s0.large_misses);
        for (int i = 0; i < PHASE; i++)
            pm_free(many[i]);
        s2 = snap();
        if (round == 0 || round == 3)
            CHECK("phases: a phase that has not come back keeps 2 MiB",
                  s2.large_cached_bytes <= 2 * MiB);
        else
            CHECK("phases: a phase that came back is kept, beyond LARGE_CACHE",
                  s2.large_cached_bytes > 16 * MiB && s2.large_released == s1.large_released);
        if (round == 1) {
            /* climbing again from there, a request takes no cached mapping
             * much larger than itself: 40 KiB finds only 64 KiB ones (the
             * slots' first go to the cache, whose rule this is) */
            _pm_large_slot_flush();
            s2 = snap();
            char *small = pm_malloc(40 << 10);
            pm_stats_t s3 = snap();
            CHECK("phases: a close fit or none", s3.large_misses == s2.large_misses + 1);
            pm_free(small);
        }
    }
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 3600 * 1000);
    pm_malloc_trim(0);

    /* 11. The same rounds, keeping one block in five from round to round
     *     (4 MiB): the use never falls below an eighth of its peak, yet
     *     the phase dropped (by more than the quarter of LARGE_CACHE) and
     *     came back, so the second round's frees are kept (the first's:
     *     up to twice the live blocks, 8 MiB of 16 freed) and the third
     *     maps nothing. */
    for (int round = 0; round < 3; round++) {
        s0 = snap();
        for (int i = 0; i < PHASE; i++) {
            if (round == 0 || i % 5) {
                many[i] = pm_malloc(64 << 10);
                touch(many[i], 64 << 10, i);
            }
        }
        s1 = snap();
        if (round == 2)
            CHECK("pinned phases: the third round maps nothing", s1.large_misses == s0.large_misses);
        for (int i = 0; i < PHASE; i++)
            if (i % 5)
                pm_free(many[i]);
        s2 = snap();
        if (round == 0)
            CHECK("pinned phases: one phase keeps twice the live, about",
                  s2.large_cached_bytes <= 10 * MiB);
        else
            CHECK("pinned phases: a phase that came back is kept",
                  s2.large_cached_bytes > 12 * MiB && s2.large_released == s1.large_released);
    }
    for (int i = 0; i < PHASE; i += 5)
        pm_free(many[i]);
    pm_option_set(PM_OPTION_LARGE_CACHE, 64L << 20);
    pm_malloc_trim(0);

    /* 11b. Phases whose peak is within twice the quarter of LARGE_CACHE:
     *      288 blocks of 64 KiB (18 MiB; LARGE_CACHE 64 MiB, quarter 16),
     *      freed down to 48 (3 MiB) and made again.  The use falls by
     *      more than half the peak but less than the quarter, far enough
     *      that twice the live blocks holds less than what was freed; the
     *      phase has dropped (by half its peak) and come back, so the
     *      second round's frees are kept and the third round maps nothing.
     *      With the quarter alone as the drop, every round unmapped 98
     *      blocks and mapped them again (as a producer ahead of a
     *      descheduled consumer did, 16-18 MiB of buffers in flight
     *      drained and made again every time slice: pm_bench's
     *      buffer_handoff with other processes on the cores,
     *      docs/BENCHMARKS.md). */
    enum { HALF_PEAK = 288, HALF_KEPT = 48 };
    pm_option_set(PM_OPTION_LARGE_CACHE, 64L << 20);
    for (int round = 0; round < 3; round++) {
        s0 = snap();
        for (int i = round ? HALF_KEPT : 0; i < HALF_PEAK; i++) {
            many[i] = pm_malloc(64 << 10);
            touch(many[i], 64 << 10, i);
        }
        s1 = snap();
        if (round == 2)
            CHECK("half phases: the third round maps nothing", s1.large_misses == s0.large_misses);
        for (int i = HALF_KEPT; i < HALF_PEAK; i++)
            pm_free(many[i]);
        s2 = snap();
        if (round == 1)
            CHECK("half phases: a phase that came back is kept",
                  s2.large_released == s1.large_released);
    }
    for (int i = 0; i < HALF_KEPT; i++)
        pm_free(many[i]);
    pm_malloc_trim(0);

    /* 12. Phases that come back beyond four times LARGE_CACHE and beyond
     *     4096 mappings: 5000 blocks of 20 KiB (about 100 MiB asked for,
     *     one byte of each written; LARGE_CACHE 16 MiB).  Once the phase
     *     has come back, the cache keeps all it frees, up to the recent
     *     peak: the third round maps nothing. */
    enum { WIDE = 5000 };
    static char *wide[WIDE];
    pm_option_set(PM_OPTION_LARGE_CACHE, 16L << 20);
    for (int round = 0; round < 3; round++) {
        s0 = snap();
        for (int i = 0; i < WIDE; i++) {
            wide[i] = pm_malloc(20 << 10);
            wide[i][0] = (char)i;
        }
        s1 = snap();
        if (round == 2)
            CHECK("wide phases: the third round maps nothing", s1.large_misses == s0.large_misses);
        for (int i = 0; i < WIDE; i++) {
            CHECK("wide phases: contents", wide[i][0] == (char)i);
            pm_free(wide[i]);
        }
        s2 = snap();
        if (round == 1)
            CHECK("wide phases: more than 4096 mappings, 64 MiB, kept",
                  s2.large_cached_count > 4096 && s2.large_cached_bytes > 64 * MiB &&
                      s2.large_released == s1.large_released);
    }
    pm_option_set(PM_OPTION_LARGE_CACHE, 64L << 20);
    pm_malloc_trim(0);

    /* 13. The cache yields to the heap's growth: a freed 8 MiB block
     *     (written) waits in the cache while the program allocates from
     *     the arenas it has, and goes back to the OS, whole, when the
     *     small blocks that follow need new arenas (sqlite: a 16 MiB
     *     block freed, then 40 MB of page-cache blocks).  A cache of 1 GiB:
     *     its floor (a quarter) keeps the block whatever the cases above
     *     left in the recent peak. */
    pm_option_set(PM_OPTION_LARGE_CACHE, 1L << 30);
    char *freed = pm_malloc(8 * MiB);
    touch(freed, 8 * MiB, 3);
    char *keep8[8];
    for (int i = 0; i < 8; i++)
        keep8[i] = pm_malloc(256);
    pm_free(freed);
    s0 = snap();
    CHECK("yield: the freed 8 MiB block is cached", s0.large_cached_bytes >= 8 * MiB);
    for (int i = 0; i < 8; i++)
        pm_free(keep8[i]);
    for (int i = 0; i < 8; i++)
        keep8[i] = pm_malloc(256);
    s1 = snap();
    CHECK("yield: no new arena, still cached",
          s1.arenas_mapped == s0.arenas_mapped && s1.large_cached_bytes == s0.large_cached_bytes);
    enum { YIELD_BLOCKS = 16384 };   /* 4 MiB of 256-byte blocks: new arenas */
    static char *yield_blocks[YIELD_BLOCKS];
    double rss_before = pm_test_rss_mib();
    for (int i = 0; i < YIELD_BLOCKS; i++) {
        yield_blocks[i] = pm_malloc(256);
        yield_blocks[i][0] = (char)i;
    }
    s2 = snap();
    double rss_after = pm_test_rss_mib();
    CHECK("yield: the small blocks took new arenas", s2.arenas_mapped > s1.arenas_mapped);
    CHECK("yield: the cached mapping went back",
          s2.large_cached_bytes == 0 && s2.large_released > s1.large_released);
    CHECK("yield: the heap grew by less than the cache gave back", rss_after < rss_before);
    for (int i = 0; i < YIELD_BLOCKS; i++) {
        CHECK("yield: contents", yield_blocks[i][0] == (char)i);
        pm_free(yield_blocks[i]);
    }
    for (int i = 0; i < 8; i++)
        pm_free(keep8[i]);
    pm_option_set(PM_OPTION_LARGE_CACHE, 64L << 20);
    pm_malloc_trim(0);
    return pm_test_finish();
}
