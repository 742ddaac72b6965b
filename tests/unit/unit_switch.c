/* Random frees, larson's pattern: blocks of the classes whose pools and
 * spans hold few blocks (264..512 and 513..1024 bytes) are freed at random
 * and replaced.  Most allocation misses are then the switch to the next
 * pool or span on the class list (pool.c, pool_switch; span.c,
 * span_switch), and FULL pools and spans keep rejoining their lists.
 * Checked: every block keeps its contents while it is out (a block handed
 * out twice would be overwritten), and once everything is freed every pool
 * and span goes back (the lists' bias bookkeeping is whole). */
#include "pm_test.h"
#include "pools/pools.h"

#define LIVE 4000
#define STEPS 400000

static unsigned char *blk[LIVE];
static size_t len[LIVE];
static unsigned char tag[LIVE];

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t random_size(void)
{
    /* half small (264..512: pools of 7..15 blocks), half medium (513..1024) */
    uint64_t r = next_rand();
    return (r & 1) ? 264 + (r >> 8) % 249 : 513 + (r >> 8) % 512;
}

static bool intact(size_t i)
{
    for (size_t k = 0; k < len[i]; k++)
        if (blk[i][k] != (unsigned char)(tag[i] + k))
            return false;
    return true;
}

static bool place(size_t i, unsigned char t)
{
    len[i] = random_size();
    blk[i] = pm_malloc(len[i]);
    if (!blk[i] || pm_malloc_usable_size(blk[i]) < len[i])
        return false;
    tag[i] = t;
    for (size_t k = 0; k < len[i]; k++)
        blk[i][k] = (unsigned char)(t + k);
    return true;
}

static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

int main(void)
{
    pm_free(pm_malloc(1));
    pm_malloc_trim(0);
    pm_stats_t s0 = snap();

    bool ok = true;
    for (size_t i = 0; i < LIVE && ok; i++)
        ok = place(i, (unsigned char)i);
    CHECK("the first blocks", ok);
    size_t bad = 0;
    for (unsigned step = 0; step < STEPS && ok; step++) {
        size_t i = (size_t)(next_rand() % LIVE);
        if (!intact(i))
            bad++;
        pm_free(blk[i]);
        ok = place(i, (unsigned char)step);
    }
    CHECK("every allocation succeeds", ok);
    CHECK("every block keeps its contents while out", bad == 0);
    pm_stats_t s1 = snap();
    CHECK("pools and spans were in use", s1.pools_live > s0.pools_live && s1.spans_live > s0.spans_live);

    for (size_t i = 0; i < LIVE; i++) {
        if (blk[i] && !intact(i))
            bad++;
        pm_free(blk[i]);
    }
    CHECK("every block intact at the end", bad == 0);
    pm_malloc_trim(0);
    pm_stats_t s2 = snap();
    CHECK("every pool goes back", s2.pools_live == s0.pools_live);
    CHECK("every span goes back", s2.spans_live == s0.spans_live);
    if (s2.pools_live != s0.pools_live || s2.spans_live != s0.spans_live)
        fprintf(stderr, "pools %llu -> %llu, spans %llu -> %llu\n",
                (unsigned long long)s0.pools_live, (unsigned long long)s2.pools_live,
                (unsigned long long)s0.spans_live, (unsigned long long)s2.spans_live);
    return pm_test_finish();
}
