/* POOLMALLOC_ARENA_THP (arenas/arena.c): off by default, arenas are plain
 * 256 KiB mappings that do not ask for transparent huge pages; on, new
 * arenas come from 2 MiB chunks, aligned to 2 MiB, that ask for them
 * (VmFlags "hg" in /proc/self/smaps), the next arenas from the same chunk;
 * malloc_trim gives back the chunk's arenas never handed out, and every
 * arena once empty, as without the option.  Blocks keep their contents
 * throughout.  (Whether the kernel then backs them with huge pages is its
 * business: only the request is checked.) */
#include "pm_test.h"
#include "pools/pools.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK ((uintptr_t)2 << 20)
#define PER_ARENA (62 * 8)           /* 512-byte blocks: 8 a pool, 62 pools an arena */
#define N (PER_ARENA * 12)           /* 12 arenas' worth */

static char *blocks[N];

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

int main(void)
{
    pm_malloc_trim(0);
    int thp = access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
    CHECK("off by default", pm_option_get(PM_OPTION_ARENA_THP) == 0);
    fill(0, PER_ARENA * 4);
    if (thp && pm_test_vma_hugepage(blocks[0]) >= 0)
        CHECK("off: an arena does not ask for huge pages", pm_test_vma_hugepage(blocks[0]) == 0);

    CHECK("set", pm_option_set(PM_OPTION_ARENA_THP, 1) == 0);
    fill(PER_ARENA * 4, N);   /* the new arenas come from chunks */
    char *last = blocks[N - 1];
    char *chunk = (char *)((uintptr_t)last & ~(CHUNK - 1));
    CHECK("a new arena lies in a 2 MiB chunk that is mapped", mapped(chunk) && mapped(chunk + CHUNK - 1));
    if (thp && pm_test_vma_hugepage(last) >= 0)
        CHECK("on: the chunk asks for huge pages", pm_test_vma_hugepage(last) == 1 && pm_test_vma_hugepage(chunk) == 1);
    pm_stats_t s;
    pm_stats_get(&s);
    for (size_t i = 0; i < N; i++) {
        unsigned char *b = (unsigned char *)blocks[i];
        if (b[0] != (i & 0xff) || b[511] != (i & 0xff)) {
            CHECK("blocks keep their contents", 0);
            break;
        }
    }
    for (size_t i = 0; i < N; i++)
        pm_free(blocks[i]);
    pm_malloc_trim(0);
    pm_stats_get(&s);
    CHECK("every arena given back", s.arenas_live == 0);
    CHECK("and the rest of the chunk", !mapped(chunk) && !mapped(chunk + CHUNK - 1));
    pm_option_set(PM_OPTION_ARENA_THP, 0);
    return pm_test_finish();
}
