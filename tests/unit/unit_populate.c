/* Pool pages faulted in ahead (arenas/arena.c, pool_pages_populate): a
 * heap that grows takes each pool from a fresh arena's clean pages with
 * up to 15 clean free pages after it, made resident in one madvise; a
 * small heap takes none ahead; no more than 15 wait untaken in all; and the
 * pages made resident ahead are no longer clean, so that the page pass
 * gives them back if they stay free.
 * Residency is read with mincore; the arena's own record (pm_arena_t, in
 * its slot 1) says which pages are in use and which are clean.  Where the
 * kernel has no MADV_POPULATE_WRITE (before 5.14) nothing is made ahead,
 * and the checks that need it say so and are skipped.  With
 * POOLMALLOC_ARENA_POPULATE=0, nothing is made ahead. */
#include "pm_test.h"
#include "pools/pools.h"
#include <errno.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static pm_arena_t *arena_at(const void *p)
{
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(PM_ARENA_SIZE - 1);
    return (pm_arena_t *)(base + PM_ARENA_SLOT);   /* slot 1 (arenas.h) */
}

/* Pages of p's arena that are resident and free (not in use). */
static unsigned resident_free(const void *p, uint64_t *which)
{
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(PM_ARENA_SIZE - 1);
    unsigned char vec[PM_ARENA_PAGES];
    if (mincore((void *)base, PM_ARENA_SIZE, vec) != 0)
        return 0;
    uint64_t res = 0;
    for (unsigned i = 0; i < PM_ARENA_PAGES; i++)
        res |= (uint64_t)(vec[i] & 1) << i;
    uint64_t rf = res & arena_at(p)->free_pages;
    if (which)
        *which = rf;
    return (unsigned)__builtin_popcountll(rf);
}

static bool kernel_populates(void)
{
    void *m = mmap(NULL, 4 * PM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return false;
    bool ok = madvise(m, 4 * PM_PAGE_SIZE, MADV_POPULATE_WRITE) == 0;
    munmap(m, 4 * PM_PAGE_SIZE);
    return ok;
}

#define SMALL_N 200        /* 200 blocks of 64 bytes: 4 pools */
#define GROW_N 100000      /* 100,000 of 96: 2,381 pools, ~9.3 MiB */

#define OFF_N 40000        /* 40,000 of 200: 2,000 pools */

static char *small_blocks[SMALL_N], *grow_blocks[GROW_N], *off_blocks[OFF_N];

/* The arenas the growing heap used (about 40). */
static uintptr_t grown[1024];
static unsigned ngrown;
static bool seen(uintptr_t arena)
{
    for (unsigned i = 0; i < ngrown; i++)
        if (grown[i] == arena)
            return true;
    return false;
}

int main(void)
{
    /* Plain arenas throughout: a huge-page chunk's (past POOLMALLOC_ARENA_THP,
     * unit_arena_thp) are resident whole once written, and none of their
     * pages counts as clean. */
    CHECK("arena THP option", pm_option_set(PM_OPTION_ARENA_THP, 0) == 0);
    bool populates = kernel_populates();
    if (!populates)
        printf("  the kernel has no MADV_POPULATE_WRITE: nothing is made ahead\n");

    /* A small heap: a few pools, nothing resident ahead of them. */
    for (int i = 0; i < SMALL_N; i++) {
        small_blocks[i] = pm_malloc(64);
        small_blocks[i][0] = 1;
    }
    unsigned small_ahead = resident_free(small_blocks[SMALL_N - 1], NULL);
    CHECK("a small heap makes no pages resident ahead", small_ahead == 0);

    /* A growing heap: the frontier arena has pages resident ahead. */
    unsigned most_ahead = 0, arenas_ahead = 0;
    uintptr_t last_arena = 0;
    bool clean_ahead = false;
    for (int i = 0; i < GROW_N; i++) {
        grow_blocks[i] = pm_malloc(96);
        memset(grow_blocks[i], 2, 96);
        uintptr_t a = (uintptr_t)grow_blocks[i] & ~(uintptr_t)(PM_ARENA_SIZE - 1);
        if (a != last_arena) {   /* the heap moved to another arena: look at it */
            uint64_t which;
            unsigned n = resident_free(grow_blocks[i], &which);
            most_ahead = n > most_ahead ? n : most_ahead;
            arenas_ahead += n > 0;
            clean_ahead |= (which & arena_at(grow_blocks[i])->clean_pages) != 0;
            last_arena = a;
        }
    }
    /* Over all the arenas the heap grew into: pages wait ahead in one at
     * most, 15 at most (the set's ahead_pages). */
    unsigned waiting = 0;
    last_arena = 0;
    for (int i = 0; i < GROW_N; i++) {
        uintptr_t a = (uintptr_t)grow_blocks[i] & ~(uintptr_t)(PM_ARENA_SIZE - 1);
        if (a != last_arena && !seen(a)) {
            waiting += resident_free(grow_blocks[i], NULL);
            if (ngrown < sizeof grown / sizeof grown[0])
                grown[ngrown++] = a;
        }
        last_arena = a;
    }
    CHECK("  no more than 15 wait in all", waiting <= 15);
    uint64_t which;
    unsigned frontier = resident_free(grow_blocks[GROW_N - 1], &which);
    clean_ahead |= (which & arena_at(grow_blocks[GROW_N - 1])->clean_pages) != 0;
    if (populates) {
        CHECK("a growing heap's arenas have pages resident ahead", arenas_ahead > 10);
        CHECK("  no more than 15 in an arena", most_ahead <= 15 && frontier <= 15);
    }
    CHECK("pages resident ahead are not marked clean (the page pass can give them back)",
          !clean_ahead);
    if (getenv("PM_TEST_VERBOSE"))
        printf("  arenas with pages ahead %u, most %u, frontier %u\n", arenas_ahead, most_ahead,
               frontier);

    /* POOLMALLOC_ARENA_POPULATE=0: the heap grows on (another class, new
     * arenas) with nothing ahead; the arenas it grew into before, where
     * pages made ahead may still wait, are left out. */
    CHECK("option: 15 by default", pm_option_get(PM_OPTION_ARENA_POPULATE) == 15);
    CHECK("option: 0 taken", pm_option_set(PM_OPTION_ARENA_POPULATE, 0) == 0);
    CHECK("option: 62 refused", pm_option_set(PM_OPTION_ARENA_POPULATE, 62) == EINVAL);
    unsigned off_ahead = 0, off_arenas = 0;
    last_arena = 0;
    for (int i = 0; i < OFF_N; i++) {
        off_blocks[i] = pm_malloc(200);
        memset(off_blocks[i], 3, 200);
        uintptr_t a = (uintptr_t)off_blocks[i] & ~(uintptr_t)(PM_ARENA_SIZE - 1);
        if (a != last_arena && !seen(a)) {
            off_ahead += resident_free(off_blocks[i], NULL);
            off_arenas++;
        }
        last_arena = a;
    }
    CHECK("with 0, nothing ahead", off_arenas > 10 && off_ahead == 0);
    for (int i = 0; i < OFF_N; i++)
        pm_free(off_blocks[i]);
    pm_option_set(PM_OPTION_ARENA_POPULATE, 15);

    /* Every block reads what was written (pages made ahead are plain
     * zero-filled memory, then the program's). */
    bool intact = true;
    for (int i = 0; i < GROW_N; i++)
        intact &= grow_blocks[i][0] == 2 && grow_blocks[i][95] == 2;
    CHECK("the blocks hold their contents", intact);
    for (int i = 0; i < GROW_N; i++)
        pm_free(grow_blocks[i]);
    for (int i = 0; i < SMALL_N; i++)
        pm_free(small_blocks[i]);
    return pm_test_finish();
}
