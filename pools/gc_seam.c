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
    if (entry & PM_PAGE_POOL) {
        pm_pool_t *pool = (pm_pool_t *)(entry & ~PM_PAGE_TAGS);
        return ((uintptr_t)p & 7) == 0 &&
               (atomic_load_explicit(pm_live_word(pool, p), memory_order_relaxed) &
                pm_live_bit(p)) != 0;
    }
    if (entry & PM_PAGE_SPAN) {
        pm_span_t *s = (pm_span_t *)(entry & ~PM_PAGE_TAGS);
        uintptr_t off = (uintptr_t)p - (uintptr_t)pm_span_base(s);
        uint64_t idx = (off * s->recip) >> 32;
        return idx * s->block_size == off && idx < s->capacity &&
               ((atomic_load_explicit(&s->live, memory_order_relaxed) >> idx) & 1);
    }
    return (entry & PM_PAGE_LARGE) != 0;
}

void _pm_gc_seam_free_run(void *const *blocks, size_t n, const char *call)
{
    /* Blocks of this thread's pools are freed directly, one page-map lookup
     * per run of blocks of one pool; any other block (another heap's, a
     * span's, a large one; every block in slow mode, where _pm_tls_fast is
     * the route heap that owns no pool) goes through pm_free_inline. */
    pm_heap_t *heap = _pm_tls_fast;
    pm_pool_t *pool = NULL;
    uintptr_t pool_page = 1;
    for (size_t i = 0; i < n; i++) {
        void *p = blocks[i];
        uintptr_t page = (uintptr_t)p & ~(uintptr_t)(PM_POOL_SIZE - 1);
        if (page != pool_page) {
            uintptr_t entry = pm_pagemap_get(p);
            pool = (entry & PM_PAGE_POOL) ? (pm_pool_t *)(entry & ~PM_PAGE_TAGS) : NULL;
            if (pool == NULL || pool->heap != heap || ((uintptr_t)p & 7)) {
                pool_page = 1;
                pm_free_inline(p);
                continue;
            }
            pool_page = page;
        }
        /* a pool emptied by this free may be released: look up the next one */
        if (pool->used <= 1)        /* the free takes the slow path (pools.h, pm_pool_s) */
            pool_page = 1;
        pm_small_free_local(heap, pool, p, call, false);
    }
}

void _pm_gc_seam_fatal(const char *call, const char *what, const void *p)
{
    _pm_fatal_ptr(call, what, p);
}
