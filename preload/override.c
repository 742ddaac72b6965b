/* override.c -- the unprefixed malloc API (floor 3).
 *
 * Only forwarders live here: the allocator is in pools/ and arenas/.  This
 * file is part of libpoolmalloc.so and libpoolmalloc.a, not of the core
 * object library the unit tests use.  malloc and free inline their fast
 * paths; the rest forward to the pm_* functions.  glibc's __libc_* names
 * are exported too, so that code calling them directly stays consistent.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pools/pools.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#define PM_EXPORT __attribute__((visibility("default")))

/* Another name for function `target`, with its attributes (malloc,
 * alloc_size, nothrow...: GCC's copy attribute; clang does not compare
 * them).  One body for both names: less text to map and to cache. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 9
#define PM_ALIAS(target) __attribute__((alias(#target), copy(target)))
#else
#define PM_ALIAS(target) __attribute__((alias(#target)))
#endif

/* malloc and free start on a cache line: where their branches fall
 * against the 32- and 64-byte lines of the decoder moved their time by up
 * to 30% when unrelated code above them grew (fixed/1024 4.72 -> 6.58 ns
 * for a 32-byte shift; 5.03 aligned). */
PM_EXPORT __attribute__((aligned(64))) void *malloc(size_t size) { return pm_malloc_inline(size); }
PM_EXPORT __attribute__((aligned(64))) void free(void *p) { pm_free_inline(p); }
PM_EXPORT void *calloc(size_t n, size_t size) { return pm_calloc(n, size); }
PM_EXPORT void *realloc(void *p, size_t size) { return pm_realloc(p, size); }
PM_EXPORT void *reallocarray(void *p, size_t n, size_t size) { return pm_reallocarray(p, n, size); }
PM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    return pm_posix_memalign(out, align, size);
}
PM_EXPORT void *aligned_alloc(size_t align, size_t size) { return pm_aligned_alloc(align, size); }
PM_EXPORT void *memalign(size_t align, size_t size) { return pm_memalign(align, size); }
PM_EXPORT void *valloc(size_t size) { return pm_valloc(size); }
PM_EXPORT void *pvalloc(size_t size) { return pm_pvalloc(size); }
PM_EXPORT size_t malloc_usable_size(void *p) { return pm_malloc_usable_size(p); }
PM_EXPORT int malloc_trim(size_t pad) { return pm_malloc_trim(pad); }
PM_EXPORT void malloc_stats(void) { pm_malloc_stats(); }
PM_EXPORT void cfree(void *p) PM_ALIAS(free);

/* mallopt: the parameters glibc documents are accepted (and have no effect,
 * poolmalloc's tuning is by POOLMALLOC_* options); unknown ones fail. */
PM_EXPORT int mallopt(int param, int value)
{
    (void)value;
    switch (param) {
    case M_MXFAST: case M_TRIM_THRESHOLD: case M_TOP_PAD: case M_MMAP_THRESHOLD:
    case M_MMAP_MAX: case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST:
    case M_ARENA_MAX:
        return 1;
    default:
        return 0;
    }
}

/* mallinfo2 in poolmalloc's terms:
 *   arena     bytes of arenas mapped (in use or in reserve)
 *   ordblks   empty arenas kept in reserve
 *   hblks, hblkhd   live large mappings, their bytes
 *   uordblks  bytes in use, small, medium and large: the blocks handed out
 *             while POOLMALLOC_STATS counts them, else the pages holding
 *             blocks (pools, spans, large mappings: an upper bound)
 *   fordblks  free bytes in the arenas
 *   keepcost  bytes of cached large mappings (malloc_trim releases them)
 *   usmblks   the peak of uordblks while counting (glibc: always 0) */
static struct mallinfo2 pm_mallinfo2_impl(void)
{
    pm_stats_t s;
    _pm_stats_counts(&s);   /* no system call */
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    size_t in_arena_pages = (size_t)((s.pools_live + s.span_pages_live) * PM_PAGE_SIZE);
    mi.arena = (size_t)(s.arenas_live * PM_ARENA_SIZE);
    mi.ordblks = (size_t)s.arenas_reserved;
    mi.hblks = (size_t)(s.large_allocs - s.large_frees);
    mi.hblkhd = (size_t)s.large_live_bytes;
    mi.uordblks = (size_t)(s.counting ? s.bytes_in_use : s.bytes_in_pages);
    mi.usmblks = (size_t)s.bytes_peak;
    mi.fordblks = mi.arena > in_arena_pages ? mi.arena - in_arena_pages : 0;
    mi.keepcost = (size_t)s.large_cached_bytes;
    return mi;
}

PM_EXPORT struct mallinfo2 mallinfo2(void) { return pm_mallinfo2_impl(); }

PM_EXPORT struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = pm_mallinfo2_impl();
    struct mallinfo mi;
    mi.arena = (int)m2.arena;
    mi.ordblks = (int)m2.ordblks;
    mi.smblks = 0;
    mi.hblks = (int)m2.hblks;
    mi.hblkhd = (int)m2.hblkhd;
    mi.usmblks = (int)m2.usmblks;
    mi.fsmblks = 0;
    mi.uordblks = (int)m2.uordblks;
    mi.fordblks = (int)m2.fordblks;
    mi.keepcost = (int)m2.keepcost;
    return mi;
}

/* malloc_info: glibc's XML form with poolmalloc's figures (stats.c says
 * which); options must be 0, as in glibc.  Formatted without allocating,
 * then written with fwrite (which may allocate the FILE's buffer: the
 * allocator holds no lock here). */
static void file_sink(void *fp, const char *buf, size_t len) { fwrite(buf, 1, len, fp); }

PM_EXPORT int malloc_info(int options, FILE *fp)
{
    if (options != 0) {
        errno = EINVAL;
        return -1;
    }
    if (!fp) {
        errno = EINVAL;
        return -1;
    }
    _pm_stats_print_xml(file_sink, fp);
    return ferror(fp) ? -1 : 0;
}

/* glibc's internal names. */
PM_EXPORT void *__libc_malloc(size_t size) PM_ALIAS(malloc);
PM_EXPORT void __libc_free(void *p) PM_ALIAS(free);
PM_EXPORT void *__libc_calloc(size_t n, size_t size) PM_ALIAS(calloc);
PM_EXPORT void *__libc_realloc(void *p, size_t size) PM_ALIAS(realloc);
PM_EXPORT void *__libc_memalign(size_t align, size_t size) PM_ALIAS(memalign);
PM_EXPORT void *__libc_valloc(size_t size) PM_ALIAS(valloc);
PM_EXPORT void *__libc_pvalloc(size_t size) PM_ALIAS(pvalloc);
