/* rss_1gib.c -- about 1 GiB in small blocks, all freed: the memory goes back
 * to the OS.
 *
 * Run with libpoolmalloc.so preloaded, like the other stress tests.  The
 * program allocates blocks of 16..512 bytes (sizes mixed, deterministic)
 * until 1 GiB has been requested, writing every byte, then frees them all in
 * a shuffled order (so arenas empty only at the very end, not one after the
 * other) and reads VmRSS (/proc/self/statm) at each stage:
 *
 *   start     before the first block (the pointer table is already resident)
 *   peak      with every block allocated: must be at least start + 1 GiB,
 *             or the test measured nothing
 *   freed     after the last free, before any malloc_trim: an arena whose
 *             last pool empties goes back to the OS on its own, except what
 *             the allocator keeps for reuse on purpose: the reserve (4
 *             arenas), up to ARENA_CACHE (16 MiB) of empty arenas for
 *             ARENA_DECAY_MS, and per size class the arena holding the
 *             class's list head, plus the heap's spare pools and spans
 *             (never an arena's only pages in use: at most 63 + 16 + 64
 *             arenas of which a page or a few are in use, but all of whose
 *             pages this test touched).  So: within start + 64 MiB, under 6% of the
 *             1135 MiB the blocks took
 *   trimmed   after malloc_trim(0): within start + 32 MiB too, and not above
 *             freed
 *
 * It then allocates and frees 256 MiB more, to show the allocator still works
 * and comes back down again.  Figures are printed in MiB.
 *
 * usage: rss_1gib [MIB=1024] */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pm_test.h"

#define SLACK_MIB 32      /* after malloc_trim */
#define SLACK_OWN_MIB 64  /* without it: see "freed" above */

typedef struct {
    unsigned char **ptr;
    size_t count;
    size_t bytes;
} blocks_t;

/* Allocates blocks of 16..512 bytes until `target` bytes were requested;
 * each block is filled with a byte derived from its index, its first word
 * holds the index. */
static int allocate(blocks_t *b, size_t target, size_t cap, unsigned long long *rng)
{
    b->count = 0;
    b->bytes = 0;
    while (b->bytes < target && b->count < cap) {
        size_t size = 16 + (size_t)(pm_test_rand(rng) % 497);
        unsigned char *p = malloc(size);
        if (!p)
            return 0;
        memset(p, (int)(b->count & 0xff), size);
        memcpy(p, &b->count, sizeof b->count);
        b->ptr[b->count++] = p;
        b->bytes += size;
    }
    return b->bytes >= target;
}

/* Frees every block in a shuffled order; returns the number of damaged ones. */
static size_t free_shuffled(blocks_t *b, unsigned long long *rng)
{
    for (size_t i = b->count; i > 1; i--) {
        size_t j = (size_t)(pm_test_rand(rng) % i);
        unsigned char *t = b->ptr[i - 1];
        b->ptr[i - 1] = b->ptr[j];
        b->ptr[j] = t;
    }
    size_t bad = 0;
    for (size_t i = 0; i < b->count; i++) {
        size_t index;
        memcpy(&index, b->ptr[i], sizeof index);
        if (index >= b->count || b->ptr[i][15] != (unsigned char)(index & 0xff))
            bad++;
        free(b->ptr[i]);
    }
    b->count = 0;
    return bad;
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 1024;
    size_t target = mib << 20;
    size_t cap = target / 200 + 1000; /* sizes average 264 bytes: ~target / 264 blocks */
    /* The pointer table comes from mmap, resident before the first reading,
     * so that it is not counted as allocator memory. */
    blocks_t b;
    b.ptr = mmap(NULL, cap * sizeof *b.ptr, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (b.ptr == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    unsigned long long rng = 0x1d1d1d;

    double start = pm_test_rss_mib();
    int ok = allocate(&b, target, cap, &rng);
    CHECK("allocated the whole target", ok);
    double peak = pm_test_rss_mib();
    size_t count = b.count;
    size_t bad = free_shuffled(&b, &rng);
    double freed = pm_test_rss_mib();
    malloc_trim(0);
    double trimmed = pm_test_rss_mib();

    printf("%zu blocks of 16..512 bytes, %.1f MiB requested\n", count, (double)target / 1048576);
    printf("VmRSS start   %8.1f MiB\n", start);
    printf("VmRSS peak    %8.1f MiB  (+%.1f)\n", peak, peak - start);
    printf("VmRSS freed   %8.1f MiB  (+%.1f, before malloc_trim)\n", freed, freed - start);
    printf("VmRSS trimmed %8.1f MiB  (+%.1f, after malloc_trim(0))\n", trimmed, trimmed - start);
    CHECK("blocks intact until freed", bad == 0);
    CHECK("the blocks really were resident", peak - start >= 0.9 * (double)mib);
    CHECK("memory back to the OS on its own (no trim)", freed - start <= SLACK_OWN_MIB);
    CHECK("memory back to the OS after malloc_trim", trimmed - start <= SLACK_MIB);
    CHECK("malloc_trim does not raise RSS", trimmed <= freed + 1.0);

    /* Still working, and down again. */
    ok = allocate(&b, target / 4, cap, &rng);
    CHECK("allocating again", ok);
    double again = pm_test_rss_mib();
    bad = free_shuffled(&b, &rng);
    double after = pm_test_rss_mib();
    printf("VmRSS again   %8.1f MiB  (%zu MiB allocated), %.1f MiB once freed\n", again,
           mib / 4, after);
    CHECK("second round intact", bad == 0);
    CHECK("second round back down", after - start <= SLACK_OWN_MIB);
    munmap(b.ptr, cap * sizeof *b.ptr);
    return pm_test_finish();
}
