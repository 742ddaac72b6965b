/* stats.c -- counters and the statistics report (layer 1).
 *
 * Per-class counters cost nothing unless POOLMALLOC_STATS=1, which puts the
 * process in slow mode (types.h): the hooks of slow.c count each block.  When on, they are process-wide atomics, so current and
 * peak bytes are exact for the whole process (at the price of an atomic add
 * per call: statistics mode is for diagnosis, not for timing).  Arena,
 * large-path and heap counters are kept always; they change on slow paths
 * only.  The report is formatted by hand into a stack buffer and written
 * with write(2): no stdio, no allocation, safe at exit.
 */
#include "pools/pools.h"

#include <string.h>
#include <unistd.h>

pm_class_counters_t _pm_class_counters[PM_CLASS_COUNT + PM_MEDIUM_COUNT];

void _pm_stats_count_alloc(unsigned c)
{
    pm_class_counters_t *k = &_pm_class_counters[c];
    atomic_fetch_add_explicit(&k->allocs, 1, memory_order_relaxed);
    uint64_t size = pm_class_block_size((int)c);
    uint64_t cur = atomic_fetch_add_explicit(&k->current, size, memory_order_relaxed) + size;
    uint64_t peak = atomic_load_explicit(&k->peak, memory_order_relaxed);
    while (cur > peak && !atomic_compare_exchange_weak_explicit(&k->peak, &peak, cur,
                                                                 memory_order_relaxed,
                                                                 memory_order_relaxed))
        ;
}

void _pm_stats_count_free(unsigned c)
{
    pm_class_counters_t *k = &_pm_class_counters[c];
    atomic_fetch_add_explicit(&k->frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&k->current, pm_class_block_size((int)c), memory_order_relaxed);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void pm_stats_get(pm_stats_t *out)
{
    pm_stats_t s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    s.version = PM_STATS_VERSION;
    for (unsigned c = 0; c < PM_CLASS_COUNT + PM_MEDIUM_COUNT; c++) {
        s.classes[c].allocs = LOAD(_pm_class_counters[c].allocs);
        s.classes[c].frees = LOAD(_pm_class_counters[c].frees);
        s.classes[c].current_bytes = LOAD(_pm_class_counters[c].current);
        s.classes[c].peak_bytes = LOAD(_pm_class_counters[c].peak);
    }
    s.arenas_mapped = LOAD(_pm_counters.arenas_mapped);
    s.arenas_released = LOAD(_pm_counters.arenas_released);
    s.arenas_live = s.arenas_mapped - s.arenas_released;
    s.arenas_reserved = LOAD(_pm_counters.arenas_reserved);
    s.pools_live = LOAD(_pm_counters.pools_live);
    s.spans_live = LOAD(_pm_counters.spans_live);
    s.large_allocs = LOAD(_pm_counters.large_allocs);
    s.large_frees = LOAD(_pm_counters.large_frees);
    s.large_hits = LOAD(_pm_counters.large_hits);
    s.large_misses = LOAD(_pm_counters.large_misses);
    s.large_live_bytes = LOAD(_pm_counters.large_live_bytes);
    s.large_cached_bytes = LOAD(_pm_counters.large_cached_bytes);
    s.large_cached_count = LOAD(_pm_counters.large_cached_count);
    s.large_released = LOAD(_pm_counters.large_released);
    s.heaps_live = LOAD(_pm_counters.heaps_live);
    s.heaps_abandoned = LOAD(_pm_counters.heaps_abandoned);
    *out = s;
}

/* ---- a tiny formatter ---- */
typedef struct out_s {
    int fd;
    size_t len;
    char buf[512];
} out_t;

static void out_flush(out_t *o)
{
    _pm_os_write(o->fd, o->buf, o->len);
    o->len = 0;
}

static void out_str(out_t *o, const char *s)
{
    for (; *s; s++) {
        if (o->len == sizeof o->buf)
            out_flush(o);
        o->buf[o->len++] = *s;
    }
}

/* Unsigned decimal, right-aligned in `width` columns (0: no padding). */
static void out_num(out_t *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char line[48];
    int k = 0;
    for (int pad = width - n; pad > 0 && k < 24; pad--)
        line[k++] = ' ';
    while (n)
        line[k++] = tmp[--n];
    line[k] = 0;
    out_str(o, line);
}

static void out_kv(out_t *o, const char *key, uint64_t v)
{
    out_str(o, " ");
    out_str(o, key);
    out_str(o, "=");
    out_num(o, v, 0);
}

void pm_stats_print(int fd)
{
    pm_stats_t s;
    pm_stats_get(&s);
    out_t o = {.fd = fd, .len = 0};
    uint64_t small_allocs = 0, small_frees = 0, medium_allocs = 0, medium_frees = 0;
    out_str(&o, "poolmalloc: statistics (pid ");
    out_num(&o, (uint64_t)getpid(), 0);
    out_str(&o, ")\n");
    if (_pm_slow & PM_SLOW_STATS) {
        out_str(&o, "poolmalloc: class  size       allocs        frees    cur-bytes   peak-bytes\n");
        for (unsigned c = 0; c < PM_CLASS_COUNT + PM_MEDIUM_COUNT; c++) {
            pm_class_stats_t *k = &s.classes[c];
            if (c < PM_CLASS_COUNT) {
                small_allocs += k->allocs;
                small_frees += k->frees;
            } else {
                medium_allocs += k->allocs;
                medium_frees += k->frees;
            }
            if (!k->allocs)
                continue;
            out_str(&o, "poolmalloc: ");
            out_num(&o, c, 5);
            out_num(&o, pm_class_block_size((int)c), 6);
            out_num(&o, k->allocs, 13);
            out_num(&o, k->frees, 13);
            out_num(&o, k->current_bytes, 13);
            out_num(&o, k->peak_bytes, 13);
            out_str(&o, "\n");
        }
    } else {
        out_str(&o, "poolmalloc: per-class counters are off (POOLMALLOC_STATS=1 turns them on)\n");
    }
    out_str(&o, "poolmalloc: arenas:");
    out_kv(&o, "mapped", s.arenas_mapped);
    out_kv(&o, "released", s.arenas_released);
    out_kv(&o, "live", s.arenas_live);
    out_kv(&o, "reserved", s.arenas_reserved);
    out_kv(&o, "pools-live", s.pools_live);
    out_kv(&o, "spans-live", s.spans_live);
    out_str(&o, "\npoolmalloc: large:");
    out_kv(&o, "allocs", s.large_allocs);
    out_kv(&o, "frees", s.large_frees);
    out_kv(&o, "hits", s.large_hits);
    out_kv(&o, "misses", s.large_misses);
    out_kv(&o, "live-bytes", s.large_live_bytes);
    out_kv(&o, "cached-bytes", s.large_cached_bytes);
    out_kv(&o, "cached", s.large_cached_count);
    out_kv(&o, "released", s.large_released);
    out_str(&o, "\npoolmalloc: heaps:");
    out_kv(&o, "live", s.heaps_live);
    out_kv(&o, "abandoned", s.heaps_abandoned);
    out_str(&o, "\npoolmalloc: totals:");
    out_kv(&o, "small-allocs", small_allocs);
    out_kv(&o, "small-frees", small_frees);
    out_kv(&o, "large-allocs", s.large_allocs);
    out_kv(&o, "large-frees", s.large_frees);
    out_kv(&o, "medium-allocs", medium_allocs);
    out_kv(&o, "medium-frees", medium_frees);
    out_str(&o, "\n");
    out_flush(&o);
}

void pm_malloc_stats(void) { pm_stats_print(2); }
