/* span_pages.c -- medium spans faulted in at once for a class the program
 * writes whole (pools/span.c, span_fresh), run with libpoolmalloc.so
 * preloaded.
 *
 * Whole: 4368-byte blocks (sqlite's page-cache entries: a page, its
 * header and its own) are made and each written whole, span after span;
 * then each block made must already be resident, nearly all of its own
 * pages, before it is written in its turn (the heap has learnt that the
 * class's spans get written).  Every eighth new span is left to fault and read
 * again when it goes FULL (span.c, SPAN_PROBE_EVERY): its blocks are not
 * resident before their writes, hence "nearly all", and since each
 * checked block is written before the next is made, that span is read
 * with its blocks written and the class stays learnt wherever it falls.
 * In part: 12000-byte blocks are made and only their first byte written;
 * blocks made after that must not be resident beyond their first page
 * before they are written:
 * the class's spans are left to fault, so that pages the program never
 * writes never become resident.
 *
 * With the argument "off" (run with POOLMALLOC_ARENA_POPULATE=0), no
 * span is faulted in ahead: the blocks written whole must not be resident
 * before their writes either.
 *
 * Residency comes from mincore.  The process is fresh, so the spans come
 * from clean pages.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

/* Pages of [p, p + n) resident, and in all (*total). */
static long resident(const void *p, size_t n, long *total)
{
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(PAGE - 1);
    uintptr_t hi = ((uintptr_t)p + n + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    size_t pages = (hi - lo) / PAGE;
    unsigned char vec[64];
    if (pages > sizeof vec)
        abort();
    if (mincore((void *)lo, hi - lo, vec) != 0) {
        perror("mincore");
        exit(2);
    }
    long r = 0;
    for (size_t i = 0; i < pages; i++)
        r += vec[i] & 1;
    *total = (long)pages;
    return r;
}

#define WARM 420     /* blocks written before the check: about 30 spans */
#define CHECK 100    /* blocks then checked, each before its write */

static char *blocks[WARM + CHECK];

/* WARM + CHECK blocks of `size` bytes made, each written whole or at its
 * first byte; the last CHECK of them are looked at before their writes:
 * the pages that lie wholly past their first byte (the page of the first
 * byte may hold the end of the block before, written) that were resident,
 * of *all.  All freed again. */
static long made(size_t size, int whole, long *all)
{
    long res = 0, t;
    *all = 0;
    for (int i = 0; i < WARM + CHECK; i++) {
        if (!(blocks[i] = malloc(size)))
            exit(2);
        if (i >= WARM) {
            char *own = (char *)(((uintptr_t)blocks[i] + PAGE) & ~(uintptr_t)(PAGE - 1));
            res += resident(own, (size_t)(blocks[i] + size - own), &t);
            *all += t;
        }
        if (whole)
            memset(blocks[i], i, size);
        else
            blocks[i][0] = (char)i;
    }
    for (int i = 0; i < WARM + CHECK; i++)
        free(blocks[i]);
    return res;
}

int main(int argc, char **argv)
{
    int failed = 0;
    int off = argc > 1 && strcmp(argv[1], "off") == 0;
    long all;

    long res = made(4368, 1, &all);
    printf("written whole: %ld of %ld pages of %d new blocks resident before any write\n", res, all,
           CHECK);
    if (off && res * 8 > all) {
        fprintf(stderr, "FAIL span_pages: spans faulted in ahead with POOLMALLOC_ARENA_POPULATE=0\n");
        failed = 1;
    } else if (!off && res * 4 < all * 3) {   /* every eighth span is left to fault */
        fprintf(stderr, "FAIL span_pages: a class written whole is not faulted in ahead\n");
        failed = 1;
    }

    res = made(12000, 0, &all);
    printf("written in part: %ld of %ld pages of %d new blocks resident before any write\n", res,
           all, CHECK);
    if (res > all / 8) {
        fprintf(stderr, "FAIL span_pages: pages of a class written in part are made resident\n");
        failed = 1;
    }
    return failed;
}
