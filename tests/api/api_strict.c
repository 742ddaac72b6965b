/* api_strict.c -- the fillings of strict mode, run with libpoolmalloc-strict.so
 * preloaded (tests/api/CMakeLists.txt).
 *
 * Reads memory the C standard calls indeterminate (new blocks) or dead
 * (freed blocks) on purpose: strict mode promises what is there.
 *   new small, medium, large blocks      every usable byte PM_ALLOC_JUNK (0xaa)
 *   calloc                               zeros all the same
 *   a freed small or medium block        all but its first word PM_FREE_JUNK (0x55)
 *   a freed large block                  unmapped at once (msync: ENOMEM)
 *   realloc in place                     the contents stay */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pm_test.h"

static void *volatile laundered;
static void *launder(void *p)
{
    laundered = p;
    return laundered;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

int main(void)
{
    pm_test_require_poolmalloc();
    size_t sizes[] = {1, 8, 24, 100, 512, 600, 3000, 16384};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        size_t usable = malloc_usable_size(p);
        CHECK("new block is junk-filled", p && all_bytes(p, usable, 0xaa));
        memset(p, 1, n);
        unsigned char *z = calloc(1, n);
        CHECK("calloc still zeroes", z && all_bytes(z, n, 0));
        free(z);
        free(p);
        const unsigned char *dead = launder(p);
        CHECK("freed block is filled, but for its link word", all_bytes(dead + 8, usable - 8, 0x55));
    }

    unsigned char *p = malloc(20);
    memset(p, 7, 20);
    unsigned char *q = realloc(p, 24);    /* same class: in place */
    CHECK("realloc in place keeps the contents", q == p && all_bytes(q, 20, 7));
    free(q);

    size_t big = 100000;
    unsigned char *l = malloc(big);
    CHECK("new large block is junk-filled", l && all_bytes(l, big, 0xaa));
    memset(l, 2, big);
    free(l);
    void *page = (void *)((uintptr_t)launder(l) & ~(uintptr_t)4095);
    errno = 0;
    CHECK("freed large block is unmapped", msync(page, 4096, MS_ASYNC) == -1 && errno == ENOMEM);
    return pm_test_finish();
}
