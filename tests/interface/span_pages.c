/* span_pages.c -- medium spans faulted in at once for a class the program
 * writes whole (pools/span.c, span_fresh), run with libpoolmalloc.so
 * preloaded.
 *
 * Whole: 4368-byte blocks (sqlite's page-cache entries: a page, its
 * header and its own) are made and each written whole, span after span;
 * then blocks made and not written must already be resident, nearly all
 * of their pages (the heap has learnt that the class's spans get
 * written).  The check's blocks fill 7 spans of their class (4608 bytes,
 * 14 to a span), none of them the eighth span that is left to fault and
 * read again (span.c, SPAN_PROBE_EVERY): read while its blocks are not
 * written yet, it would unlearn the class.  (4104 bytes, the size this
 * test used, now gets the 4160-byte class, 15 to a span, where that
 * eighth span falls among the check's.  Since medium ranges, the first
 * 28 blocks take 5 spans of their range's host, 8192 bytes, before the
 * range splits, pools/pools.h, pm_medium_range: those spans move the
 * heap's count of fresh spans, and 420 blocks written before the check,
 * not 400, keep that eighth span out of it.)
 * In part: 12000-byte blocks are made and only their first byte written;
 * blocks made after that must not be resident beyond their first page:
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

#define WARM 420     /* blocks written before the check: about 30 spans (see above) */
#define CHECK 100    /* blocks made and checked, not written */

static char *blocks[WARM + CHECK];

/* WARM blocks of `size` bytes made, each written whole or at its first
 * byte; then CHECK more made and not written: the pages of theirs that are
 * resident (*first: their first pages), of *all.  All freed again. */
static long made(size_t size, int whole, long *all, long *first)
{
    for (int i = 0; i < WARM + CHECK; i++)
        if (!(blocks[i] = malloc(size)))
            exit(2);
        else if (i < WARM && whole)
            memset(blocks[i], i, size);
        else if (i < WARM)
            blocks[i][0] = (char)i;
    long res = 0, t;
    *all = *first = 0;
    for (int i = WARM; i < WARM + CHECK; i++) {
        res += resident(blocks[i], size, &t);
        *all += t;
        *first += resident(blocks[i], 1, &t);
    }
    for (int i = 0; i < WARM + CHECK; i++)
        free(blocks[i]);
    return res;
}

int main(int argc, char **argv)
{
    int failed = 0;
    int off = argc > 1 && strcmp(argv[1], "off") == 0;
    long all, first;

    long res = made(4368, 1, &all, &first);
    printf("written whole: %ld of %ld pages of %d new blocks resident before any write\n", res, all,
           CHECK);
    if (off && res * 8 > all) {
        fprintf(stderr, "FAIL span_pages: spans faulted in ahead with POOLMALLOC_ARENA_POPULATE=0\n");
        failed = 1;
    } else if (!off && res * 4 < all * 3) {   /* every eighth span is left to fault */
        fprintf(stderr, "FAIL span_pages: a class written whole is not faulted in ahead\n");
        failed = 1;
    }

    res = made(12000, 0, &all, &first);
    printf("written in part: %ld of %ld pages of %d new blocks resident (%ld first pages)\n", res,
           all, CHECK, first);
    if (res - first > all / 8) {   /* a first page may hold an earlier block's start */
        fprintf(stderr, "FAIL span_pages: pages of a class written in part are made resident\n");
        failed = 1;
    }
    return failed;
}
