/* Slow mode (base/base.h): statistics switched on at run time take the
 * calling thread off its fast path at once, and every block it then
 * allocates and frees is counted; switched off, the fast path comes back
 * and nothing more is counted.  Safe linking survives the switches: blocks
 * freed on one path are allocated on the other. */
#include "pm_test.h"
#include "pools/pools.h"

enum { N = 1000, SIZE = 40, CLASS = (SIZE - 1) / 8 };

static pm_class_stats_t class_now(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s.classes[CLASS];
}

static void churn(void **blocks)
{
    for (int i = 0; i < N; i++) {
        blocks[i] = pm_malloc(SIZE);
        memset(blocks[i], i & 0xff, SIZE);
    }
    for (int i = 0; i < N; i++)
        pm_free(blocks[i]);
}

int main(void)
{
    static void *blocks[N];
    churn(blocks);   /* a heap, a fast route, free blocks on the list */
    CHECK("fast route in use", _pm_tls_fast == _pm_tls_heap);

    pm_class_stats_t before = class_now();
    CHECK("statistics on", pm_option_set(PM_OPTION_STATS, 1) == 0);
    CHECK("fast route off in slow mode", _pm_tls_fast == PM_ROUTE_GENERIC);
    churn(blocks);
    pm_class_stats_t on = class_now();
    CHECK("every allocation counted", on.allocs - before.allocs == N);
    CHECK("every free counted", on.frees - before.frees == N);
    CHECK("nothing left counted as live", on.current_bytes == before.current_bytes);

    CHECK("statistics off", pm_option_set(PM_OPTION_STATS, 0) == 0);
    CHECK("fast route back", _pm_tls_fast == _pm_tls_heap);
    churn(blocks);
    pm_class_stats_t off = class_now();
    CHECK("nothing counted when off", off.allocs == on.allocs && off.frees == on.frees);
    return pm_test_finish();
}
