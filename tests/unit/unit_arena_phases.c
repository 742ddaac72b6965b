/* Arena phases that come back (arenas/arena.c): a program that builds and
 * frees far more small blocks than the arena reserve keeps (ARENA_CACHE),
 * again and again, keeps its arenas for the next round once the rounds
 * are seen to come back, instead of unmapping them and faulting them in
 * again each time, also when each round leaves some of its arenas out
 * (blocks kept, scattered over them); malloc_trim forgets that, and a
 * single big phase never qualifies, and rounds far beyond sixteen times
 * ARENA_CACHE are kept too.  ARENA_CACHE is set to 1 MiB (4
 * arenas beyond the reserve of 4), a round is 64 arenas' worth of 64-byte
 * blocks.  Counts only, from pm_stats_get: deterministic (the decay is an
 * hour). */
#include "pm_test.h"
#include "pools/pools.h"

#define BLOCKS (64 * 62 * 64)   /* 64 arenas of 62 pools of 64 blocks of 64 bytes */

static void *blocks[BLOCKS];

static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

/* Blocks i with i % pin_every == 0 stay allocated from round to round
 * (pin_every 0: none). */
static size_t pin_every;

static bool pinned(size_t i) { return pin_every && i % pin_every == 0; }

static void build(void)
{
    for (size_t i = 0; i < BLOCKS; i++) {
        if (pinned(i) && blocks[i])
            continue;
        blocks[i] = pm_malloc(64);
        if (blocks[i])
            *(char *)blocks[i] = 1;
    }
}

static void drop(void)
{
    for (size_t i = 0; i < BLOCKS; i++) {
        if (!pinned(i)) {
            pm_free(blocks[i]);
            blocks[i] = NULL;
        }
    }
}

int main(void)
{
    CHECK("arena decay option", pm_option_set(PM_OPTION_ARENA_DECAY_MS, 3600 * 1000) == 0);
    CHECK("arena cache option", pm_option_set(PM_OPTION_ARENA_CACHE, 1 << 20) == 0);
    pm_free(pm_malloc(64));
    pm_malloc_trim(0);

    /* Round 1: a big phase ends; the reserve keeps its usual few. */
    build();
    pm_stats_t built = snap();
    CHECK("a round takes at least 64 arenas", built.arenas_live >= 64);
    drop();
    pm_stats_t s1 = snap();
    CHECK("after one phase, most arenas go back", s1.arenas_reserved <= 8 && s1.arenas_live <= 16);

    /* Round 2: the phase comes back within the decay period; from then on
     * the reserve keeps what the rounds free. */
    build();
    drop();
    pm_stats_t s2 = snap();
    CHECK("a phase that came back keeps its arenas", s2.arenas_reserved >= 60);
    build();
    pm_stats_t s3 = snap();
    CHECK("round 3 maps nothing new", s3.arenas_mapped == s2.arenas_mapped);
    drop();
    pm_stats_t s4 = snap();
    CHECK("nor unmaps anything", s4.arenas_released == s2.arenas_released &&
                                     s4.arenas_reserved >= 60);

    /* malloc_trim gives them back and forgets the rounds: one more round
     * is a single phase again. */
    pm_malloc_trim(0);
    pm_stats_t t = snap();
    CHECK("malloc_trim gives the reserve back", t.arenas_reserved == 0);
    build();
    drop();
    pm_stats_t s5 = snap();
    CHECK("after malloc_trim, one phase keeps the usual few", s5.arenas_reserved <= 8);

    /* Rounds that leave a quarter of their arenas out: a block kept in
     * every fourth arena's worth.  The drop is no less a drop, and the
     * rounds come back just the same. */
    pm_malloc_trim(0);
    pin_every = 4 * 62 * 64;
    build();
    drop();
    pm_stats_t p1 = snap();
    CHECK("pinned rounds: blocks kept out", p1.arenas_live - p1.arenas_reserved >= 16);
    CHECK("pinned rounds: one phase keeps the usual few", p1.arenas_reserved <= 8);
    build();
    drop();
    pm_stats_t p2 = snap();
    CHECK("pinned rounds: a phase that came back keeps its arenas", p2.arenas_reserved >= 40);
    build();
    pm_stats_t p3 = snap();
    CHECK("pinned rounds: round 3 maps nothing new", p3.arenas_mapped == p2.arenas_mapped);
    drop();
    pm_stats_t p4 = snap();
    CHECK("pinned rounds: nor unmaps anything", p4.arenas_released == p2.arenas_released);
    pin_every = 0;
    drop();

    /* Rounds far bigger than sixteen times ARENA_CACHE (one arena here):
     * once they come back, the reserve keeps them whole all the same, up
     * to their recent peak. */
    pm_malloc_trim(0);
    CHECK("arena cache option: one arena", pm_option_set(PM_OPTION_ARENA_CACHE, 256 << 10) == 0);
    build();
    drop();
    build();
    drop();
    pm_stats_t w2 = snap();
    CHECK("wide rounds: a phase that came back keeps its arenas", w2.arenas_reserved >= 60);
    build();
    pm_stats_t w3 = snap();
    CHECK("wide rounds: round 3 maps nothing new", w3.arenas_mapped == w2.arenas_mapped);
    drop();
    return pm_test_finish();
}
