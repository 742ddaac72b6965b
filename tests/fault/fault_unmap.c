/* fault_unmap.c -- large mappings that cannot, or should not, be unmapped.
 *
 * The kernel caps the areas of a process (vm.max_map_count); a large block
 * is a mapping of its own, and unmapping one between live neighbours splits
 * an area.  At the cap munmap fails with ENOMEM.  The large path then keeps
 * the range mapped, its pages given back, and reuses it for a later block
 * of about its size (arenas/large.c, "retained ranges"); it does the same
 * for every mapping that leaves while the process holds more than
 * _pm_large_retain_from of them, so that it never reaches the cap.
 *
 * Links the core built with -DPM_FAULT_INJECTION: _pm_os_fault_unmap makes
 * munmaps fail as at the cap, and the OS layer's record of mappings shows
 * what is still mapped.  Checks, in turn:
 *   1. munmap refused: the freed mappings are retained (counted, their
 *      pages not resident), the next blocks of their size reuse them
 *      (same addresses, zeroed), and once munmap works again, a trim gives
 *      everything back (no mapping left beyond the start's);
 *   2. above the threshold: freed mappings are retained without any
 *      munmap failing, reused, and given back once the process holds few;
 *   3. a release of retained ranges that munmap refuses keeps them.
 *
 * usage: fault_unmap   (exit 0: all good) */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pm_test.h"
#include "pools/pools.h"

#define N 40

static size_t mappings(void) { return _pm_os_mappings(NULL, NULL); }

static size_t retained(size_t *bytes)
{
    size_t count, b;
    _pm_large_retained(&count, &b);
    if (bytes)
        *bytes = b;
    return count;
}

typedef struct {
    const char *p;
    size_t size;   /* of the mapping holding p, 0: none */
} holder_t;

static void find_holder(void *addr, size_t size, void *arg)
{
    holder_t *h = arg;
    if (h->p >= (char *)addr && h->p < (char *)addr + size)
        h->size = size;
}

/* The size of the mapping (as the OS layer made it) that holds p. */
static size_t mapping_size(const void *p)
{
    holder_t h = {p, 0};
    _pm_os_mappings(find_holder, &h);
    return h.size;
}

/* Pages of [p, p + n) resident now. */
static size_t resident(void *p, size_t n)
{
    unsigned char vec[64];
    size_t pages = n / 4096, in = 0;
    if (pages > sizeof vec || mincore(p, n, vec) != 0)
        return (size_t)-1;
    for (size_t i = 0; i < pages; i++)
        in += vec[i] & 1;
    return in;
}

static int is_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static int was_freed(void *p, void *const *old, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (old[i] == p)
            return 1;
    return 0;
}

/* 1. munmap refused */
static void refused(void)
{
    const size_t size = 64 << 10;
    void *p[8], *old[8];
    size_t base = mappings();
    for (int i = 0; i < 8; i++) {
        p[i] = old[i] = pm_malloc(size);
        CHECK("malloc 64 KiB", p[i] != NULL);
        memset(p[i], 0xa5, size);
    }
    CHECK("eight new mappings", mappings() == base + 8);
    for (int i = 0; i < 8; i++)
        pm_free(p[i]);
    _pm_os_fault_unmap(1000);
    pm_malloc_trim(0);   /* the slots and the cache: every munmap fails */
    _pm_os_fault_unmap(0);
    size_t bytes;
    CHECK("refused mappings retained", retained(&bytes) == 8 && bytes == 8 * size);
    CHECK("still mapped", mappings() == base + 8);
    for (int i = 0; i < 8; i++)
        CHECK("retained pages given back", resident(old[i], size) == 0);

    for (int i = 0; i < 8; i++) {
        p[i] = pm_malloc(size);
        CHECK("malloc reuses a retained range", p[i] && was_freed(p[i], old, 8));
        CHECK("a reused range reads zero", p[i] && is_zero(p[i], size));
    }
    CHECK("all reused", retained(NULL) == 0 && mappings() == base + 8);
    for (int i = 0; i < 8; i++)
        pm_free(p[i]);
    pm_malloc_trim(0);
    CHECK("given back once munmap works", retained(NULL) == 0 && mappings() == base);
}

/* 2. above _pm_large_retain_from; 3. a refused release */
static void pressure(void)
{
    const size_t size = 20 << 10;
    void *p[N], *old[N / 2];
    size_t base = mappings(), from = _pm_large_retain_from;
    _pm_large_retain_from = 16;
    for (int i = 0; i < N; i++) {
        p[i] = pm_malloc(size);
        CHECK("malloc 20 KiB", p[i] != NULL);
        memset(p[i], 0x5a, size);
    }
    for (int i = 0; i < N; i += 2) {
        old[i / 2] = p[i];
        pm_free(p[i]);
    }
    pm_malloc_trim(0);   /* N mappings held: those that leave are retained */
    CHECK("above the threshold, retained", retained(NULL) == N / 2);
    CHECK("nothing unmapped", mappings() == base + N);
    for (int i = 0; i < N / 2; i++)
        CHECK("retained pages given back", resident(old[i], size) == 0);
    for (int i = 0; i < N; i += 2) {
        p[i] = pm_malloc(size);
        CHECK("malloc reuses a retained range", p[i] && was_freed(p[i], old, N / 2));
        CHECK("a reused range reads zero", p[i] && is_zero(p[i], size));
        if (p[i])
            memset(p[i], 0x77, size);
    }
    CHECK("all reused", retained(NULL) == 0 && mappings() == base + N);
    for (int i = 1; i < N; i += 2)
        CHECK("the live blocks kept their bytes", ((unsigned char *)p[i])[size - 1] == 0x5a);

    /* realloc: a block that cannot grow in place moves by copy, its old
     * mapping kept (an mremap move would leave a hole), and a big shrink
     * gives the tail's pages back without unmapping it */
    size_t held = mappings();
    unsigned char *g = pm_malloc(100 << 10);
    CHECK("malloc 100 KiB", g != NULL);
    memset(g, 0x33, 100 << 10);
    unsigned char *g2 = pm_realloc(g, 300 << 10);
    CHECK("realloc grows", g2 && g2[0] == 0x33 && g2[(100 << 10) - 1] == 0x33);
    CHECK("by a copy: the old mapping is kept", mappings() == held + 2);
    unsigned char *big = pm_malloc(2 << 20);
    CHECK("malloc 2 MiB", big != NULL);
    memset(big, 0x44, 2 << 20);
    unsigned char *small = pm_realloc(big, 100 << 10);
    CHECK("realloc shrinks in place", small == big && small[(100 << 10) - 1] == 0x44);
    CHECK("the mapping keeps its address space", mapping_size(small) == 2 << 20);
    CHECK("its tail's pages are given back", resident(small + (1 << 20), 64 * 4096) == 0);
    pm_free(g2);
    pm_free(small);

    for (int i = 0; i < N; i++)
        pm_free(p[i]);
    _pm_os_fault_unmap(1000);
    pm_malloc_trim(0);   /* retained (many held), then a release munmap refuses */
    _pm_os_fault_unmap(0);
    size_t left = retained(NULL);
    CHECK("a refused release keeps them", left >= N && mappings() == base + left);
    pm_malloc_trim(0);   /* few held now: all go back */
    CHECK("released once few are held", retained(NULL) == 0 && mappings() == base);
    _pm_large_retain_from = from;
}

int main(void)
{
    pm_option_set(PM_OPTION_LARGE_DECAY_MS, 3600 * 1000); /* no time-dependent unmaps */
    /* the heap, the page map's first leaf, the first chunk of large records */
    pm_free(pm_malloc(64));
    pm_free(pm_malloc(64 << 10));
    pm_malloc_trim(0);
    refused();
    pressure();
    return pm_test_finish();
}
