/* gc_seam.h -- what the pools give the refcount-and-cycle layer (gc/), and
 * nothing more.
 *
 * gc/ sits above the allocator (layer 3): it allocates through the public
 * API (pm_malloc, pm_free, pm_realloc, pm_malloc_usable_size in
 * poolmalloc.h) and needs from the pools only the few things below, so
 * that it includes neither pools/pools.h nor a copy of the
 * pools' rules (page map tags, pool ownership, when a free must take the
 * slow path).  Plain types only: this header includes nothing internal.
 */
#ifndef PM_GC_SEAM_H
#define PM_GC_SEAM_H

#include <stddef.h>

/* 1 if the address is in memory poolmalloc manages (a pool, a medium span,
 * a large block), so that reading it cannot fault; 0 otherwise. */
__attribute__((visibility("hidden"))) int _pm_gc_seam_is_ours(const void *p);

/* 1 if p is the start of a block of a pool or span that is allocated now
 * (its live bit is set), or lies in a live large block; 0 otherwise. */
__attribute__((visibility("hidden"))) int _pm_gc_seam_is_live_block(const void *p);

/* Frees the n blocks of blocks[] (each one that pm_malloc returned and that
 * is still allocated), as pm_free would, but each run of consecutive blocks
 * of one pool of this thread's heap is freed at once: one page-map lookup,
 * live bits cleared a word at a time, and no block written when the run is
 * all the pool has out.  Misuse (a block not allocated, or twice in
 * blocks[]) aborts naming call. */
__attribute__((visibility("hidden"))) void _pm_gc_seam_free_run(void *const *blocks, size_t n,
                                                                const char *call);

/* Bracket a teardown that frees many blocks (pairs; they nest): the arenas
 * it empties beyond what the allocator keeps go back to the OS a batch at
 * a time, one munmap per run of neighbours, instead of one each. */
__attribute__((visibility("hidden"))) void _pm_gc_seam_bulk_begin(void);
__attribute__((visibility("hidden"))) void _pm_gc_seam_bulk_end(void);

/* The allocator's one-line fatal message: "poolmalloc: call(): what p". */
__attribute__((visibility("hidden"), noreturn, cold)) void
_pm_gc_seam_fatal(const char *call, const char *what, const void *p);

#endif
