/* The free-list link check (pools/pools.h, pm_pool_pop), measured exactly:
 * for free blocks of real pools, every change of one byte of a link (each
 * of the 8 bytes, each of the 255 other values) is decoded the way the pop
 * decodes it, and counted as caught or accepted.  The multiply in the link
 * encoding spreads a change of any byte over the bits the check wants zero,
 * so every such change must be caught (the chance that one is not, for a
 * random multiplier, is about 2^-40).  For comparison the same changes are
 * judged under the plain xor encoding (glibc's safe linking, and ours
 * before): next = link ^ block ^ secret, with the same check. */
#include "pm_test.h"
#include "pools/pools.h"

int main(void)
{
    /* The spans' check (pm_span_next_bad): the end of the list, or 8-aligned
     * inside the span; not the byte after it, nor before it, nor between
     * two granules. */
    {
        char *m = pm_malloc(1024);
        uintptr_t entry = pm_pagemap_get(m);
        CHECK("a medium block is a span's", (entry & PM_PAGE_SPAN) != 0);
        pm_span_t *sp = (pm_span_t *)(entry & ~PM_PAGE_TAGS);
        uintptr_t base = (uintptr_t)pm_span_base(sp), end = base + (uintptr_t)sp->pages * PM_PAGE_SIZE;
        CHECK("span link: the end of the list", !pm_span_next_bad(sp, base, 0));
        CHECK("span link: its first byte", !pm_span_next_bad(sp, base, base));
        CHECK("span link: its last granule", !pm_span_next_bad(sp, base, end - 8));
        CHECK("span link: not past its end", pm_span_next_bad(sp, base, end));
        CHECK("span link: not a page past its end", pm_span_next_bad(sp, base, end + PM_PAGE_SIZE));
        CHECK("span link: not before it", pm_span_next_bad(sp, base, base - 8));
        CHECK("span link: not misaligned", pm_span_next_bad(sp, base, base + 4) &&
                                               pm_span_next_bad(sp, base, base + 1) &&
                                               pm_span_next_bad(sp, base, end - 1));
        pm_free(m);
    }

    enum { SIZE = 48, N = 64 };
    char *b[N];
    for (int i = 0; i < N; i++)
        b[i] = pm_malloc(SIZE);
    for (int i = 1; i < N; i += 2)   /* every other block: a list of 32 */
        pm_free(b[i]);
    _pm_tc_flush(_pm_tls_heap);      /* out of the thread cache, onto the pool's list */
    unsigned long accepted[8] = {0}, tried[8] = {0}, plain[8] = {0};
    for (int i = 1; i < N; i += 2) {
        pm_block_t *blk = (pm_block_t *)b[i];
        uintptr_t link = blk->link;
        pm_pool_t pool;                           /* a scratch header for the pop */
        CHECK("the real link passes", (pool.free = NULL, pm_pool_pop(&pool, blk, false)));
        for (int byte = 0; byte < 8; byte++)
            for (unsigned v = 0; v < 256; v++) {
                uintptr_t changed = link & ~((uintptr_t)0xff << (8 * byte));
                changed |= (uintptr_t)v << (8 * byte);
                if (changed == link)
                    continue;
                blk->link = changed;
                tried[byte]++;
                accepted[byte] += pm_pool_pop(&pool, blk, false);
                /* the plain encoding: the same change to next ^ b ^ secret */
                uintptr_t old_d = (link ^ changed) ^ (pm_link_unmix(link));   /* next ^ b, changed */
                plain[byte] += !(old_d & ~PM_POOL_LINK_FREE_BITS);
            }
        blk->link = link;
    }
    unsigned long all = 0, all_tried = 0;
    for (int byte = 0; byte < 8; byte++) {
        printf("byte %d of the link: %lu of %lu one-byte changes pass the check "
               "(plain xor encoding: %lu)\n", byte, accepted[byte], tried[byte], plain[byte]);
        all += plain[byte];
        all_tried += tried[byte];
        CHECK("a one-byte change is caught", accepted[byte] == 0);
    }
    printf("plain xor encoding, all bytes: %.2f%% pass\n", 100.0 * (double)all / (double)all_tried);
    for (int i = 0; i < N; i += 2)
        pm_free(b[i]);
    return pm_test_finish();
}
