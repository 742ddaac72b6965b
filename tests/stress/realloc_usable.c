/* realloc_usable.c -- every usable byte is the program's, through realloc.
 *
 * SLOTS blocks of random sizes (most small, then medium, large up to 3 MiB)
 * are made with malloc or calloc, grown or shrunk with realloc, and freed,
 * in a random order fixed by the seed.  Each block is filled to its
 * malloc_usable_size with a byte of its own; before every operation that
 * byte is checked over the whole usable size, after every realloc over the
 * bytes that must have been kept (the old usable size, up to the new
 * size), and a calloc'd block must read zero.  A program may take the
 * usable size as its capacity (redis's sds strings do); realloc that moved
 * a large block by copy kept only its requested bytes (api_conformance has
 * the narrow case).
 *
 * usage: realloc_usable [OPS=200000] */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_test.h"

#define SLOTS 512

static unsigned char *blocks[SLOTS];
static size_t usable[SLOTS];
static unsigned char mark[SLOTS];
static unsigned long long rng = 88172645463325252ULL;

static uint64_t next(void) { return pm_test_rand(&rng); }

/* 1 .. 3.2 MB: half small, most of the rest medium, some large. */
static size_t size_drawn(void)
{
    uint64_t r = next() % 100;
    if (r < 50)
        return 1 + next() % 600;
    if (r < 80)
        return 600 + next() % 16000;
    if (r < 97)
        return 16000 + next() % 200000;
    return 200000 + next() % 3000000;
}

static size_t first_wrong(const unsigned char *p, size_t n, unsigned char want)
{
    for (size_t k = 0; k < n; k++)
        if (p[k] != want)
            return k;
    return n;
}

int main(int argc, char **argv)
{
    pm_test_require_poolmalloc();
    long ops = argc > 1 ? atol(argv[1]) : 200000;
    long corrupt = 0, lost = 0, unzeroed = 0, short_usable = 0;
    for (long o = 0; o < ops; o++) {
        int i = (int)(next() % SLOTS), op = (int)(next() % 4);
        if (!blocks[i]) {
            size_t n = size_drawn();
            blocks[i] = op == 0 ? calloc(1, n) : malloc(n);
            if (!blocks[i])
                continue;
            if (op == 0 && first_wrong(blocks[i], n, 0) < n)
                unzeroed++;
            usable[i] = malloc_usable_size(blocks[i]);
            short_usable += usable[i] < n;
            mark[i] = (unsigned char)next();
            memset(blocks[i], mark[i], usable[i]);
            continue;
        }
        if (first_wrong(blocks[i], usable[i], mark[i]) < usable[i])
            corrupt++;
        if (op == 1) {
            free(blocks[i]);
            blocks[i] = NULL;
            continue;
        }
        size_t n = size_drawn();
        unsigned char *q = realloc(blocks[i], n);
        if (!q)
            continue;
        size_t keep = usable[i] < n ? usable[i] : n;
        size_t at = first_wrong(q, keep, mark[i]);
        if (at < keep && lost++ < 3)
            fprintf(stderr, "realloc to %zu lost byte %zu of the %zu usable\n", n, at, usable[i]);
        blocks[i] = q;
        usable[i] = malloc_usable_size(q);
        short_usable += usable[i] < n;
        mark[i] = (unsigned char)next();
        memset(q, mark[i], usable[i]);
    }
    for (int i = 0; i < SLOTS; i++)
        free(blocks[i]);
    printf("%ld operations: %ld corrupted, %ld reallocs that lost bytes, %ld calloc not zero, "
           "%ld usable sizes short\n", ops, corrupt, lost, unzeroed, short_usable);
    CHECK("no block changed under the program", corrupt == 0);
    CHECK("realloc keeps every usable byte", lost == 0);
    CHECK("calloc'd blocks read zero", unzeroed == 0);
    CHECK("usable sizes cover the request", short_usable == 0);
    return pm_test_finish();
}
