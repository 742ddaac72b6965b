/* The page pass (arenas/arena.c, set_page_pass): free pages of arenas that
 * stay in use go back to the OS once they have been free for one to two
 * periods (ARENA_DECAY_MS), run from the pools' own page returns, so
 * that a thread that never makes a large call (whose clock pass did this
 * once per ARENA_DECAY_MS, large.c) gives back what a burst left behind.
 * A burst of small blocks fills ~24 MiB of pools; one block in every 64
 * stays (each arena keeps a few pools in use, so none goes to the reserve),
 * the others are freed.  Then two quiet rounds, each after sleeping past a
 * period, allocate and free a few hundred pools' worth of blocks of another
 * class (page returns, which run the pass): the first ages the burst's free
 * pages, the second gives them back.  Deterministic: the sleeps only
 * guarantee that the periods have passed; nothing is timed. */
#include "pm_test.h"
#include "pools/pools.h"

#define NBURST 100000
#define BURST_SIZE 240   /* 17 blocks a pool: ~5,900 pools, ~23 MiB */
#define KEEP_EVERY 64
#define NQUIET 4096
#define QUIET_SIZE 496   /* 8 blocks a pool: 512 pools a round */

static char *burst[NBURST], *quiet[NQUIET];

static void quiet_round(void)
{
    for (int i = 0; i < NQUIET; i++) {
        quiet[i] = pm_malloc(QUIET_SIZE);
        memset(quiet[i], 5, QUIET_SIZE);
    }
    for (int i = 0; i < NQUIET; i++)
        pm_free(quiet[i]);
}

int main(void)
{
    /* A page pass every 50 ms at most (ARENA_DECAY_MS). */
    CHECK("arena decay option", pm_option_set(PM_OPTION_ARENA_DECAY_MS, 50) == 0);
    quiet_round();   /* the quiet class's pools exist before the start */
    double rss0 = pm_test_rss_mib();

    for (int i = 0; i < NBURST; i++) {
        burst[i] = pm_malloc(BURST_SIZE);
        memset(burst[i], 1, BURST_SIZE);
    }
    double rss_peak = pm_test_rss_mib();
    for (int i = 0; i < NBURST; i++)
        if (i % KEEP_EVERY != 0)
            pm_free(burst[i]);
    double rss_freed = pm_test_rss_mib();
    pm_stats_t s = {0};
    pm_stats_get(&s);
    CHECK("the burst used memory", rss_peak - rss0 > 20.0);
    CHECK("its arenas stay in use", s.arenas_reserved < 8);
    CHECK("freed, its pages are still resident", rss_freed - rss0 > 15.0);

    for (int round = 0; round < 2; round++) {
        usleep(120 * 1000);   /* past a period (50 ms) and then some */
        quiet_round();
    }
    double rss_after = pm_test_rss_mib();
    /* What stays: the pools of the 1,563 kept blocks (6.1 MiB, one page
     * each) and the quiet class's pools; the burst's other 17 MiB of pages
     * went back: 7.8 MiB above the start, 22.7 without the pass. */
    CHECK("the pages the burst left free went back", rss_after - rss0 < 10.0);
    if (getenv("PM_TEST_VERBOSE") || rss_after - rss0 >= 10.0)
        printf("  rss: start %.1f MiB, burst %.1f, freed %.1f, after %.1f\n", rss0, rss_peak,
               rss_freed, rss_after);

    for (int i = 0; i < NBURST; i += KEEP_EVERY)
        pm_free(burst[i]);
    return pm_test_finish();
}
