/* POOLMALLOC_ARENA_THP (arenas/arena.c): by default, arenas are plain
 * 256 KiB mappings that do not ask for transparent huge pages until the
 * heap's arenas pass 8 MiB; past that, its new arenas come from 2 MiB
 * chunks, aligned to 2 MiB, that ask for them (VmFlags "hg" in
 * /proc/self/smaps), the next arenas from the same chunk; 0: never, past
 * the bound either; 1: from the first arena.  A chunk's arena counts none
 * of its free pages as clean (they are resident once the chunk is
 * written).  malloc_trim gives back the chunk's arenas never handed out,
 * and every arena once empty, as without huge pages.  The bound is each
 * heap's, not the process's.  Blocks keep their contents throughout.  (Whether the kernel
 * then backs them with huge pages is its business: only the request is
 * checked.) */
#include "pm_test.h"
#include "pools/pools.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK ((uintptr_t)2 << 20)
#define PER_ARENA (62 * 8)           /* 512-byte blocks: 8 a pool, 62 pools an arena */
#define BELOW (PER_ARENA * 4)        /* 4 arenas' worth: 1 MiB */
#define N (PER_ARENA * 36 + PER_ARENA / 2)   /* 36.5 arenas' worth: 9.1 MiB */

static char *blocks[N];
static int thp;   /* the kernel has THP: the requests can be seen */

static int mapped(const void *p)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && (uintptr_t)p >= lo && (uintptr_t)p < hi)
            found = 1;
    }
    if (f)
        fclose(f);
    return found;
}

static void fill(size_t from, size_t to)
{
    size_t failed = 0;
    for (size_t i = from; i < to; i++) {
        blocks[i] = pm_malloc(512);
        if (blocks[i])
            memset(blocks[i], (int)(i & 0xff), 512);
        else
            failed++;
    }
    CHECK("malloc 512", failed == 0);
}

/* Every block checked and freed, then malloc_trim: no arena is left, nor
 * the rest of the chunk of `last` if it came from one. */
static void empty(size_t n, const char *last, int chunked)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char *b = (unsigned char *)blocks[i];
        if (b[0] != (i & 0xff) || b[511] != (i & 0xff)) {
            CHECK("blocks keep their contents", 0);
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        pm_free(blocks[i]);
    pm_malloc_trim(0);
    pm_stats_t s;
    pm_stats_get(&s);
    CHECK("every arena given back", s.arenas_live == 0);
    if (chunked) {
        const char *chunk = (const char *)((uintptr_t)last & ~(CHUNK - 1));
        CHECK("and the rest of the chunk", !mapped(chunk) && !mapped(chunk + CHUNK - 1));
    }
}

/* Whether the arena of p asks for huge pages (-1: cannot tell). */
static int asks(const void *p)
{
    return thp ? pm_test_vma_hugepage(p) : -1;
}

/* The bound is each heap's own: a thread that holds 6 MiB of arenas and
 * exits with its blocks out leaves the process past 8 MiB, and the main
 * heap's next 4 MiB of arenas still do not ask. */
#define OTHER (PER_ARENA * 24)
static char *other[OTHER];

static void *other_heap(void *arg)
{
    for (size_t i = 0; i < OTHER; i++)
        if ((other[i] = pm_malloc(512)))
            other[i][0] = 1;
    return arg;
}

static void per_heap(void)
{
    pthread_t t;
    CHECK("a thread", pthread_create(&t, NULL, other_heap, NULL) == 0 && pthread_join(t, NULL) == 0);
    fill(0, PER_ARENA * 16);
    if (asks(blocks[PER_ARENA * 16 - 1]) >= 0)
        CHECK("another heap's arenas do not count", asks(blocks[PER_ARENA * 16 - 1]) == 0);
    for (size_t i = 0; i < OTHER; i++)
        pm_free(other[i]);
    for (size_t i = 0; i < PER_ARENA * 16; i++)
        pm_free(blocks[i]);
}

int main(void)
{
    pm_malloc_trim(0);
    thp = access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
    CHECK("8 MiB by default", pm_option_get(PM_OPTION_ARENA_THP) == 8L << 20);
    fill(0, BELOW);
    if (asks(blocks[0]) >= 0)
        CHECK("below 8 MiB of arenas, an arena does not ask for huge pages", asks(blocks[0]) == 0);
    fill(BELOW, N);   /* past 8 MiB: the new arenas come from chunks */
    char *last = blocks[N - 1];
    char *chunk = (char *)((uintptr_t)last & ~(CHUNK - 1));
    CHECK("past 8 MiB, a new arena lies in a 2 MiB chunk that is mapped",
          mapped(chunk) && mapped(chunk + CHUNK - 1));
    if (asks(last) >= 0)
        CHECK("and the chunk asks for huge pages", asks(last) == 1 && asks(chunk) == 1);
    if (asks(blocks[0]) >= 0)
        CHECK("the first arenas still do not", asks(blocks[0]) == 0);
    /* Resident once written, so none of its free pages is clean: the page
     * pass gives them back, and none is faulted in ahead for nothing. */
    const pm_arena_t *a = (const pm_arena_t *)(((uintptr_t)last & ~(uintptr_t)(PM_ARENA_SIZE - 1)) +
                                               PM_ARENA_SLOT);
    CHECK("a chunk's arena has free pages", a->free_pages != 0);
    CHECK("and none counts as clean", (a->clean_pages & a->free_pages) == 0);
    empty(N, last, 1);

    CHECK("set 0", pm_option_set(PM_OPTION_ARENA_THP, 0) == 0);
    fill(0, N);
    if (asks(blocks[N - 1]) >= 0)
        CHECK("0: past 8 MiB, no arena asks", asks(blocks[N - 1]) == 0);
    empty(N, blocks[N - 1], 0);

    CHECK("set 1", pm_option_set(PM_OPTION_ARENA_THP, 1) == 0);
    fill(0, BELOW);
    last = blocks[BELOW - 1];
    chunk = (char *)((uintptr_t)last & ~(CHUNK - 1));
    CHECK("1: the first arenas lie in a 2 MiB chunk that is mapped",
          mapped(chunk) && mapped(chunk + CHUNK - 1));
    if (asks(blocks[0]) >= 0)
        CHECK("1: and ask for huge pages", asks(blocks[0]) == 1 && asks(last) == 1);
    empty(BELOW, last, 1);
    pm_option_set(PM_OPTION_ARENA_THP, 8L << 20);
    per_heap();
    return pm_test_finish();
}
