/* pagemap.c -- address to owner lookup (floor 1).
 *
 * free(), realloc() and malloc_usable_size() must tell, in O(1) and without
 * touching memory that may be unmapped or uninitialised, whether a pointer is
 * a small block, a large allocation, or not ours.  Classic obmalloc reads the
 * arena index stored at the start of the pointer's pool and compares it with
 * its arena table ("address_in_range"): fast, but it reads memory poolmalloc
 * may never have written (valgrind reports it) or that may not be mapped.
 *
 * We keep instead a map from page number to a tagged word.  Where the
 * kernel grants it (arenas.h, "the flat map"), the pages of a 16 TiB
 * window have theirs in one array of 2^32 words (32 GiB of address space
 * reserved, zero pages until written, as snmalloc's pagemap): an entry is
 * one load away from the page number.  Every other page, and all of them
 * where there is no flat map (valgrind's memcheck, helgrind and drd, an
 * address-space limit, overcommit disabled, other architectures), like
 * CPython 3.10's radix tree and jemalloc's rtree, in two levels:
 *   root:  2^(48-12-18) = 256 Ki words (2 MiB), static (.bss: costs nothing
 *          until used); each its leaf's address, biased (arenas.h)
 *   leaf:  2^18 words = 2 MiB of virtual memory covering 1 GiB of address
 *          space; mapped on first use, zero pages until written, never freed.
 * Why a lookup is correct: a word is non-zero only between the moment
 * poolmalloc hands out the page (pool carved, large mapping made) and the
 * moment it takes it back, and it is written before the pointer escapes.
 * A pointer we never made lands on a zero word (no leaf: zero by definition),
 * so a foreign pointer is reported, never dereferenced.  Reads are one
 * acquire load per level, so a leaf published by another thread is seen whole.
 */
#include "arenas/arenas.h"

#include <errno.h>

_Atomic uintptr_t _pm_pagemap_root[(size_t)1 << PM_PAGEMAP_ROOT_BITS];
/* Without a flat map, the one pointer that passes the fast test, NULL
 * ((p - 0) & ~0 is 0 for p = 0 alone), reads this word: no entry. */
static const uintptr_t null_entry = 0;
pm_pagemap_fast_t _pm_pagemap_fast = {.lo = 0, .reject = ~(uintptr_t)0, .entries = (uintptr_t)&null_entry};

/* The choice of map: 0 not made, 1 being made, 2 made (_pm_pagemap_init). */
static _Atomic int map_chosen;
/* Set once a leaf of the two-level map exists: from then on it stays. */
static _Atomic bool leaf_made;

void _pm_pagemap_init(void)
{
    int none = 0;
    if (!atomic_compare_exchange_strong_explicit(&map_chosen, &none, 1, memory_order_acquire,
                                                 memory_order_acquire)) {
        /* Another thread chooses: no entry may be written before it has. */
        while (atomic_load_explicit(&map_chosen, memory_order_acquire) != 2)
            ;
        return;
    }
#if defined(__x86_64__)
    /* Unless POOLMALLOC_FLAT_PAGEMAP=0, and not under valgrind's memcheck,
     * helgrind or drd: their runs were checked with the two-level map
     * (callgrind, measuring the fast paths, gets the flat one, as a native
     * run). */
    if (_pm_option_values[PM_OPTION_FLAT_PAGEMAP] && !pm_vg_any() &&
        !atomic_load_explicit(&leaf_made, memory_order_relaxed)) {
        const size_t bytes = ((size_t)1 << (PM_FLAT_WINDOW_BITS - PM_PAGE_SHIFT)) * sizeof(uintptr_t);
        void *flat = _pm_os_map_sparse(bytes);
        if (flat) {
            /* The kernel put the array where it puts mappings now: the
             * window spans 8 TiB either side of it (from 0 if it is lower),
             * room for a process's mappings whether they grow down from
             * there (the usual layout) or up (the legacy one, with an
             * unlimited stack). */
            const uintptr_t half = (uintptr_t)1 << (PM_FLAT_WINDOW_BITS - 1);
            uintptr_t at = (uintptr_t)flat & ~(((uintptr_t)1 << 30) - 1);
            uintptr_t lo = at > half ? at - half : 0;
            _pm_pagemap_fast.lo = lo;
            _pm_pagemap_fast.entries = (uintptr_t)flat - (lo >> PM_PAGE_SHIFT) * sizeof(uintptr_t);
            _pm_pagemap_fast.reject = ~(((uintptr_t)1 << PM_FLAT_WINDOW_BITS) - 1) | 7;
        }
    }
#endif
    atomic_store_explicit(&map_chosen, 2, memory_order_release);
}

bool _pm_pagemap_flat_range(void **addr, size_t *size)
{
    if (_pm_pagemap_fast.reject == ~(uintptr_t)0)
        return false;
    *addr = (void *)(_pm_pagemap_fast.entries +
                     (_pm_pagemap_fast.lo >> PM_PAGE_SHIFT) * sizeof(uintptr_t));
    *size = ((size_t)1 << (PM_FLAT_WINDOW_BITS - PM_PAGE_SHIFT)) * sizeof(uintptr_t);
    return true;
}

#define LEAF_ENTRIES ((size_t)1 << PM_PAGEMAP_LEAF_BITS)
#define LEAF_BYTES (LEAF_ENTRIES * sizeof(uintptr_t))

/* The leaf of root word i, or NULL. */
static _Atomic uintptr_t *root_leaf(size_t i)
{
    return pm_pagemap_leaf_of(i, atomic_load_explicit(&_pm_pagemap_root[i], memory_order_acquire));
}

_Atomic uintptr_t *_pm_pagemap_leaf_at(size_t i) { return root_leaf(i); }

static _Atomic uintptr_t *pagemap_leaf(uintptr_t addr)
{
    size_t i = addr >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS);
    _Atomic uintptr_t *leaf = root_leaf(i);
    if (leaf)
        return leaf;
    _Atomic uintptr_t *fresh = _pm_os_map(LEAF_BYTES, PM_OS_PAGE);
    if (fresh && pm_pagemap_root_word(i, fresh) == 0) {
        /* The one address whose root word would read as no leaf: map
         * another (elsewhere, since this one is still mapped), drop it. */
        _Atomic uintptr_t *other = _pm_os_map(LEAF_BYTES, PM_OS_PAGE);
        _pm_os_unmap(fresh, LEAF_BYTES);
        fresh = other;
    }
    if (!fresh)
        return NULL;
    atomic_store_explicit(&leaf_made, true, memory_order_relaxed);
    /* Entries are atomics written and read by any thread; the same page's
     * entry is written by whichever thread gets the address from the kernel
     * next, an order helgrind and drd cannot see (vg.h). */
    PM_VG_ATOMIC_WORDS(fresh, LEAF_BYTES);
    uintptr_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(&_pm_pagemap_root[i], &expected,
                                                pm_pagemap_root_word(i, fresh),
                                                memory_order_acq_rel, memory_order_acquire))
        return fresh;
    _pm_os_unmap(fresh, LEAF_BYTES); /* another thread published one first */
    return pm_pagemap_leaf_of(i, expected);
}

int _pm_pagemap_set(const void *addr, size_t npages, uintptr_t value)
{
    return pm_pagemap_set_run(addr, npages, value, 0);
}

/* A run within the flat map's window is stored by pm_pagemap_set_run
 * (arenas.h) before it comes here; the loop below stores the flat map's
 * pages of a run across the window's edge. */
int _pm_pagemap_set_step(const void *addr, size_t npages, uintptr_t value, uintptr_t step)
{
    uintptr_t a = (uintptr_t)addr;
    step = value ? step : 0;   /* clearing stores 0 throughout */
    uintptr_t last = a + (npages - 1) * PM_PAGE_SIZE;
    /* The common case, a run of an arena's pages (a span): one leaf for all,
     * found once, then one store per page. */
    if (npages > 1 && !(last >> PM_VA_BITS) &&
        a >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS) == last >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS)) {
        _Atomic uintptr_t *leaf = root_leaf(a >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS));
        if (leaf) {
            size_t first = (a >> PM_PAGE_SHIFT) & (LEAF_ENTRIES - 1);
            for (size_t i = 0; i < npages; i++, value += step)
                atomic_store_explicit(&leaf[first + i], value, memory_order_release);
            return 0;
        }
    }
    for (size_t i = 0; i < npages; i++, a += PM_PAGE_SIZE, value += step) {
        if (pm_pagemap_in_flat(a)) {   /* a run across the window's edge */
            atomic_store_explicit(pm_pagemap_flat_entry(a >> PM_PAGE_SHIFT), value,
                                  memory_order_release);
            continue;
        }
        if (a >> PM_VA_BITS)
            return ENOMEM;
        _Atomic uintptr_t *leaf;
        if (value == 0) { /* clearing: a missing leaf already reads as 0 */
            leaf = root_leaf(a >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS));
            if (!leaf)
                continue;
        } else if (!(leaf = pagemap_leaf(a))) {
            return ENOMEM;
        }
        atomic_store_explicit(&leaf[(a >> PM_PAGE_SHIFT) & (LEAF_ENTRIES - 1)], value,
                              memory_order_release);
    }
    return 0;
}

void _pm_pagemap_vg_init(void)
{
    PM_VG_ATOMIC_WORDS(_pm_pagemap_root, sizeof _pm_pagemap_root);   /* leaves published by CAS */
}
