/* The large path: a freed mapping is reused without a system call, the cache
 * is bounded, decays, and malloc_trim releases it; mappings of 4 MiB or more
 * ask for transparent huge pages (POOLMALLOC_LARGE_THP) once big blocks come
 * and go, one system call a mapping, and keep asking when realloc moves
 * them; over-aligned blocks live by the thousand share the kernel's areas;
 * another thread's traffic through the cache is counted exactly. */
#include "pm_test.h"
#include <pthread.h>
#include "pools/pools.h"
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The core's calls of madvise land here (the test links it): the asks for
 * huge pages are counted, then made. */
static _Atomic unsigned long hugepage_asks;
int madvise(void *addr, size_t len, int advice)
{
    if (advice == MADV_HUGEPAGE)
        hugepage_asks++;
    return (int)syscall(SYS_madvise, addr, len, advice);
}

/* Areas (lines of /proc/self/maps) of the process; -1 if unreadable. */
static long areas(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long n = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Over-aligned blocks live by the thousand share the kernel's areas: their
 * mappings are whole alignments, each placed just below the one before.
 * With each cut to its pages, every block was an area of its own, and the
 * process ran out of them (vm.max_map_count, 65,530) at 65,499 blocks of
 * 1000 bytes aligned to 64 KiB. */
static void aligned_areas(void)
{
    enum { N = 10000 };
    static void *blocks[N];
    long before = areas();
    int made = 0;
    for (int i = 0; i < N; i++) {
        if (pm_posix_memalign(&blocks[i], 64 << 10, 1000) != 0)
            break;
        ((char *)blocks[i])[999] = (char)i;
        made += ((uintptr_t)blocks[i] & ((64u << 10) - 1)) == 0;
    }
    long after = areas();
    printf("# %d blocks aligned to 64 KiB: areas %ld -> %ld\n", made, before, after);
    CHECK("10,000 blocks aligned to 64 KiB", made == N);
    if (before >= 0 && after >= 0)
        CHECK("they share areas (fewer than one in ten)", after - before < N / 10);
    for (int i = 0; i < N && blocks[i]; i++)
        pm_free(blocks[i]);
}

/* Huge pages for big mappings: aligned from the start; asked for once the
 * process has freed one (each freed one asks, once), and still so after a
 * move. */
static void thp(void)
{
    char *small = pm_malloc(3 << 20), *big = pm_malloc(8 << 20);
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) != 0 || pm_test_vma_hugepage(big) < 0) {
        printf("# no transparent huge pages, or no VmFlags in smaps: marks not checked\n");
    } else {
        CHECK("a big block starts on a huge page", ((uintptr_t)big & ((2u << 20) - 1)) == 0);
        CHECK("no huge pages before a big block was freed", pm_test_vma_hugepage(big) == 0);
        CHECK("a 3 MiB block does not ask", pm_test_vma_hugepage(small) == 0);
        char *first = big;
        pm_free(big);                            /* to the cache, still mapped */
        CHECK("a freed big mapping asks for huge pages", pm_test_vma_hugepage(first) == 1);
        big = pm_malloc(8 << 20);                /* the cached one */
        char *fresh = pm_malloc(8 << 20);        /* a new mapping */
        CHECK("the cached mapping is reused", big == first);
        CHECK("a new big mapping then asks for huge pages", pm_test_vma_hugepage(fresh) == 1);
        pm_free(fresh);
        /* grown by realloc: in place or moved, the mark is there */
        char *keep = pm_malloc(64 << 10);       /* something mapped after it, maybe */
        char *grown = pm_realloc(small, 24 << 20);
        CHECK("a block grown past 4 MiB asks for huge pages", pm_test_vma_hugepage(grown) == 1);
        small = grown;
        pm_free(keep);
        pm_option_set(PM_OPTION_LARGE_THP, 0);
        pm_malloc_trim(0);                       /* no cached mapping marked before */
        char *plain = pm_malloc(40 << 20);
        CHECK("POOLMALLOC_LARGE_THP=0: no huge pages", pm_test_vma_hugepage(plain) == 0);
        pm_free(plain);
        CHECK("POOLMALLOC_LARGE_THP=0: not when freed either", pm_test_vma_hugepage(plain) == 0);
        pm_option_set(PM_OPTION_LARGE_THP, 1);
    }
    /* One ask a mapping: the mark stays on it, so a buffer freed and taken
     * back in a loop makes no more system calls (each free asked again,
     * 1.2 us a pair). */
    pm_free(big);
    big = pm_malloc(8 << 20);
    unsigned long asks = hugepage_asks;
    int same = 1;
    for (int i = 0; i < 100; i++) {
        char *was = big;
        pm_free(big);
        big = pm_malloc(8 << 20);
        big[0] = big[(8 << 20) - 1] = (char)i;
        same &= big == was;
    }
    CHECK("a big buffer freed and taken back 100 times: the same mapping", same);
    CHECK("... which asked for huge pages once, not at each free", hugepage_asks == asks);
    pm_free(small);
    pm_free(big);
    pm_malloc_trim(0);
}

static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

/* The cache path's counts (kept under the cache's lock, arenas/large.c,
 * cache_counts) are exact when read, whichever thread made them and while
 * it lives: another thread's 1000 pairs of 3 MiB (beyond any slot), one
 * block of them still out. */
static pthread_barrier_t counted_barrier;
static void *cache_pairs_thread(void *arg)
{
    (void)arg;
    char *keep = NULL;
    for (int i = 0; i < 1000; i++) {
        char *p = pm_malloc(3 << 20);
        p[0] = (char)i;
        if (i == 999)
            keep = p;
        else
            pm_free(p);
    }
    pthread_barrier_wait(&counted_barrier);   /* counted, still out */
    pthread_barrier_wait(&counted_barrier);
    pm_free(keep);
    return NULL;
}

static void counted_across_threads(void)
{
    pm_stats_t a, b, c;
    pm_stats_get(&a);
    pthread_t th;
    pthread_barrier_init(&counted_barrier, NULL, 2);
    pthread_create(&th, NULL, cache_pairs_thread, NULL);
    pthread_barrier_wait(&counted_barrier);
    pm_stats_get(&b);
    CHECK("another thread's cache traffic: every malloc counted", b.large_allocs - a.large_allocs == 1000);
    CHECK("... and every free", b.large_frees - a.large_frees == 999);
    CHECK("... hits and misses add up", (b.large_hits - a.large_hits) + (b.large_misses - a.large_misses) == 1000 &&
                                             b.large_hits - a.large_hits >= 998);
    CHECK("... its block still out is live", b.large_live_bytes - a.large_live_bytes >= (3u << 20));
    pthread_barrier_wait(&counted_barrier);
    pthread_join(th, NULL);
    pm_stats_get(&c);
    CHECK("... and no longer once freed", c.large_live_bytes == a.large_live_bytes &&
                                              c.large_frees - a.large_frees == 1000);
    pthread_barrier_destroy(&counted_barrier);
}

int main(void)
{
    thp();
    counted_across_threads();
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 3600 * 1000);
    size_t sizes[] = {16385, 20000, 65536, 65537, 100000, 1 << 20, 3 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        pm_stats_t a = snap(), a1 = a;
        for (int i = 0; i < 1000; i++) {
            char *p = pm_malloc(sizes[k]);
            CHECK("allocated", p != NULL);
            CHECK("page aligned", ((uintptr_t)p & 4095) == 0);
            p[0] = 1;
            p[sizes[k] - 1] = 2;
            pm_free(p);
            if (i == 0)
                a1 = snap();
        }
        pm_stats_t b = snap();
        CHECK("at most one mmap for a steady loop", b.large_misses - a.large_misses <= 1);
        CHECK("the rest are cache hits", b.large_hits - a.large_hits >= 999);
        /* The cache holds no more than the recent peak of use: the older
         * sizes' mappings may go when this one is first freed (here:
         * three small ones, when the 3 MiB mapping is), not in the loop. */
        CHECK("nothing unmapped in the loop", b.large_released == a1.large_released);
        CHECK("no mapping made in the loop", b.large_misses == a1.large_misses);
    }
    /* Medium sizes (513..16384) come from spans: a steady loop takes no new
     * memory at all. */
    for (size_t n = 513; n <= 16384; n = n * 5 / 4) {
        pm_free(pm_malloc(n));
        pm_stats_t a = snap();
        for (int i = 0; i < 1000; i++) {
            char *p = pm_malloc(n);
            p[n - 1] = 1;
            pm_free(p);
        }
        pm_stats_t b = snap();
        CHECK("medium loop: no new span", b.spans_live == a.spans_live);
        CHECK("medium loop: no large path", b.large_allocs == a.large_allocs);
        CHECK("medium loop: no new arena", b.arenas_mapped == a.arenas_mapped);
    }
    /* calloc from the cache is zeroed. */
    char *d = pm_malloc(50000);
    memset(d, 0xff, 50000);
    pm_free(d);
    char *z = pm_calloc(1, 50000);
    int zero = 1;
    for (size_t i = 0; i < 50000; i++)
        zero &= z[i] == 0;
    CHECK("calloc of a cached mapping is zeroed", zero);
    pm_free(z);

    /* Bounded: 200 distinct 1 MiB mappings freed keep at most the limit. */
    pm_option_set(PM_OPTION_LARGE_CACHE, 32L << 20);
    static char *big[200];
    for (int i = 0; i < 200; i++)
        big[i] = pm_malloc((size_t)(1 << 20) + (size_t)i * 4096);
    for (int i = 0; i < 200; i++)
        pm_free(big[i]);
    pm_stats_t c = snap();
    CHECK("cache bytes bounded", c.large_cached_bytes <= (32u << 20));
    CHECK("cache entries bounded", c.large_cached_count <= 128);
    CHECK("live bytes back to zero", c.large_live_bytes == 0);

    /* malloc_trim releases everything cached. */
    CHECK("trim reports a release", pm_malloc_trim(0) == 1);
    pm_stats_t t = snap();
    CHECK("trim empties the cache", t.large_cached_bytes == 0 && t.large_cached_count == 0);

    /* Decay: a mapping unused for the decay time goes back at the next call
     * that reaches the cache.  (This thread has a heap, so the mappings of
     * up to 1 MiB it frees, m3, wait in its slots instead of the cache:
     * arenas/large.c.) */
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 50);
    char *m1 = pm_malloc(2 << 20), *m2 = pm_malloc(3 << 20), *m3 = pm_malloc(100000);
    pm_free(m1);
    pm_free(m2);
    pm_free(m3);
    CHECK("cached after free, the small one in a slot", snap().large_cached_count == 2);
    usleep(300 * 1000);
    pm_stats_t before = snap();
    /* m2 serves the call, m1 has decayed and goes; m2 is cached again */
    pm_free(pm_malloc(5 << 19));
    pm_stats_t e = snap();
    CHECK("decayed mapping released", e.large_released - before.large_released == 1);
    CHECK("the serving mapping is cached again", e.large_cached_count == 1 &&
                                                     e.large_cached_bytes == (3u << 20));
    /* The slot's mapping reaches the cache at the trim, and decays there. */
    pm_malloc_trim(0);
    CHECK("trim: nothing cached", snap().large_cached_count == 0);

    /* realloc: grows in place or by mremap, keeps contents. */
    char *r = pm_malloc(5000);
    for (int i = 0; i < 5000; i++)
        r[i] = (char)i;
    r = pm_realloc(r, 10 << 20);
    int same = 1;
    for (int i = 0; i < 5000; i++)
        same &= r[i] == (char)i;
    CHECK("contents kept by growth", same);
    r = pm_realloc(r, 6000);
    same = 1;
    for (int i = 0; i < 5000; i++)
        same &= r[i] == (char)i;
    CHECK("contents kept by shrink", same);
    CHECK("shrunk mapping", pm_malloc_usable_size(r) < (64u << 10));
    pm_free(r);
    aligned_areas();
    return pm_test_finish();
}
