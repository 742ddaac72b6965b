/* The flat page map (arenas.h, "the flat map"; pagemap.c).
 *
 * By default, on x86-64, start-up reserves the flat array, and the window
 * it covers holds the process's mappings: every block malloc hands out
 * takes free's fast lookup, which reads the entry the slow lookup reads.
 * Entries set at the window's first and last pages read back through both
 * lookups; pages just outside it go to the two-level map (a leaf is
 * published) and are not taken by the fast test, nor is a misaligned
 * pointer; a run of pages across the window's edge lands half in each map
 * and reads back whole.
 * Then the same program again, in children that must get the two-level map
 * alone: POOLMALLOC_FLAT_PAGEMAP=0, and an address-space limit (ulimit -v)
 * under which the 32 GiB reservation fails.  There the fast test takes no
 * pointer but NULL, and a mixed workload (small, medium and large blocks,
 * realloc, free(NULL)) keeps its contents. */
#include "pm_test.h"
#include "pools/pools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define WINDOW ((uintptr_t)1 << PM_FLAT_WINDOW_BITS)

/* Blocks of every path, filled, checked, freed; realloc in between. */
static void workload(void)
{
    static const size_t sizes[] = {8, 24, 100, 512, 600, 4000, 16384, 20000, 300000};
    enum { N = sizeof sizes / sizeof sizes[0], ROUNDS = 200 };
    char *b[N];
    int bad = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) {
            b[i] = pm_malloc(sizes[i]);
            if (!b[i]) {
                bad++;
                continue;
            }
            memset(b[i], r + i, sizes[i]);
        }
        for (int i = 0; i < N; i++) {
            if (!b[i])
                continue;
            char *q = pm_realloc(b[i], sizes[i] + 8);
            if (!q) {
                bad++;
                pm_free(b[i]);
                continue;
            }
            for (size_t k = 0; k < sizes[i]; k += 97)
                bad += q[k] != (char)(r + i);
            pm_free(q);
        }
        pm_free(NULL);
    }
    CHECK("blocks of every size keep their contents", bad == 0);
}

static void flat_checks(void)
{
    void *flat;
    size_t bytes;
    pm_free(pm_malloc(1));   /* start-up */
    CHECK("the flat map is made", _pm_pagemap_flat_range(&flat, &bytes));
    CHECK("32 GiB of entries", bytes == (WINDOW >> PM_PAGE_SHIFT) * sizeof(uintptr_t));
    uintptr_t lo = _pm_pagemap_fast.lo;
    CHECK("the window holds the array", (uintptr_t)flat - lo < WINDOW);

    /* Blocks handed out take the fast lookup, which agrees with the slow. */
    static const size_t sizes[] = {16, 512, 4096, 16384, 100000};
    int agree = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = pm_malloc(sizes[i]);
        agree += p && pm_pagemap_fast_takes(p) && pm_pagemap_fast_get(p) == pm_pagemap_get(p) &&
                 pm_pagemap_get(p) != 0 && !pm_pagemap_fast_takes(p + 1);
        pm_free(p);
    }
    CHECK("blocks take the fast lookup", agree == (int)(sizeof sizes / sizeof sizes[0]));

    /* The window's edges, inside and out. */
    const uintptr_t inside[] = {lo == 0 ? PM_PAGE_SIZE * 16 : lo, lo + WINDOW - PM_PAGE_SIZE};
    for (int k = 0; k < 2; k++) {
        const char *pg = (const char *)inside[k];
        uintptr_t v = ((uintptr_t)0x4560 + 0x40 * k) | PM_PAGE_LARGE;
        CHECK("set inside", _pm_pagemap_set(pg, 1, v) == 0);
        CHECK("fast test takes it", pm_pagemap_fast_takes(pg + 8));
        CHECK("both lookups read it", pm_pagemap_fast_get(pg + 8) == v && pm_pagemap_get(pg + 100) == v);
        _pm_pagemap_set(pg, 1, 0);
        CHECK("cleared inside", pm_pagemap_get(pg) == 0);
    }
    uintptr_t outside[2] = {lo + WINDOW, lo - PM_PAGE_SIZE};
    for (int k = 0; k < (lo ? 2 : 1); k++) {
        const char *pg = (const char *)outside[k];
        uintptr_t v = ((uintptr_t)0x7890 + 0x40 * k) | PM_PAGE_LARGE;
        CHECK("set outside", _pm_pagemap_set(pg, 1, v) == 0);
        CHECK("fast test refuses it", !pm_pagemap_fast_takes(pg));
        CHECK("the slow lookup reads it", pm_pagemap_get(pg + 8) == v);
        CHECK("a leaf holds it",
              _pm_pagemap_leaf_at(outside[k] >> (PM_PAGE_SHIFT + PM_PAGEMAP_LEAF_BITS)) != NULL);
        _pm_pagemap_set(pg, 1, 0);
        CHECK("cleared outside", pm_pagemap_get(pg) == 0);
    }
    /* Four pages across the top edge, stepped values. */
    const char *run = (const char *)(lo + WINDOW - 2 * PM_PAGE_SIZE);
    CHECK("set across the edge", _pm_pagemap_set_step(run, 4, 0x1000 | PM_PAGE_SPAN, 0x100) == 0);
    int ok = 0;
    for (int i = 0; i < 4; i++)
        ok += pm_pagemap_get(run + i * PM_PAGE_SIZE) == ((0x1000 + 0x100 * (uintptr_t)i) | PM_PAGE_SPAN);
    CHECK("the run reads back on both sides", ok == 4);
    _pm_pagemap_set(run, 4, 0);
    CHECK("the run is cleared", pm_pagemap_get(run) == 0 && pm_pagemap_get(run + 3 * PM_PAGE_SIZE) == 0);
}

/* In a child: the two-level map alone. */
static int two_level_child(void)
{
    void *flat;
    size_t bytes;
    pm_free(pm_malloc(1));   /* start-up */
    CHECK("no flat map", !_pm_pagemap_flat_range(&flat, &bytes));
    char *p = pm_malloc(64);
    CHECK("the fast test takes no block", p && !pm_pagemap_fast_takes(p) && pm_pagemap_get(p) != 0);
    CHECK("but NULL, reading no entry", pm_pagemap_fast_takes(NULL) && pm_pagemap_fast_get(NULL) == 0);
    pm_free(p);
    workload();
    return pm_test_finish();
}

static void run_child(const char *self, const char *how)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (strcmp(how, "option") == 0) {
            setenv("POOLMALLOC_FLAT_PAGEMAP", "0", 1);
        } else {
            struct rlimit lim = {(rlim_t)8 << 30, (rlim_t)8 << 30};   /* ulimit -v 8 GiB */
            if (setrlimit(RLIMIT_AS, &lim) != 0)
                _exit(2);
        }
        execl(self, self, "--two-level", (char *)NULL);
        _exit(2);
    }
    int status;
    waitpid(pid, &status, 0);
    char name[64];
    snprintf(name, sizeof name, "two-level map (%s) passes", how);
    CHECK(name, WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--two-level") == 0)
        return two_level_child();
#if defined(__x86_64__)
    flat_checks();
#endif
    workload();
    run_child(argv[0], "option");
    run_child(argv[0], "rlimit");
    return pm_test_finish();
}
