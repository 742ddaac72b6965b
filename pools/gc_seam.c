/* gc_seam.c -- the pools' side of the seam with the refcount-and-cycle
 * layer (see gc_seam.h).  Layer 2: it knows the page map and the pools;
 * gc/ only knows these functions. */
#include "pools/gc_seam.h"

#include "pools/pools.h"

int _pm_gc_seam_is_ours(const void *p)
{
    return pm_pagemap_get(p) != 0;
}

int _pm_gc_seam_is_live_block(const void *p)
{
    uintptr_t entry = pm_pagemap_get(p);
    if (entry & (PM_PAGE_POOL | PM_PAGE_SPAN))
        return pm_block_out(p) && !pm_tc_cached(p);
    return (entry & PM_PAGE_LARGE) != 0;
}

/* Frees the n blocks of pool one by one (pm_free's checks and messages). */
static void free_each(pm_heap_t *heap, pm_pool_t *pool, void *const *blocks, size_t n,
                      const char *call)
{
    for (size_t i = 0; i < n; i++) {
        /* a pool emptied by one free may be released: the rest go the long way */
        if (pool && pool->used > 1)
            pm_small_free_local(heap, pool, blocks[i], call, false);
        else {
            pool = NULL;
            pm_free_inline(blocks[i]);
        }
    }
}

void _pm_gc_seam_free_run(void *const *blocks, size_t n, const char *call)
{
    /* Blocks of this thread's pools are freed a pool at a time: the longest
     * run of consecutive blocks of one pool costs one page-map lookup, its
     * live bits are cleared a word at a time, and if it is all the pool has
     * out, no block is written (pool.c, _pm_pool_free_run).  Any other block
     * (another heap's, a span's, a large one; every block in slow mode,
     * where _pm_tls_fast is the route heap that owns no pool) goes through
     * pm_free_inline. */
    pm_heap_t *heap = _pm_tls_fast;
    size_t i = 0;
    while (i < n) {
        void *p = blocks[i];
        uintptr_t page = (uintptr_t)p & ~(uintptr_t)(PM_POOL_SIZE - 1);
        uintptr_t entry = pm_pagemap_get(p);
        pm_pool_t *pool = (entry & PM_PAGE_POOL) ? (pm_pool_t *)(entry & ~PM_PAGE_TAGS) : NULL;
        if (pool == NULL || pool->heap != heap || ((uintptr_t)p & 7)) {
            pm_free_inline(p);
            i++;
            continue;
        }
        uint64_t mask[PM_POOL_GRANULES / 64] = {0};
        size_t j = i;
        for (; j < n && ((uintptr_t)blocks[j] & ~(uintptr_t)(PM_POOL_SIZE - 1)) == page &&
               !((uintptr_t)blocks[j] & 7); j++)
            mask[pm_live_index(blocks[j])] |= pm_live_bit(blocks[j]);
        if (!_pm_pool_free_run(heap, pool, mask, blocks + i, j - i))
            free_each(heap, pool, blocks + i, j - i, call);
        i = j;
    }
}

void _pm_gc_seam_bulk_begin(void) { _pm_arena_bulk_begin(); }
void _pm_gc_seam_bulk_end(void) { _pm_arena_bulk_end(); }

void _pm_gc_seam_fatal(const char *call, const char *what, const void *p)
{
    _pm_fatal_ptr(call, what, p);
}
