/* calloc of a reused large mapping (arenas/large.c, _pm_large_zero): every
 * byte reads zero whatever the block's last user wrote, whether the pages
 * are zeroed by memset (the last user wrote them all: resident) or given
 * back (a big block of which few pages are resident: the program's next
 * touch faults in a zero page).  Contents and residency (mincore) only,
 * never timing. */
#include "pm_test.h"
#include "pools/pools.h"
#include <sys/mman.h>

#define MiB ((size_t)1 << 20)
#define BIG (12 * MiB)   /* past the size where the resident set is looked at */
#define PAGE 4096u

static pm_stats_t snap(void)
{
    pm_stats_t s;
    pm_stats_get(&s);
    return s;
}

/* Whether all n bytes of p are zero. */
static bool all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Pages of [p, p + n) resident now. */
static size_t resident_pages(void *p, size_t n)
{
    static unsigned char vec[BIG / PAGE];
    if (mincore(p, n, vec) != 0)
        return (size_t)-1;
    size_t k = 0;
    for (size_t i = 0; i < n / PAGE; i++)
        k += vec[i] & 1;
    return k;
}

/* A calloc of BIG that must take the cached mapping (a hit). */
static char *calloc_hit(const char *what)
{
    pm_stats_t s0 = snap();
    char *q = pm_calloc(1, BIG);
    pm_stats_t s1 = snap();
    CHECK(what, q != NULL && s1.large_hits == s0.large_hits + 1);
    return q;
}

int main(void)
{
    CHECK("large cache option", pm_option_set(PM_OPTION_LARGE_CACHE, 256L << 20) == 0);
    CHECK("large decay option", pm_option_set(PM_OPTION_LARGE_DECAY_MS, 3600 * 1000) == 0);
    CHECK("huge pages off (page-exact residency)", pm_option_set(PM_OPTION_LARGE_THP, 0) == 0);

    /* 1. The last user wrote every byte: memset. */
    char *p = pm_malloc(BIG);
    CHECK("malloc", p != NULL);
    memset(p, 0xab, BIG);
    pm_free(p);
    char *q = calloc_hit("dense: reused");
    CHECK("dense: all zero", q && all_zero(q, BIG));
    CHECK("dense: zeroed in place (resident)", q && resident_pages(q, BIG) == BIG / PAGE);

    /* 2. Written again, then 64 KiB of it given back by hand: mostly still
     *    resident, memset again; every byte zero. */
    memset(q, 0xcd, BIG);
    madvise(q, 64 << 10, MADV_DONTNEED);
    pm_free(q);
    q = calloc_hit("mostly resident: reused");
    CHECK("mostly resident: all zero", q && all_zero(q, BIG));

    /* 3. All of it given back but a few written pages: the pages are given
     *    back again rather than written, and read zero. */
    madvise(q, BIG, MADV_DONTNEED);
    for (size_t i = 0; i < 16; i++)
        q[i * (BIG / 16) + 100] = (char)(i + 1);
    q[BIG - 1] = 9;
    pm_free(q);
    q = calloc_hit("sparse: reused");
    CHECK("sparse: pages given back, not written", q && resident_pages(q, BIG) <= 16);
    CHECK("sparse: all zero", q && all_zero(q, BIG));
    pm_free(q);

    /* 4. A request that is not a whole number of pages: the tail of its
     *    last page is zero too. */
    p = pm_malloc(BIG);
    CHECK("malloc again", p != NULL);
    madvise(p, BIG, MADV_DONTNEED);
    p[BIG - 1] = 5;
    p[BIG - PAGE - 8] = 6;
    pm_free(p);
    pm_stats_t s0 = snap();
    q = pm_calloc(1, BIG - 3);
    pm_stats_t s1 = snap();
    CHECK("odd size: reused", q && s1.large_hits == s0.large_hits + 1);
    CHECK("odd size: all zero", q && all_zero(q, BIG - 3));
    pm_free(q);

    pm_malloc_trim(0);
    return pm_test_finish();
}
