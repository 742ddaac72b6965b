/* fault_inject.c -- out of memory at every mmap and mremap poolmalloc makes.
 *
 * Links the core built with -DPM_FAULT_INJECTION (the OS-layer hook declared
 * at the end of base/os.h) and the prefixed API: nothing is interposed.
 *
 * A deterministic workload (workload() below) calls every entry point and so
 * reaches every place that maps memory: the first heap (heap.c, its chunk of
 * heap structs), page-map leaves (pagemap.c), arenas (arena.c, the aligned
 * path with its second mmap), pools and spans taken from new arenas
 * (pool.c, span.c), large mappings (large.c) plain and over-aligned, the
 * large cache, large realloc growing and shrinking by mremap, a realloc that
 * moves a mapping to a part of the address space with no page-map leaf yet
 * (1.5 GiB, never touched but for two pages), and a second thread whose heap
 * is handed over at its exit and adopted by a third.
 *
 * Sweep: for n = 1, 2, ... a child process (fork: every run starts from a
 * fresh allocator, so first-use paths fail too) runs the workload with the
 * n-th OS call failing, in two modes: "once" (only that call: the allocator
 * must recover on the next) and "sticky" (that call and every later one:
 * memory stays exhausted).  The child checks:
 *   - every allocation that returns NULL does so with errno ENOMEM
 *     (posix_memalign: returns ENOMEM), and only when an injected failure
 *     happened during that very call;
 *   - a failed realloc leaves the old block intact; every block holds its
 *     contents until it is freed; alignment and usable size hold;
 *   - with injection off, the same workload then runs with no failure at all;
 *   - once everything is freed and pm_malloc_trim(0) has run, no arena, pool,
 *     span or large mapping is left (pm_stats_get), and the only mappings the
 *     OS layer still records are page-map leaves, the flat page map and the
 *     heap chunk: no leak.
 * ctest runs it twice: with the flat page map (arenas.h; made at start-up,
 * before any injection) and without it (POOLMALLOC_FLAT_PAGEMAP=0), where
 * every entry lives in the two-level map and its leaves are made under
 * injection too.
 * A crash in the child is reported with the n and mode that caused it.  The
 * sweep of a mode ends at the first n that the workload never reached.
 *
 * usage: fault_inject [MAX_N=2000]   (exit 0: all good)
 *        fault_inject --run N once|sticky   (one run, in this process: exit 0
 *        good, 1 bad, 3 call N was never reached) */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_test.h"
#include "pools/pools.h"

#define SLOTS 6000
#define HUGE_SIZE ((size_t)3 << 29) /* 1.5 GiB, address space only */

typedef struct {
    unsigned char *p;
    size_t size;
    size_t align;
    unsigned seed;
} slot_t;

static slot_t slots[SLOTS];
static unsigned seed_next = 1;
static long nulls;      /* allocations that failed, all of them legitimately */
static long bad;        /* check failures (also counted by CHECK) */

/* ---- contents ---- */
static unsigned char pat(unsigned seed, size_t i)
{
    return (unsigned char)(seed * 37u + i * 11u + (i >> 8) + 1u);
}

/* Fills (or checks) the block; big blocks only at both ends and once per
 * page, so that a 1.5 GiB block costs nothing. */
static void fill(unsigned char *p, size_t n, unsigned seed)
{
    if (n <= 8192) {
        for (size_t i = 0; i < n; i++)
            p[i] = pat(seed, i);
        return;
    }
    for (size_t i = 0; i < 4096; i++)
        p[i] = pat(seed, i);
    for (size_t i = n - 4096; i < n; i++)
        p[i] = pat(seed, i);
    if (n <= 64u << 20)
        for (size_t i = 4096; i < n - 4096; i += 4096)
            p[i] = pat(seed, i);
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    if (n <= 8192) {
        for (size_t i = 0; i < n; i++)
            if (p[i] != pat(seed, i))
                return 0;
        return 1;
    }
    for (size_t i = 0; i < 4096; i++)
        if (p[i] != pat(seed, i))
            return 0;
    for (size_t i = n - 4096; i < n; i++)
        if (p[i] != pat(seed, i))
            return 0;
    if (n <= 64u << 20)
        for (size_t i = 4096; i < n - 4096; i += 4096)
            if (p[i] != pat(seed, i))
                return 0;
    return 1;
}

/* First `n` bytes of a block filled for `old` bytes, after a realloc. */
static int prefix_intact(const unsigned char *p, size_t old, size_t n, unsigned seed)
{
    if (old <= 8192) {
        for (size_t i = 0; i < n && i < old; i++)
            if (p[i] != pat(seed, i))
                return 0;
        return 1;
    }
    size_t lim = n < 4096 ? n : 4096;
    for (size_t i = 0; i < lim; i++)
        if (p[i] != pat(seed, i))
            return 0;
    return 1;
}

#define FAIL(...)                                                                          \
    do {                                                                                   \
        fprintf(stderr, "FAIL: " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                               \
        bad++;                                                                             \
    } while (0)

/* ---- results of one call ---- */
typedef struct {
    uint64_t failed_before;
    int err;
} call_t;

static call_t call_begin(void)
{
    call_t c = {_pm_os_fault_failed(), 0};
    errno = 0;
    return c;
}

/* A NULL result: legitimate only as ENOMEM, and only if an injected failure
 * happened during the call. */
static void check_null(call_t c, int err, const char *what, size_t size)
{
    nulls++;
    if (err != ENOMEM)
        FAIL("%s(%zu) = NULL with errno %d, not ENOMEM", what, size, err);
    if (_pm_os_fault_failed() == c.failed_before)
        FAIL("%s(%zu) = NULL but no OS call failed", what, size);
}

/* Stores a fresh block in slot i (which must be empty) after checking it. */
static void keep(int i, void *p, size_t size, size_t align, int zeroed, const char *what)
{
    unsigned char *b = p;
    if (align && ((uintptr_t)b & (align - 1)))
        FAIL("%s(%zu, align %zu) = %p misaligned", what, size, align, p);
    if (((uintptr_t)b & 7))
        FAIL("%s(%zu) = %p not 8-aligned", what, size, p);
    if (pm_malloc_usable_size(b) < size)
        FAIL("%s(%zu): usable size %zu", what, size, pm_malloc_usable_size(b));
    if (zeroed) {
        size_t lim = size < 65536 ? size : 65536;
        for (size_t k = 0; k < lim; k++)
            if (b[k]) {
                FAIL("%s(%zu): byte %zu not zero", what, size, k);
                break;
            }
    }
    slots[i].p = b;
    slots[i].size = size;
    slots[i].align = align;
    slots[i].seed = seed_next++;
    fill(b, size, slots[i].seed);
}

static void drop(int i)
{
    if (!slots[i].p)
        return;
    if (!intact(slots[i].p, slots[i].size, slots[i].seed))
        FAIL("slot %d (%zu bytes at %p) corrupted before free", i, slots[i].size,
             (void *)slots[i].p);
    pm_free(slots[i].p);
    slots[i].p = NULL;
}

/* ---- the entry points, each checked ---- */
static void do_malloc(int i, size_t size)
{
    call_t c = call_begin();
    void *p = pm_malloc(size);
    if (!p)
        check_null(c, errno, "malloc", size);
    else
        keep(i, p, size, 0, 0, "malloc");
}

static void do_calloc(int i, size_t n, size_t size)
{
    call_t c = call_begin();
    void *p = pm_calloc(n, size);
    if (!p)
        check_null(c, errno, "calloc", n * size);
    else
        keep(i, p, n * size, 0, 1, "calloc");
}

static void do_aligned(int i, int how, size_t align, size_t size)
{
    call_t c = call_begin();
    void *p = NULL;
    const char *what = "?";
    int err;
    switch (how) {
    case 0:
        what = "aligned_alloc";
        p = pm_aligned_alloc(align, size);
        err = errno;
        break;
    case 1:
        what = "memalign";
        p = pm_memalign(align, size);
        err = errno;
        break;
    case 2: {
        what = "posix_memalign";
        int saved = errno = 12345;
        err = pm_posix_memalign(&p, align, size);
        /* glibc: errno kept, but ENOMEM when out of memory */
        if (err != ENOMEM && errno != saved)
            FAIL("posix_memalign changed errno on success");
        if (err == ENOMEM && errno != ENOMEM)
            FAIL("posix_memalign failed with %d but left errno %d", err, errno);
        if (err)
            p = NULL;
        else if (!p)
            FAIL("posix_memalign returned 0 and NULL");
        break;
    }
    case 3:
        what = "valloc";
        align = 4096;
        p = pm_valloc(size);
        err = errno;
        break;
    default:
        what = "pvalloc";
        align = 4096;
        p = pm_pvalloc(size);
        err = errno;
        size = (size + 4095) & ~(size_t)4095;
        break;
    }
    if (!p)
        check_null(c, err, what, size);
    else
        keep(i, p, size, align, 0, what);
}

/* realloc of slot i to `size`: contents kept, the old block intact on
 * failure. */
static void do_realloc(int i, size_t size, int array)
{
    slot_t *s = &slots[i];
    if (array)
        size &= ~(size_t)7;     /* reallocarray(p, size / 8, 8) */
    call_t c = call_begin();
    unsigned char *q = array ? pm_reallocarray(s->p, size / 8, 8) : pm_realloc(s->p, size);
    int err = errno;
    if (!q) {
        if (size == 0) {            /* realloc(p, 0) frees p */
            s->p = NULL;
            return;
        }
        check_null(c, err, array ? "reallocarray" : "realloc", size);
        if (s->p && !intact(s->p, s->size, s->seed))
            FAIL("failed realloc(%zu -> %zu) damaged the block", s->size, size);
        return;
    }
    if (s->p && !prefix_intact(q, s->size, size, s->seed))
        FAIL("realloc(%zu -> %zu) lost the contents", s->size, size);
    s->p = NULL;
    keep(i, q, size, 0, 0, "realloc");
}

/* ---- the workload ---- */
static unsigned long long rng;

static size_t small_size(void) { return pm_test_rand(&rng) % 513; }
static size_t medium_size(void) { return 513 + pm_test_rand(&rng) % (16384 - 512); }
static size_t large_size(void) { return 16385 + pm_test_rand(&rng) % (256u << 10); }

static void *thread_remote(void *arg)
{
    int from = (int)(intptr_t)arg;
    /* Frees blocks of the main thread (remote frees) and allocates its own,
     * left in the slots for the main thread to free after this thread has
     * exited (frees into an abandoned heap). */
    for (int i = from; i < from + 400; i++)
        drop(i);
    for (int i = from; i < from + 200; i++)
        do_malloc(i, small_size());
    for (int i = from + 200; i < from + 260; i++)
        do_malloc(i, medium_size());
    return NULL;
}

static void run_thread(int from)
{
    pthread_t t;
    if (pthread_create(&t, NULL, thread_remote, (void *)(intptr_t)from) != 0) {
        FAIL("pthread_create");
        return;
    }
    pthread_join(t, NULL);
}

static size_t huge_leaves_added; /* by the 1.5 GiB realloc, in the last workload */

static size_t count_leaves(void)
{
    size_t n = 0;
    for (size_t r = 0; r < ((size_t)1 << PM_PAGEMAP_ROOT_BITS); r++)
        n += _pm_pagemap_leaf_at(r) != NULL;
    return n;
}

static void workload(void)
{
    rng = 42;
    /* 1. first use: the heap, the first arena, the first page-map leaf */
    do_malloc(0, 24);
    /* 2. small blocks, some zeroed: several arenas */
    for (int i = 1; i < 3000; i++) {
        if (i % 7 == 0)
            do_calloc(i, 1 + pm_test_rand(&rng) % 16, small_size() / 16 + 1);
        else
            do_malloc(i, small_size());
    }
    for (int i = 1; i < 3000; i += 3)
        drop(i);
    /* 3. medium blocks: spans */
    for (int i = 3000; i < 3300; i++) {
        if (i % 5 == 0)
            do_calloc(i, 1, medium_size());
        else
            do_malloc(i, medium_size());
    }
    /* 4. large blocks; half freed into the cache, then reused */
    for (int i = 3300; i < 3324; i++) {
        if (i % 4 == 0)
            do_calloc(i, 2, large_size() / 2);
        else
            do_malloc(i, large_size());
    }
    for (int i = 3300; i < 3324; i += 2)
        drop(i);
    for (int i = 3300; i < 3324; i += 2)
        do_malloc(i, large_size());
    /* 5. aligned allocation, every function, small to large */
    static const size_t aligns[] = {16, 64, 128, 256, 4096, 8192, 65536};
    static const size_t asizes[] = {1, 100, 600, 5000, 20000};
    int i = 3400;
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
        for (size_t k = 0; k < sizeof asizes / sizeof asizes[0]; k++)
            for (int how = 0; how < 3; how++)
                do_aligned(i++, how, aligns[a], asizes[k]);
    do_aligned(i++, 3, 0, 100);
    do_aligned(i++, 3, 0, 30000);
    do_aligned(i++, 4, 0, 5000);
    do_aligned(i++, 4, 0, 100000);
    /* 6. realloc chains: small -> medium -> large -> mremap growth -> mremap
     * shrink -> small -> 0, and the same through reallocarray */
    static const size_t chain[] = {100, 1000, 10000, 100000, 3u << 20, 200000, 50, 0};
    for (int r = 0; r < 2; r++) {
        int j = 3600 + r;
        do_malloc(j, 40);
        for (size_t k = 0; k < sizeof chain / sizeof chain[0] && slots[j].p; k++)
            do_realloc(j, chain[k], r);
        drop(j);
    }
    /* over-aligned large block grown: moved, not remapped */
    do_aligned(3610, 0, 65536, 20000);
    if (slots[3610].p)
        do_realloc(3610, 300000, 0);
    /* 7. a mapping moved far away by realloc, where the page map has no leaf */
    do_malloc(3620, 20000);
    if (slots[3620].p) {
        size_t leaves = count_leaves();
        do_realloc(3620, HUGE_SIZE, 0);
        huge_leaves_added = count_leaves() - leaves;
        drop(3620);
    }
    /* 8. mid-way trim, then another thread: remote frees, its heap handed
     * over at exit; then a third thread adopts that heap */
    pm_malloc_trim(0);
    run_thread(1000);
    for (int k = 1000; k < 1100; k++)
        drop(k);                    /* blocks of the exited thread */
    run_thread(2000);
    /* 9. everything back, in a scrambled order */
    for (int k = 0; k < SLOTS; k++)
        drop((int)((unsigned)k * 2654435761u % SLOTS));
    for (int k = 0; k < SLOTS; k++)
        drop(k);
}

/* ---- leak check ---- */
typedef struct {
    long unknown;
    long leaves;
    long meta_chunks;
    long flat;
} maps_t;

static void classify(void *addr, size_t size, void *arg)
{
    maps_t *m = arg;
    size_t leaf_bytes = ((size_t)1 << PM_PAGEMAP_LEAF_BITS) * sizeof(uintptr_t);
    void *flat;
    size_t flat_bytes;
    if (_pm_pagemap_flat_range(&flat, &flat_bytes) && addr == flat && size == flat_bytes) {
        m->flat++;   /* the flat page map, made at start-up, kept for good */
        return;
    }
    for (size_t r = 0; r < ((size_t)1 << PM_PAGEMAP_ROOT_BITS); r++) {
        if ((void *)_pm_pagemap_leaf_at(r) == addr && size == leaf_bytes) {
            m->leaves++;
            return;
        }
    }
    if (_pm_meta_owns(addr)) {   /* allocator records: heaps, large records */
        m->meta_chunks++;
        return;
    }
    m->unknown++;
    fprintf(stderr, "FAIL: leaked mapping %p, %zu bytes\n", addr, size);
}

static void check_nothing_left(const char *when)
{
    pm_malloc_trim(0);
    pm_stats_t s;
    pm_stats_get(&s);
    if (s.arenas_live || s.pools_live || s.spans_live || s.large_live_bytes ||
        s.large_cached_count || s.large_allocs != s.large_frees)
        FAIL("%s: left arenas %llu pools %llu spans %llu large live %llu cached %llu "
             "allocs-frees %lld",
             when, (unsigned long long)s.arenas_live, (unsigned long long)s.pools_live,
             (unsigned long long)s.spans_live, (unsigned long long)s.large_live_bytes,
             (unsigned long long)s.large_cached_count,
             (long long)(s.large_allocs - s.large_frees));
    maps_t m = {0, 0, 0, 0};
    _pm_os_mappings(classify, &m);
    bad += m.unknown;
    if (_pm_os_mapping_errors())
        FAIL("%s: %llu unmaps or remaps of ranges never mapped", when,
             (unsigned long long)_pm_os_mapping_errors());
}

/* ---- one run, in a child ---- */
enum { CHILD_OK = 0, CHILD_BAD = 1, CHILD_NOT_REACHED = 3 };

static int child(uint64_t n, bool sticky)
{
    pm_option_set(PM_OPTION_ARENA_RESERVE, 0);
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 3600 * 1000); /* no time-dependent unmaps */
    _pm_os_fault_set(n, sticky);
    workload();
    void *flat;
    size_t flat_bytes;
    if (n == 0 && huge_leaves_added == 0 && !_pm_pagemap_flat_range(&flat, &flat_bytes))
        FAIL("the 1.5 GiB realloc found its page-map leaf already there: the test no longer "
             "covers a move to an unindexed place");
    uint64_t calls = _pm_os_fault_calls(), failed = _pm_os_fault_failed();
    _pm_os_fault_set(0, false);
    if (bad)
        fprintf(stderr, "  (while injecting: call %llu %s; %llu calls, %llu failed)\n",
                (unsigned long long)n, sticky ? "sticky" : "once", (unsigned long long)calls,
                (unsigned long long)failed);
    check_nothing_left("after the failing run");
    /* Memory is back: the same workload must now succeed entirely. */
    long nulls_before = nulls;
    workload();
    if (nulls != nulls_before)
        FAIL("with injection off, %ld allocations still failed", nulls - nulls_before);
    check_nothing_left("after the clean run");
    if (bad)
        return CHILD_BAD;
    return failed ? CHILD_OK : CHILD_NOT_REACHED;
}

/* Sweeps n = 1, 2, ... in one mode; returns the number of n that failed. */
static int sweep(bool sticky, uint64_t max_n, uint64_t *reached)
{
    int failures = 0;
    uint64_t n;
    for (n = 1; n <= max_n; n++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return failures + 1;
        }
        if (pid == 0)
            _exit(child(n, sticky));
        int status;
        if (waitpid(pid, &status, 0) != pid) {
            perror("waitpid");
            return failures + 1;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_NOT_REACHED)
            break;
        if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK)
            continue;
        failures++;
        if (WIFSIGNALED(status))
            fprintf(stderr, "FAIL: call %llu failing (%s): child killed by signal %d (%s)\n",
                    (unsigned long long)n, sticky ? "sticky" : "once", WTERMSIG(status),
                    strsignal(WTERMSIG(status)));
        else
            fprintf(stderr, "FAIL: call %llu failing (%s): child exit %d\n",
                    (unsigned long long)n, sticky ? "sticky" : "once", WEXITSTATUS(status));
        if (failures == 10) {
            fprintf(stderr, "(10 failures: the rest of this sweep is skipped)\n");
            *reached = n;
            return failures;
        }
    }
    *reached = n - 1;
    if (n > max_n) {
        fprintf(stderr, "FAIL: the workload still reached call %llu (raise MAX_N)\n",
                (unsigned long long)max_n);
        failures++;
    }
    return failures;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--run") == 0) /* one run, in this process */
        return child(strtoull(argv[2], NULL, 10), strcmp(argv[3], "sticky") == 0);
    uint64_t max_n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000;
    /* The reference run: no injection, in a child like the others. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(child(0, false));
    int status;
    waitpid(pid, &status, 0);
    CHECK("the workload passes without injection",
          WIFEXITED(status) && WEXITSTATUS(status) == CHILD_NOT_REACHED);

    for (int mode = 0; mode < 2; mode++) {
        uint64_t reached = 0;
        int failures = sweep(mode == 1, max_n, &reached);
        printf("mode %s: the workload makes %llu mmap/mremap calls; each one failed in turn, "
               "%d runs went wrong\n",
               mode ? "sticky" : "once", (unsigned long long)reached, failures);
        CHECK(mode ? "sticky failures handled" : "single failures handled", failures == 0);
        CHECK("the workload maps memory", reached >= 20);
    }
    return pm_test_finish();
}
