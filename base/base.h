/* base.h -- the process floor of poolmalloc (floor 0): what every layer
 * above may use.
 *
 *   floor 3  preload/   exported symbols, constructor and destructor
 *            gc/        tagged objects (the public API + pools/gc_seam.h)
 *   floor 2  pools/     size classes, pools, spans, thread heaps, the API
 *   floor 1  arenas/    arenas, the page map, the large path, records
 *   floor 0  base/      the OS layer (os.h), this header: process words,
 *                       options, counters, messages; valgrind (vg.h)
 *
 * A file includes only headers of its own floor and the floors below
 * (tools/check-floors.sh, run by ctest, fails otherwise).  Nothing here
 * allocates.
 */
#ifndef PM_BASE_H
#define PM_BASE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/os.h"
#include "poolmalloc.h"

#define pm_likely(x) __builtin_expect(!!(x), 1)
#define pm_unlikely(x) __builtin_expect(!!(x), 0)
#define PM_INTERNAL __attribute__((visibility("hidden")))
#define PM_NOINLINE __attribute__((noinline))
/* One copy of a function, neither inlined nor cloned by GCC for constant
 * arguments (clang makes no such clones). */
#if defined(__clang__)
#define PM_ONE_COPY __attribute__((noinline))
#else
#define PM_ONE_COPY __attribute__((noinline, noclone))
#endif
/* For the fast paths the exported entries are: GCC's size heuristics must
 * not leave them a call away. */
#define PM_ALWAYS_INLINE inline __attribute__((always_inline))

/* Bits set in x.  Not __builtin_popcountll: without -mpopcnt (the x86-64
 * baseline) GCC calls libgcc's __popcountdi2, which the linker places at
 * the end of the text, outside the hot functions' window (preload/hot.ld),
 * so that a program that ran it mapped one more 64 KiB of the library. */
static inline unsigned pm_popcount64(uint64_t x)
{
    x -= (x >> 1) & 0x5555555555555555ULL;
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (unsigned)((x * 0x0101010101010101ULL) >> 56);
}

/* Checks: PM_DEBUG=1 asserts arguments and states, PM_DEBUG=2 also walks
 * whole pools and spans to check their invariants (*_is_valid). */
#ifndef PM_DEBUG
#define PM_DEBUG 0
#endif
#define PM_STR2(x) #x
#define PM_STR(x) PM_STR2(x)
#if PM_DEBUG > 0
#define pm_assert(expr)                                                                     \
    ((expr) ? (void)0 : _pm_fatal("assertion failed: " #expr " at " __FILE__ ":" PM_STR(__LINE__)))
#else
#define pm_assert(expr) ((void)0)
#endif

/* Strict mode (CMake option POOLMALLOC_STRICT, the poolmalloc-strict test
 * library): the process runs in slow mode; every block that is freed is
 * filled with PM_FREE_JUNK except its link word, and the filling is checked
 * when the block is handed out again (a write after free aborts); new
 * blocks are filled with PM_ALLOC_JUNK; freed large blocks are unmapped at
 * once, so that touching one faults.  Costly; for finding bugs. */
#ifndef PM_STRICT
#define PM_STRICT 0
#endif
#define PM_ALLOC_JUNK 0xaa
#define PM_FREE_JUNK 0x55

/* ---- the process words (process.c) ----------------------------------------- */

/* Slow mode.  The inline fast paths (pools/pools.h) do no bookkeeping
 * beyond the free lists.  Anything else done per call -- per-class
 * statistics, valgrind client requests, strict checking -- puts the
 * process in slow mode: _pm_slow is non-zero, every thread's fast-path
 * route is off, and malloc and free of every size go through the
 * out-of-line paths, which call the hooks in pools/slow.c.  The fast paths
 * therefore test no flag at all.  Bits: */
#define PM_SLOW_STATS 1u    /* PM_OPTION_STATS: per-class counters (can change at run time) */
#define PM_SLOW_VALGRIND 2u /* running under valgrind: client requests (set once, at start-up) */
#define PM_SLOW_STRICT 4u   /* POOLMALLOC_STRICT build: fill freed blocks, check them on reuse */
PM_INTERNAL extern unsigned _pm_slow;

/* The keys of safe linking (pools/pools.h, pm_block_s; arenas/meta.c),
 * random, set once at start-up before any block is freed: the secret xor-ed
 * into links and record pointers, and an odd multiplier with its inverse
 * mod 2^64, which spread a change to any byte of a link over the whole
 * decoded word.  Together, so that the fast paths find them in one line. */
typedef struct pm_keys_s {
    uintptr_t secret;   /* random */
    uintptr_t mul;      /* random, odd */
    uintptr_t unmul;    /* mul * unmul == 1 (mod 2^64) */
    uintptr_t tag;      /* random, apart from the others, odd, top byte
                           PM_TC_MARK_TOP: the mark of a block in a thread
                           cache (pools/pools.h, pm_tc_tag) */
} pm_keys_t;
/* The top byte of every thread-cache mark (addresses are below 2^48, so it
 * is the key's): fixed, so that free tests one byte against a constant. */
#define PM_TC_MARK_TOP 0xa5
PM_INTERNAL extern pm_keys_t _pm_keys;
#define _pm_secret (_pm_keys.secret)

/* Minimum alignment (POOLMALLOC_MIN_ALIGN): 0, or 8 when every malloc of
 * more than 8 bytes must be 16-aligned.  malloc ors it into size - 1 before
 * taking the class (pools/pools.h, pm_request_class): the class index
 * becomes odd, so the block size is a multiple of 16, and blocks of such
 * classes are 16-aligned.  One instruction on the fast path. */
PM_INTERNAL extern uintptr_t _pm_align_or;

/* Sets the secret, reads the options and finds valgrind: the part of
 * process start-up below the allocator (pools/lifecycle.c calls it once,
 * first).  Never allocates; keeps errno. */
PM_INTERNAL void _pm_base_init(void);

/* ---- process-wide counters (process.c) --------------------------------------
 * One list, X(name, group, key, what), in the order the report prints
 * them: it generates the structure below, and pools/stats.c's copy into
 * the public pm_stats_t (a field of the same name each) and the report's
 * counter lines, text ("poolmalloc: group: key=N ...") and JSON ("group":
 * {"key": N, ...}, '-' written '_').  Written with relaxed atomics on slow
 * paths only. */
#define PM_GLOBAL_COUNTERS(X)                                                                \
    X(arenas_mapped, arenas, "mapped", "arenas obtained from the OS, ever")                 \
    X(arenas_released, arenas, "released", "arenas given back to the OS, ever")             \
    X(arenas_live, arenas, "live", "arenas mapped now (in use or in reserve)")              \
    X(arenas_reserved, arenas, "reserved", "empty arenas kept for reuse now")               \
    X(pools_live, arenas, "pools-live", "pools carved from arenas and not returned")        \
    X(spans_live, arenas, "spans-live", "medium spans carved and not returned")             \
    X(span_pages_live, arenas, "span-pages-live", "pages of the live spans")                \
    X(large_allocs, large, "allocs", "large allocations served")                            \
    X(large_frees, large, "frees", "large allocations freed")                               \
    X(large_hits, large, "hits", "large allocations served from the cache")                 \
    X(large_misses, large, "misses", "large allocations that had to map")                   \
    X(large_live_bytes, large, "live-bytes", "bytes mapped for live large allocations")     \
    X(large_cached_bytes, large, "cached-bytes", "bytes held in the cache of freed mappings") \
    X(large_cached_count, large, "cached", "mappings held in that cache")                   \
    X(large_released, large, "released", "large mappings returned to the OS, ever")         \
    X(heaps_live, heaps, "live", "thread heaps owned by a running thread")                  \
    X(heaps_abandoned, heaps, "abandoned", "heaps of exited threads, waiting for adoption") \
    X(meta_bytes, records, "bytes", "bytes mapped for allocator records (arenas/meta.c)")

/* pools_live, spans_live and span_pages_live stay 0 here: each heap keeps
 * its own (pools/pools.h, pm_heap_s), and pm_stats_get adds them up. */
typedef struct pm_global_counters_s {
#define PM_COUNTER_FIELD(name, group, key, what) _Atomic uint64_t name;
    PM_GLOBAL_COUNTERS(PM_COUNTER_FIELD)
#undef PM_COUNTER_FIELD
} pm_global_counters_t;
PM_INTERNAL extern pm_global_counters_t _pm_counters;

/* ---- options (options.c) ----------------------------------------------------
 * One descriptor table (default, range, variable); _pm_option_values[i]
 * starts at the default and is read from POOLMALLOC_<NAME> by
 * _pm_options_init.  _pm_option_store validates and applies a value
 * (0 or EINVAL): the words above follow their options. */
PM_INTERNAL extern long _pm_option_values[PM_OPTION_COUNT];
#define PM_STATS_FILE_MAX 1024
PM_INTERNAL extern char _pm_stats_file[PM_STATS_FILE_MAX]; /* POOLMALLOC_STATS_FILE, absolute, or "" */
PM_INTERNAL void _pm_options_init(void);
PM_INTERNAL int _pm_option_store(int option, long value);

/* ---- messages (msg.c) ---------------------------------------------------------
 * One builder for every line poolmalloc writes (fatal reports, option
 * warnings, the statistics in text, JSON and XML): on the stack, no
 * allocation.  A zeroed pm_msg_t builds one line, truncated rather than
 * overflowed; a streaming one (pm_msg_stream) hands its buffer to a file
 * descriptor, or to a sink, whenever it fills, for output of any length. */
typedef void (*pm_sink_fn)(void *arg, const char *buf, size_t len);
typedef struct pm_msg_s {
    bool streaming;     /* flush when full (else truncate) */
    int fd;             /* streaming without a sink: written here */
    pm_sink_fn sink;    /* else handed here */
    void *arg;
    size_t n;           /* bytes in buf */
    char buf[512];
} pm_msg_t;
PM_INTERNAL void pm_msg_stream(pm_msg_t *m, int fd, pm_sink_fn sink, void *arg);
PM_INTERNAL void pm_msg_str(pm_msg_t *m, const char *s);
PM_INTERNAL void pm_msg_ptr(pm_msg_t *m, const void *p);         /* 0x... */
PM_INTERNAL void pm_msg_u64(pm_msg_t *m, uint64_t v);            /* decimal */
PM_INTERNAL void pm_msg_u64w(pm_msg_t *m, uint64_t v, int width); /* right-aligned */
PM_INTERNAL void pm_msg_bytes(pm_msg_t *m, uint64_t v);          /* 1.5 MiB */
PM_INTERNAL void pm_msg_bytesw(pm_msg_t *m, uint64_t v, int width); /* right-aligned */
PM_INTERNAL void pm_msg_flush(pm_msg_t *m, int fd);              /* write to fd, empty */
PM_INTERNAL void pm_msg_out(pm_msg_t *m);                        /* streaming: flush */
PM_INTERNAL void pm_msg_pad(pm_msg_t *m, const char *s, int width, bool right); /* padded */

/* A fatal report: "poolmalloc: <msg>" on stderr, then abort. */
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_fatal(const char *msg);
/* Misuse and corruption: one line on stderr, then abort.
 * "<call>(): <what> 0x<pointer>" */
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_fatal_ptr(const char *call,
                                                               const char *what, const void *p);
/* "malloc(): <what> 0x<where> (<which> 0x<block>[ <after>])" */
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_fatal_link2(const char *what, const void *where,
                                                                 const char *which,
                                                                 const void *block,
                                                                 const char *after);
/* "malloc(): <what> 0x<where> (link in block 0x<block>)" */
__attribute__((noreturn, cold)) PM_INTERNAL void _pm_fatal_link(const char *what, const void *where,
                                                                const void *block);
/* Safe unlinking (glibc's check): before node leaves a doubly linked list,
 * its neighbours must point back at it (head_slot: the list's head, where
 * the first node's prev is NULL).  Allocator state is out of the program's
 * reach (arenas/arenas.h), but a write that got there anyway must not be
 * followed: a changed link ends in the one-line report instead of a write
 * where the writer chose. */
#define PM_UNLINK_CHECK(node, head_slot, what)                                                 \
    do {                                                                                       \
        if (pm_unlikely(((node)->prev ? (node)->prev->next : (head_slot)) != (node) ||        \
                        ((node)->next && (node)->next->prev != (node))))                       \
            _pm_fatal_ptr("malloc", "corrupted " what " at", (node));                         \
    } while (0)

/* "double free" when call is free, else "pointer already freed". */
PM_INTERNAL const char *_pm_freed_word(const char *call);

#endif
