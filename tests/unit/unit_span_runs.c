/* Spans take the shorter runs their heap's arenas hold before a new arena
 * (pools/span.c, span_pages_short): a program whose blocks are all of a
 * medium class with 16-page spans (4400 bytes: sqlite's page buffers) fills
 * each arena's 62 usable pages, 3 spans of 16 and one of 14, where it used
 * to leave the 14 free and take a new arena for every 48 pages.  The
 * blocks keep their contents, and every arena goes back once they are
 * freed. */
#include "pm_test.h"
#include "pools/pools.h"

#include <stdio.h>
#include <string.h>

#define SIZE 4400
#define N 4000   /* about 70 arenas' worth */

static char *blocks[N];

int main(void)
{
    CHECK("reserve option", pm_option_set(PM_OPTION_ARENA_RESERVE, 0) == 0);
    pm_stats_t s0, s1;
    pm_stats_get(&s0);
    for (size_t i = 0; i < N; i++) {
        blocks[i] = pm_malloc(SIZE);
        if (!blocks[i]) {
            CHECK("malloc", 0);
            return pm_test_finish();
        }
        memset(blocks[i], (int)(i & 0xff), SIZE);
    }
    pm_stats_get(&s1);
    uint64_t arenas = s1.arenas_live - s0.arenas_live;
    uint64_t pages = s1.span_pages_live - s0.span_pages_live;
    printf("# %llu span pages in %llu new arenas (%.1f of %d usable pages each)\n",
           (unsigned long long)pages, (unsigned long long)arenas,
           arenas ? (double)pages / (double)arenas : 0.0, PM_ARENA_USABLE);
    CHECK("spans fill their arenas: at least 60 of 62 pages each",
          arenas > 0 && pages >= 60 * (arenas - 1));
    size_t bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += blocks[i][0] != (char)(i & 0xff) || blocks[i][SIZE - 1] != (char)(i & 0xff);
    CHECK("blocks keep their contents", bad == 0);
    for (size_t i = 0; i < N; i++)
        pm_free(blocks[i]);
    pm_malloc_trim(0);
    pm_stats_get(&s1);
    CHECK("every new arena given back", s1.arenas_live <= s0.arenas_live);
    return pm_test_finish();
}
