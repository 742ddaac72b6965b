/* poolmalloc.h -- public interface of libpoolmalloc.
 *
 * libpoolmalloc replaces the malloc family when preloaded (LD_PRELOAD) or
 * linked.  Programs that want to call it explicitly, or read its statistics
 * and set its options, use the prefixed entry points declared here.  Their
 * contracts are those of the unprefixed C functions (see docs/API.md).
 */
#ifndef POOLMALLOC_H
#define POOLMALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PM_API __attribute__((visibility("default")))
#else
#define PM_API
#endif

#define POOLMALLOC_VERSION_MAJOR 0
#define POOLMALLOC_VERSION_MINOR 1
#define POOLMALLOC_VERSION_PATCH 0
#define POOLMALLOC_VERSION "0.1.0"

/* The library's version, "MAJOR.MINOR.PATCH" (CMake's project version; the
 * build checks that the macros above agree with it).  A program compiled
 * against one header and run with another library can compare the two. */
PM_API const char *pm_version(void);

/* ---- allocation ------------------------------------------------------- */
PM_API void  *pm_malloc(size_t size);
PM_API void   pm_free(void *ptr);
PM_API void  *pm_calloc(size_t count, size_t size);
PM_API void  *pm_realloc(void *ptr, size_t size);
PM_API void  *pm_reallocarray(void *ptr, size_t count, size_t size);
PM_API int    pm_posix_memalign(void **out, size_t alignment, size_t size);
PM_API void  *pm_aligned_alloc(size_t alignment, size_t size);
PM_API void  *pm_memalign(size_t alignment, size_t size);
PM_API void  *pm_valloc(size_t size);
PM_API void  *pm_pvalloc(size_t size);
PM_API size_t pm_malloc_usable_size(void *ptr);
PM_API int    pm_malloc_trim(size_t pad);
PM_API void   pm_malloc_stats(void);

/* ---- options ------------------------------------------------------------
 * Each option is read once, at first use, from the environment variable
 * POOLMALLOC_<NAME>; pm_option_set overrides it afterwards.  Booleans take
 * 0/1, yes/no, true/false, on/off.  POOLMALLOC_STATS_FILE (a path, %p for
 * the process id: where the report at exit goes) is read the same way. */
/* Each option's default, range and variable are in one table (base/options.c);
 * pm_option_get tells the value in effect, and POOLMALLOC_VERBOSE=1 prints
 * them all at start-up.  README and poolmalloc(3) list the defaults. */
typedef enum pm_option_e {
    PM_OPTION_STATS = 0,          /* POOLMALLOC_STATS: 1 = count per class, print at exit */
    PM_OPTION_ARENA_RESERVE,      /* POOLMALLOC_ARENA_RESERVE: empty arenas kept mapped */
    PM_OPTION_LARGE_CACHE,        /* POOLMALLOC_LARGE_CACHE: at most this many resident bytes of freed large mappings kept (within the recent peak of use) */
    PM_OPTION_LARGE_DECAY_MS,     /* POOLMALLOC_LARGE_DECAY_MS: cached mappings unused this long are unmapped */
    PM_OPTION_ARENA_DECAY_MS,     /* POOLMALLOC_ARENA_DECAY_MS: empty arenas beyond the reserve unused this long are unmapped */
    PM_OPTION_ARENA_CACHE,        /* POOLMALLOC_ARENA_CACHE: bytes of empty arenas kept for that time at most */
    PM_OPTION_MIN_ALIGN,          /* POOLMALLOC_MIN_ALIGN: 8, or 16 = every malloc of 9 bytes or more is 16-aligned */
    PM_OPTION_VERBOSE,            /* POOLMALLOC_VERBOSE: 1 = one line at start-up: version, pid, options */
    PM_OPTION_STATS_JSON,         /* POOLMALLOC_STATS_JSON: 1 = the report at exit is JSON */
    PM_OPTION_LARGE_THP,          /* POOLMALLOC_LARGE_THP: 1 = large mappings of 4 MiB or more use transparent huge pages */
    PM_OPTION_ARENA_THP,          /* POOLMALLOC_ARENA_THP: once a heap's arenas pass this many bytes, its new ones come from 2 MiB chunks that use transparent huge pages (0 = never) */
    PM_OPTION_FLAT_PAGEMAP,       /* POOLMALLOC_FLAT_PAGEMAP: 1 = free finds a page's owner in one flat array (32 GiB of address space reserved, start-up only) */
    PM_OPTION_ARENA_POPULATE,     /* POOLMALLOC_ARENA_POPULATE: at most this many free pages faulted in ahead of a growing heap's new pool, with it (0 = none) */
    PM_OPTION_COUNT
} pm_option_t;

PM_API long pm_option_get(pm_option_t option);
PM_API int  pm_option_set(pm_option_t option, long value);   /* 0, or EINVAL */

/* ---- statistics ---------------------------------------------------------
 * A snapshot of the process-wide counters.  Per-class counters are kept
 * only while PM_OPTION_STATS is on; the arena and large-path counters always.
 * classes[0..63] are the small classes (8..512 bytes, 8 apart),
 * classes[64..107] the medium ones (576, 640, ..., 1024, 1088, 1152, ...,
 * 16384: eight per doubling and one 64 bytes above each power of two from
 * 1024 to 8192; version 4, the first with 44). */
#define PM_SMALL_CLASSES 64
#define PM_MEDIUM_CLASSES 44

typedef struct pm_class_stats_s {
    uint64_t allocs;        /* blocks handed out */
    uint64_t frees;         /* blocks given back */
    uint64_t current_bytes; /* bytes in blocks currently allocated */
    uint64_t peak_bytes;    /* highest current_bytes seen */
} pm_class_stats_t;

typedef struct pm_stats_s {
    uint32_t size;                 /* sizeof(pm_stats_t), filled by pm_stats_get */
    uint32_t version;              /* PM_STATS_VERSION */
    pm_class_stats_t classes[PM_SMALL_CLASSES + PM_MEDIUM_CLASSES];
    uint64_t arenas_mapped;        /* arenas obtained from the OS, ever */
    uint64_t arenas_released;      /* arenas given back to the OS, ever */
    uint64_t arenas_live;          /* arenas mapped now (in use or in reserve) */
    uint64_t arenas_reserved;      /* empty arenas kept for reuse now */
    uint64_t pools_live;           /* pools carved from arenas and not returned (not the
                                      untouched pages a class keeps after a new pool) */
    uint64_t spans_live;           /* medium spans carved from arenas and not returned */
    uint64_t large_allocs;         /* large allocations served */
    uint64_t large_frees;          /* large allocations freed */
    uint64_t large_hits;           /* large allocations served from the cache */
    uint64_t large_misses;         /* large allocations that had to mmap */
    uint64_t large_live_bytes;     /* bytes mapped for live large allocations */
    uint64_t large_cached_bytes;   /* bytes held in the cache of freed mappings */
    uint64_t large_cached_count;   /* mappings held in that cache */
    uint64_t large_released;       /* mappings returned to the OS, ever (up to 16 of at most
                                      1 MiB, 2 MiB in all, may wait to go with their neighbours
                                      until the large path's next clock pass or malloc_trim) */
    uint64_t heaps_live;           /* thread heaps owned by a running thread */
    uint64_t heaps_abandoned;      /* heaps of exited threads, waiting for adoption */
    /* Version 2: totals in bytes. */
    uint64_t span_pages_live;      /* pages in medium spans carved and not returned */
    uint64_t counting;             /* 1 while PM_OPTION_STATS counts blocks (the next two need it) */
    uint64_t bytes_in_use;         /* blocks handed out and not freed: small + medium + large
                                      (a large block counts its whole mapping); 0 when not counting */
    uint64_t bytes_peak;           /* the highest bytes_in_use seen at an allocation while counting */
    uint64_t bytes_in_pages;       /* pages that hold blocks in use: pools, spans, live large mappings
                                      (known without counting; at least bytes_in_use) */
    uint64_t bytes_mapped;         /* mapped by poolmalloc: arenas, live and cached large mappings,
                                      allocator records */
    uint64_t bytes_cached;         /* mapped and kept for reuse: reserved arenas, cached large mappings */
    uint64_t bytes_resident;       /* the whole process's resident memory now (/proc/self/statm) */
    uint64_t bytes_resident_peak;  /* the process's peak resident memory (getrusage) */
    uint64_t meta_bytes;           /* mapped for allocator records (large records, heaps) */
} pm_stats_t;

#define PM_STATS_VERSION 4

PM_API void pm_stats_get(pm_stats_t *out);
PM_API void pm_stats_print(int fd);      /* the report malloc_stats() prints, to fd */
PM_API void pm_stats_print_json(int fd); /* the same figures as one JSON object, to fd */

/* The size class that serves a request of `size` bytes now: 0..63 for small
 * requests (blocks of 8*(c+1) bytes; above 64 bytes at first the class of
 * 128, 256 or 512 bytes, then of the next multiple of 16 or 32 bytes, as
 * the process uses that range more, see docs/DESIGN.md, "Size classes"),
 * 64..107 for medium ones (at first the class of the power of two above),
 * or -1 when the request gets its own mapping.  pm_class_block_size(c)
 * gives the block size. */
PM_API int pm_size_class(size_t size);
PM_API size_t pm_class_block_size(int size_class);

#ifdef __cplusplus
}
#endif
#endif /* POOLMALLOC_H */
