/* big.c -- big-block churn (mimalloc-bench's malloc-large).
 *
 * big_churn: blocks of 5..25 MiB, a few alive at once; each operation frees
 * the oldest of them, then allocates a block of a random size in that range
 * and writes one byte per page of it (the program uses what it asked for).
 * What decides the time is whether freed mappings are kept and reused
 * (glibc's adaptive mmap threshold, tcmalloc's and mimalloc 3's caches) or
 * given back and faulted in again page by page.
 */
#include "workloads.h"

#define BIG_LIVE 4
#define BIG_MIN ((size_t)5 << 20)
#define BIG_SPAN ((size_t)20 << 20)
#define BIG_PAGE 4096

void pmb_big_churn(pmb_state *st)
{
    uint64_t rng = 0x2545F4914F6CDD1DULL + (uint64_t)pmb_thread_index(st);
    char *live[BIG_LIVE] = {NULL};
    unsigned oldest = 0;
    while (pmb_keep_running_batch(st, 1)) {
        free(live[oldest]);
        size_t size = BIG_MIN + (size_t)(pmb_rand(&rng) % BIG_SPAN);
        char *p = pmb_check(malloc(size), size);
        for (size_t off = 0; off < size; off += BIG_PAGE)
            p[off] = (char)off;
        pmb_do_not_optimize(p);
        live[oldest] = p;
        oldest = (oldest + 1) % BIG_LIVE;
    }
    for (unsigned i = 0; i < BIG_LIVE; i++)
        free(live[i]);
}
