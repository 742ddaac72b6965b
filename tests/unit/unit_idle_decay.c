/* An idle process gives its caches back (the PostgreSQL backend of issue 13:
 * one process per connection, each keeping its arena reserve and large
 * cache after a big sort).  Allocate and free a lot of small, medium and
 * large blocks, go idle for longer than the decay period (options set
 * short: 50 ms), then make one large call, as the next query would: the
 * empty arenas beyond ARENA_RESERVE and the cached mappings that decayed
 * are gone, and the resident set is back near where it started.
 * Deterministic: the sleep only guarantees that the decay period has
 * passed; nothing is timed. */
#include "pm_test.h"
#include "pools/pools.h"

#define MiB ((size_t)1 << 20)
#define NSMALL 200000
#define NMEDIUM 3000
#define NLARGE 48

static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

static char *small_blocks[NSMALL], *medium_blocks[NMEDIUM], *large_blocks[NLARGE];

int main(void)
{
    CHECK("arena decay option", pm_option_set(PM_OPTION_ARENA_DECAY_MS, 50) == 0);
    CHECK("large decay option", pm_option_set(PM_OPTION_LARGE_DECAY_MS, 50) == 0);
    /* With the default LARGE_CACHE (64 MiB), a process whose large blocks
     * are all freed after a use beyond a quarter of it keeps only 2 MiB
     * of them (unit_large_reuse); here the burst's 60 MiB stay within the
     * quarter, so that they are cached and have to decay. */
    CHECK("large cache option", pm_option_set(PM_OPTION_LARGE_CACHE, (long)1 << 30) == 0);
    long reserve = pm_option_get(PM_OPTION_ARENA_RESERVE);
    pm_free(pm_malloc(100000));   /* the large path's own first mapping, records */
    double rss0 = pm_test_rss_mib();

    /* A burst: ~19 MiB of small blocks, ~12 MiB of medium ones, ~60 MiB of
     * large ones (64 KiB .. 2.5 MiB), all written, then all freed. */
    unsigned long long rng = 7;
    for (int i = 0; i < NSMALL; i++) {
        size_t n = 16 + (size_t)(pm_test_rand(&rng) % 180);
        small_blocks[i] = pm_malloc(n);
        memset(small_blocks[i], 1, n);
    }
    for (int i = 0; i < NMEDIUM; i++) {
        size_t n = 1024 + (size_t)(pm_test_rand(&rng) % 7000);
        medium_blocks[i] = pm_malloc(n);
        memset(medium_blocks[i], 2, n);
    }
    for (int i = 0; i < NLARGE; i++) {
        size_t n = 64 * 1024 + (size_t)(pm_test_rand(&rng) % (5 * MiB / 2));
        large_blocks[i] = pm_malloc(n);
        memset(large_blocks[i], 3, n);
    }
    double rss_peak = pm_test_rss_mib();
    for (int i = 0; i < NSMALL; i++)
        pm_free(small_blocks[i]);
    for (int i = 0; i < NMEDIUM; i++)
        pm_free(medium_blocks[i]);
    for (int i = 0; i < NLARGE; i++)
        pm_free(large_blocks[i]);
    pm_stats_t busy = snap();
    CHECK("the burst used memory", rss_peak - rss0 > 60.0);
    CHECK("freed large mappings are cached", busy.large_cached_count > 0);

    /* Idle for at least two decay periods, then one large call that reaches
     * the cache: one of more than 1 MiB, which the thread's slots (its last
     * freed mappings of up to 1 MiB, 3 MiB in all, arenas/large.c) never
     * hold.  A call the slots serve takes no lock and reads no clock; they
     * look at the clock every 1024 frees into them. */
    usleep(250 * 1000);
    pm_free(pm_malloc(2 * MiB));
    pm_stats_t idle = snap();
    double rss_idle = pm_test_rss_mib();
    CHECK("the arena reserve is back to ARENA_RESERVE",
          idle.arenas_reserved <= (uint64_t)reserve);
    /* That call may have taken any cached mapping (the smallest that
     * fits): it is the one left. */
    CHECK("at most the one mapping just used is cached", idle.large_cached_count <= 1 &&
                                                          idle.large_cached_bytes <= 3 * MiB);
    /* What stays: ARENA_RESERVE arenas and the arenas that each class's
     * list head keeps in use, whose free pages went back to the OS at the
     * clock's pass (arena.c, _pm_arena_set_mine): 4.6 MiB here, 9.1 MiB
     * without that pass; the 2 MiB mapping of the call, cached again with
     * its pages, and the slots' last freed mappings, up to 3 MiB (8.2
     * MiB in all here with 1 MiB of slots; the burst's caches alone would
     * be 60 MiB).  Since, the medium classes' list heads and spare spans
     * hold about 2.8 MiB of pages (73 spans, those of the medium ranges'
     * hosts among them: pools/pools.h, pm_medium_range): 9.8-10.0 MiB. */
    CHECK("the resident set is back near its start", rss_idle - rss0 < 11.0);
    if (rss_idle - rss0 >= 11.0)
        printf("  rss: start %.1f MiB, burst %.1f, after idle %.1f\n", rss0, rss_peak, rss_idle);

    /* The same with LARGE_DECAY_MS=0: nothing outlives its free. */
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 0);
    for (int i = 0; i < 8; i++)
        large_blocks[i] = pm_malloc(MiB + (size_t)i * 4096);
    for (int i = 0; i < 8; i++)
        pm_free(large_blocks[i]);
    CHECK("decay 0: nothing cached", snap().large_cached_count == 0);
    return pm_test_finish();
}
