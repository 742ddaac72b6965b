/* Arena and pool bookkeeping: pools come from the fullest arena, an arena is
 * released when its last pool empties, the reserve is bounded, empty
 * arenas beyond it are kept for ARENA_DECAY_MS before they are unmapped,
 * and not at all once a phase far bigger than the reserve has ended; a
 * class that holds many pools takes new ones on consecutive pages. */
#include "pm_test.h"
#include "pools/pools.h"
#include <sys/mman.h>
#include <time.h>

#define PER_POOL (PM_POOL_SIZE / 512)   /* 8 blocks of 512 */
#define PER_ARENA (PER_POOL * PM_ARENA_USABLE)

static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

static uintptr_t arena_of(void *p) { return (uintptr_t)p & ~(uintptr_t)(PM_ARENA_SIZE - 1); }

/* Pools of a class that holds many come on consecutive pages (pool.c,
 * pool_new), even while another class takes pools between them: nodes of
 * 48 bytes, each with a block of 112 bytes allocated after it, as a list
 * and its strings.  Counts the steps from one node to the next that land
 * neither on the same page nor on the next one, over the last 300 pools
 * of nodes (runs of 8 pages by then): one per run, where each pool of the
 * other class would otherwise come between two of ours. */
static void runs(void)
{
    enum { PER = PM_POOL_SIZE / 48, NODES = 600 * PER };
    static char *node[NODES], *other[NODES];
    for (size_t i = 0; i < NODES; i++) {
        node[i] = pm_malloc(48);
        other[i] = pm_malloc(112);
        node[i][0] = other[i][0] = 1;
    }
    size_t jumps = 0, steps = 0;
    for (size_t i = NODES - 300 * PER; i + 1 < NODES; i++) {
        uintptr_t a = (uintptr_t)node[i] >> 12, b = (uintptr_t)node[i + 1] >> 12;
        if (b != a) {
            steps++;
            jumps += b != a + 1;
        }
    }
    printf("# runs: %zu of %zu page changes land elsewhere than the next page\n", jumps, steps);
    CHECK("runs: a class's new pools on consecutive pages", steps >= 250 && jumps * 4 < steps);
    for (size_t i = 0; i < NODES; i++) {
        pm_free(node[i]);
        pm_free(other[i]);
    }
    pm_malloc_trim(0);
}

/* The page map's biased root (arenas.h, pm_pagemap_root_word): a root
 * word and its leaf convert both ways for every root index, also where
 * the leaf lies below the bias (the sum wraps), and the word is 0 only for
 * the one leaf address that pagemap.c never publishes.  Then entries set
 * at the first and last page of the lowest and highest GiB that the map
 * covers read back through pm_pagemap_get, their neighbours stay 0, and
 * clearing them leaves 0. */
static void pagemap_bias(void)
{
    const size_t roots = (size_t)1 << PM_PAGEMAP_ROOT_BITS;
    const uintptr_t leaves[] = {4096, (uintptr_t)1 << 30, (uintptr_t)0x7f0000000000, ~(uintptr_t)4095};
    int bad = 0;
    for (size_t i = 0; i < roots; i += 4093)
        for (size_t k = 0; k < sizeof leaves / sizeof leaves[0]; k++) {
            uintptr_t w = pm_pagemap_root_word(i, (const void *)leaves[k]);
            bad += w == 0 || (uintptr_t)pm_pagemap_leaf_of(i, w) != leaves[k];
        }
    CHECK("root words convert both ways", bad == 0);
    size_t last = roots - 1;
    CHECK("a word is 0 for leaf i << 21 only",
          pm_pagemap_root_word(last, (const void *)((uintptr_t)last << (PM_PAGEMAP_LEAF_BITS + 3))) == 0 &&
              pm_pagemap_leaf_of(last, 0) == NULL);
    const uintptr_t gib = (uintptr_t)1 << (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS);
    const uintptr_t pages[] = {PM_PAGE_SIZE * 16, gib - PM_PAGE_SIZE,
                               ((uintptr_t)1 << PM_VA_BITS) - gib,
                               ((uintptr_t)1 << PM_VA_BITS) - PM_PAGE_SIZE};
    for (size_t k = 0; k < sizeof pages / sizeof pages[0]; k++) {
        const char *pg = (const char *)pages[k];
        uintptr_t v = ((uintptr_t)0x1230 + 0x40 * k) | PM_PAGE_LARGE;   /* any tagged word */
        CHECK("pagemap_set", _pm_pagemap_set(pg, 1, v) == 0);
        CHECK("its entry reads back", pm_pagemap_get(pg + 100) == v);
        CHECK("the page before is 0", pages[k] < PM_PAGE_SIZE * 17 || pm_pagemap_get(pg - 1) == 0);
        CHECK("the page after is 0",
              pages[k] + PM_PAGE_SIZE >= ((uintptr_t)1 << PM_VA_BITS) || pm_pagemap_get(pg + PM_PAGE_SIZE) == 0);
        CHECK("its leaf is published",
              _pm_pagemap_leaf_at(pages[k] >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS)) != NULL);
        _pm_pagemap_set(pg, 1, 0);
        CHECK("cleared", pm_pagemap_get(pg) == 0);
    }
}

int main(void)
{
    pagemap_bias();
    CHECK("reserve option", pm_option_set(PM_OPTION_ARENA_RESERVE, 0) == 0);
    CHECK("decay option", pm_option_set(PM_OPTION_ARENA_DECAY_MS, 0) == 0);  /* at once */
    void *warm = pm_malloc(8);   /* thread heap exists */
    /* Fill the arena the heap already has, so the test starts on fresh ones. */
    static char *pad[PER_ARENA];
    size_t npad = 0;
    static char *blk[4 * PER_ARENA];
    for (;;) {
        char *p = pm_malloc(512);
        if (arena_of(p) != arena_of(warm)) {
            blk[0] = p;
            break;
        }
        pad[npad++] = p;
    }
    pm_stats_t s0 = snap();
    s0.arenas_live--;   /* blk[0] opened the first new arena */
    s0.pools_live--;

    /* Fill exactly two arenas with 512-byte blocks (class 63). */
    for (size_t i = 1; i < 2 * PER_ARENA; i++)
        blk[i] = pm_malloc(512);
    pm_stats_t s1 = snap();
    uintptr_t A = arena_of(blk[0]), B = arena_of(blk[PER_ARENA]);
    CHECK("two new arenas", s1.arenas_live - s0.arenas_live == 2);
    CHECK("first arena filled first", arena_of(blk[PER_ARENA - 1]) == A);
    CHECK("second arena distinct", A != B && arena_of(blk[2 * PER_ARENA - 1]) == B);
    CHECK("124 pools in use", s1.pools_live - s0.pools_live == 2 * PM_ARENA_USABLE);

    /* Empty 10 pools of A and 20 of B: the next pool must come from A, the
     * fuller one, so that B can drain. */
    for (size_t i = 0; i < 10 * PER_POOL; i++) {
        pm_free(blk[i]);
        blk[i] = NULL;
    }
    for (size_t i = PER_ARENA; i < PER_ARENA + 20 * PER_POOL; i++) {
        pm_free(blk[i]);
        blk[i] = NULL;
    }
    /* Emptied pools go back to their arenas, except what the heap keeps:
     * the class's list head and at most PM_SPARE_POOLS spares (pool.c);
     * the blocks the thread cache holds go back to their pools first (a
     * host's stack holds 127 of class 63: pools.h, pm_class_host). */
    _pm_tc_flush(_pm_tls_fast);
    size_t kept = snap().pools_live - (s1.pools_live - 30);
    CHECK("emptied pools returned but the head and the spares", kept <= 1 + PM_SPARE_POOLS);
    pm_malloc_trim(0);
    CHECK("trim returns the kept ones", snap().pools_live == s1.pools_live - 30);
    char *p = pm_malloc(512);
    CHECK("new pool taken from the fullest arena", arena_of(p) == A);
    pm_free(p);

    /* Free everything: both arenas go back to the OS (reserve 0). */
    for (size_t i = 0; i < 2 * PER_ARENA; i++)
        pm_free(blk[i]);
    pm_stats_t s2 = snap();
    CHECK("arenas released when their last pool empties (but the kept pools')",
          s2.arenas_live - s0.arenas_live <= 2);
    pm_malloc_trim(0);  /* the class keeps one empty pool until trimmed */
    pm_stats_t s3 = snap();
    CHECK("all pools back", s3.pools_live == s0.pools_live);
    CHECK("live arenas back to the start", s3.arenas_live == s0.arenas_live);
    CHECK("released counter", s3.arenas_released - s0.arenas_released == 2);

    /* With a reserve of 1, an emptied arena waits for reuse instead. */
    pm_option_set(PM_OPTION_ARENA_RESERVE, 1);
    for (size_t i = 0; i < 2 * PER_ARENA; i++)
        blk[i] = pm_malloc(512);
    pm_stats_t s4 = snap();
    for (size_t i = 0; i < 2 * PER_ARENA; i++)
        pm_free(blk[i]);
    pm_malloc_trim(0);   /* trims the reserve too */
    pm_stats_t s5 = snap();
    CHECK("trim empties the reserve", s5.arenas_reserved == 0 && s5.arenas_live == s0.arenas_live);
    for (size_t i = 0; i < PER_ARENA; i++)
        blk[i] = pm_malloc(512);
    for (size_t i = 0; i < PER_ARENA; i++)
        pm_free(blk[i]);
    pm_stats_t s6 = snap();
    CHECK("without trim the reserve keeps one arena", s6.arenas_reserved <= 1);
    (void)s4;

    /* With a decay time, emptied arenas beyond the reserve wait that long:
     * a batch freed and built again reuses them without new mappings. */
    pm_option_set(PM_OPTION_ARENA_RESERVE, 0);
    pm_option_set(PM_OPTION_ARENA_DECAY_MS, 200);
    pm_malloc_trim(0);
    pm_stats_t d0 = snap();
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 4 * PER_ARENA; i++)
            blk[i] = pm_malloc(512);
        for (size_t i = 0; i < 4 * PER_ARENA; i++)
            pm_free(blk[i]);
    }
    pm_stats_t d1 = snap();
    size_t mapped = d1.arenas_mapped - d0.arenas_mapped, waiting = d1.arenas_reserved;
    printf("decay: %zu arenas mapped over 3 rounds, %zu waiting in the reserve\n", mapped, waiting);
    CHECK("decay: rounds after the first map no arena", mapped >= 3 && mapped <= 5);
    CHECK("decay: emptied arenas wait in the reserve",
          waiting >= 2 && d1.arenas_released == d0.arenas_released);
    struct timespec pause = {0, 250 * 1000 * 1000};
    nanosleep(&pause, NULL);
    for (size_t i = 0; i < 4 * PER_ARENA; i++)   /* needs arenas: takes the newest */
        blk[i] = pm_malloc(512);
    pm_stats_t d2 = snap();
    printf("after the decay: released %lu (before %lu) reserved %lu\n", (unsigned long)d2.arenas_released, (unsigned long)d0.arenas_released, (unsigned long)d2.arenas_reserved);
    CHECK("decay: arenas unused for the decay time are unmapped at the next arena event",
          d2.arenas_released > d0.arenas_released && d2.arenas_reserved == 0);
    for (size_t i = 0; i < 4 * PER_ARENA; i++)
        pm_free(blk[i]);
    pm_option_set(PM_OPTION_ARENA_DECAY_MS, 0);
    pm_malloc_trim(0);
    pm_option_set(PM_OPTION_ARENA_RESERVE, 1);

    /* malloc_trim gives the free pages of a live arena back to the OS. */
    for (size_t i = 0; i < PER_ARENA; i++)
        blk[i] = pm_malloc(512);
    char *probe = NULL;    /* a page that held a pool, in the arena of blk[0] */
    for (size_t i = PER_POOL; i < PER_ARENA; i++) {
        if (!probe && arena_of(blk[i]) == arena_of(blk[0]) &&
            ((uintptr_t)blk[i] >> 12) != ((uintptr_t)blk[0] >> 12))
            probe = (char *)((uintptr_t)blk[i] & ~(uintptr_t)(PM_PAGE_SIZE - 1));
        pm_free(blk[i]);   /* keep only the first pool's blocks */
    }
    char *first_pool = (char *)((uintptr_t)blk[0] & ~(uintptr_t)(PM_POOL_SIZE - 1));
    CHECK("a freed pool in the same arena", probe != NULL);
    if (probe) {
        pm_malloc_trim(0);
        unsigned char vec = 1;
        CHECK("mincore", mincore(probe, PM_PAGE_SIZE, &vec) == 0);
        CHECK("trimmed free page is not resident", (vec & 1) == 0);
        CHECK("the arena is still in use", arena_of(blk[0]) == arena_of(first_pool));
    }
    for (size_t i = 0; i < PER_POOL; i++)
        pm_free(blk[i]);

    /* The end of a big phase: with ARENA_RESERVE 1 and ARENA_CACHE 1 MiB
     * (4 arenas), and nothing decaying, a phase of 16 arenas freed leaves
     * the reserve full (1 + 4, for the next round), but one of 64 (more
     * than 4 times what the reserve may hold), freed down to under an
     * eighth (the heap keeps its class's head and up to PM_SPARE_POOLS
     * spares, which lie in one or two arenas), leaves only ARENA_RESERVE:
     * a process that then goes idle keeps no more. */
    pm_option_set(PM_OPTION_ARENA_RESERVE, 1);
    pm_option_set(PM_OPTION_ARENA_CACHE, 1 << 20);
    pm_option_set(PM_OPTION_ARENA_DECAY_MS, 60 * 1000);
    static char *phase[64 * PER_ARENA];
    for (size_t i = 0; i < 16 * PER_ARENA; i++)
        phase[i] = pm_malloc(512);
    for (size_t i = 0; i < 16 * PER_ARENA; i++)
        pm_free(phase[i]);
    CHECK("a phase of 16 arenas: the reserve keeps 1 + 4", snap().arenas_reserved == 5);
    /* A phase that climbs back within the decay period would be a phase
     * that comes back (unit_arena_phases): malloc_trim forgets this one. */
    pm_malloc_trim(0);
    for (size_t i = 0; i < 64 * PER_ARENA; i++)
        phase[i] = pm_malloc(512);
    CHECK("a phase of 64 arenas", snap().arenas_live >= s0.arenas_live + 64);
    for (size_t i = 0; i < 64 * PER_ARENA; i++)
        pm_free(phase[i]);
    CHECK("after a phase of 64 arenas: the reserve keeps 1", snap().arenas_reserved == 1);
    pm_option_set(PM_OPTION_ARENA_CACHE, 16 << 20);
    pm_option_set(PM_OPTION_ARENA_DECAY_MS, 0);
    pm_malloc_trim(0);

    /* 40 MiB of small blocks, freed: nothing left but what the reserve holds. */
    pm_option_set(PM_OPTION_ARENA_RESERVE, 0);
    for (size_t i = 0; i < npad; i++)
        pm_free(pad[i]);
    enum { N = 40 * 1024 * 1024 / 64 };
    static char *many[N];
    for (size_t i = 0; i < N; i++)
        many[i] = pm_malloc(64);
    CHECK("many arenas", snap().arenas_live > s0.arenas_live + 100);
    for (size_t i = 0; i < N; i++)
        pm_free(many[i]);
    pm_malloc_trim(0);
    pm_free(warm);
    pm_malloc_trim(0);
    CHECK("all returned", snap().arenas_live == 0 && snap().pools_live == 0);
    runs();
    CHECK("runs: all returned", snap().arenas_live == 0 && snap().pools_live == 0);
    return pm_test_finish();
}
