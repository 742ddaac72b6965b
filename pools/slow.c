/* slow.c -- the hooks of slow mode (layer 1).
 *
 * The inline fast paths of malloc and free (internal.h) test no flag: while
 * anything must be done per call besides moving blocks on and off free
 * lists, every thread's fast route is off (types.h, "slow mode") and the
 * out-of-line paths call these hooks for each block the malloc API hands
 * out or takes back:
 *
 *   _pm_slow_alloc   after a block was taken for the program
 *   _pm_slow_free    after a freed pointer was checked, before the block
 *                    goes back on any list (where another thread could take it)
 *   _pm_slow_resize  realloc kept the block in place
 *
 * What they do, by bit of _pm_slow:
 *   PM_SLOW_STATS    per-class counters (stats.c)
 */
#include "include/internal/internal.h"

void _pm_slow_alloc(void *p, size_t size, size_t block, int counter, bool zeroed)
{
    (void)p;
    (void)size;
    (void)block;
    (void)zeroed;
    if ((_pm_slow & PM_SLOW_STATS) && counter >= 0)
        _pm_stats_count_alloc((unsigned)counter);
}

void _pm_slow_free(void *p, size_t block, int counter)
{
    (void)p;
    (void)block;
    if ((_pm_slow & PM_SLOW_STATS) && counter >= 0)
        _pm_stats_count_free((unsigned)counter);
}

void _pm_slow_resize(void *p, size_t old_block, size_t new_size)
{
    (void)p;
    (void)old_block;
    (void)new_size;
}

size_t _pm_slow_usable(void *p, size_t block)
{
    (void)p;
    return block;
}
